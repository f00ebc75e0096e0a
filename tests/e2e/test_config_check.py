# SPDX-License-Identifier: GPL-2.0-or-later
"""moatftpd -t on the seed configurations, file:line errors, --version."""

import os
import re
import subprocess

import pytest

import harness

pytestmark = pytest.mark.moatftpd_only

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.normpath(os.path.join(HERE, "..", "data", "seed-configs"))


def moatftpd(*args):
    return subprocess.run([harness.default_binary("moatftpd"), *args],
                          capture_output=True, text=True, timeout=30)


@pytest.fixture
def paths_exist(env, tmpdir_e2e):
    """-o overrides that point every path a seed config names at something that exists."""
    empty = harness.make_dir(os.path.join(tmpdir_e2e, "empty"), 0o755)
    userlist = os.path.join(tmpdir_e2e, "user_list")
    open(userlist, "w").close()
    # The seeds name pam_service_name=vsftpd: give it to the private /etc/pam.d.
    env.etc.add_pam_service("vsftpd", harness.DEFAULT_PAM_TEXT)
    overrides = {
        "secure_chroot_dir": empty,
        "userlist_file": userlist,
        "xferlog_file": os.path.join(tmpdir_e2e, "xferlog"),
        "vsftpd_log_file": os.path.join(tmpdir_e2e, "vsftpd.log"),
    }
    return [a for k, v in overrides.items() for a in ("-o", f"{k}={v}")]


def seed(name):
    return os.path.join(SEEDS, name)


@pytest.mark.parametrize("name", ["rhel-default.conf", "cloud-passive.conf"])
def test_seed_config_passes(name, paths_exist):
    r = moatftpd("-t", seed(name), *paths_exist)
    assert r.returncode == 0, r.stderr


def test_tutorial_config_loads_its_modules_by_itself(paths_exist, tmpdir_e2e):
    """vsftpd options of first-party modules load them; -t notes each, then says OK."""
    path = seed("tutorial-exercises.conf")
    modules = os.path.join(os.path.dirname(harness.default_binary("moatftpd")), "modules")
    banner = os.path.join(tmpdir_e2e, "banner.txt")
    open(banner, "w").close()
    r = moatftpd("-t", path, *paths_exist, "-o", f"module_dir={modules}",
                 "-o", f"banner_file={banner}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"{path}:24: note: anon_mkdir_write_enable loads mod_anon_upload",
        f"{path}:28: note: max_clients loads mod_iplimit",
        f"{path}: configuration OK"]


def test_implied_module_missing_names_the_option(paths_exist, tmpdir_e2e):
    path = seed("tutorial-exercises.conf")
    nowhere = os.path.join(tmpdir_e2e, "no-modules")
    r = moatftpd("-t", path, *paths_exist, "-o", f"module_dir={nowhere}")
    assert r.returncode == 1
    assert r.stderr.startswith(
        f"{path}:24 (anon_mkdir_write_enable): load_module=mod_anon_upload: {nowhere}/"), r.stderr


def test_module_option_vsftpd_lacks_needs_load_module(paths_exist):
    path = seed("rhel-default.conf")
    r = moatftpd("-t", path, *paths_exist, "-o", "login_ban_time=60")
    assert r.returncode == 1
    assert r.stderr.strip() == "-o login_ban_time=60: login_ban_time requires load_module=mod_iplimit"


def _bad_config(tmpdir, body):
    path = os.path.join(tmpdir, "bad.conf")
    with open(path, "w") as f:
        f.write(body)
    return path


@pytest.mark.parametrize("body,line,word", [
    ("# comment\nlisten=YES\nlisten_port=notanumber\n", 3, "listen_port"),
    ("listen=YES\n\nanonymous_enable=MAYBE\n", 3, "anonymous_enable"),
    ("listen=YES\nno_such_option=1\n", 2, "no_such_option"),
    ("listen=YES\nthis line has no equals sign\n", 2, None),
])
def test_bad_value_gives_file_line(tmpdir_e2e, body, line, word):
    path = _bad_config(tmpdir_e2e, body)
    r = moatftpd("-t", path)
    assert r.returncode == 1
    assert re.search(rf"^{re.escape(path)}:{line}: \S", r.stderr, re.M), r.stderr
    if word:
        assert word in r.stderr


def test_bad_override_is_an_error(tmpdir_e2e, paths_exist):
    r = moatftpd("-t", seed("cloud-passive.conf"), *paths_exist, "-o", "listen_port=xyz")
    assert r.returncode == 1
    assert "listen_port" in r.stderr


def test_harness_config_passes(tmpdir_e2e, env):
    srv = harness.Server(tmpdir_e2e, {"anonymous_enable": True, "local_enable": True})
    r = moatftpd("-t", srv.write_config())
    assert r.returncode == 0, r.stderr


def _tls_server(tmpdir, **options):
    return harness.Server(tmpdir, {"ssl_enable": True, **options})


def test_tls_certificate_passes(tmpdir_e2e, env):
    cert, key = harness.self_signed_cert(os.path.join(tmpdir_e2e, "tls"))
    srv = _tls_server(tmpdir_e2e, rsa_cert_file=cert, rsa_private_key_file=key)
    r = moatftpd("-t", srv.write_config())
    assert r.returncode == 0, r.stderr


def test_missing_tls_certificate_is_named(tmpdir_e2e, env):
    missing = os.path.join(tmpdir_e2e, "no-such-cert.pem")
    srv = _tls_server(tmpdir_e2e, rsa_cert_file=missing)
    r = moatftpd("-t", srv.write_config())
    assert r.returncode == 1
    assert f"rsa_cert_file {missing}: No such file or directory" in r.stderr, r.stderr


def test_tls_key_mismatch_is_named(tmpdir_e2e, env):
    cert, _ = harness.self_signed_cert(os.path.join(tmpdir_e2e, "a"))
    _, other_key = harness.self_signed_cert(os.path.join(tmpdir_e2e, "b"))
    srv = _tls_server(tmpdir_e2e, rsa_cert_file=cert, rsa_private_key_file=other_key)
    r = moatftpd("-t", srv.write_config())
    assert r.returncode == 1
    assert f"rsa_private_key_file {other_key}: does not match the certificate" in r.stderr, \
        r.stderr


def test_version():
    r = moatftpd("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == "moatftpd 0.1.0"


def test_every_error_is_reported_with_its_line(env, tmpdir_e2e):
    """-t goes on after the first error: each of these lines is named, with its line."""
    missing = os.path.join(tmpdir_e2e, "missing")
    userconf = harness.make_dir(os.path.join(tmpdir_e2e, "users"), 0o755)
    with open(os.path.join(userconf, "fred"), "w") as f:
        f.write("write_enable=YES\nlisten_port=2121\n")
    lines = {
        "listen=YES": None,
        "listen_address=1.2.3.999": "'1.2.3.999' is not an IPv4 address",
        "listen_ipv6=YES": None,
        "listen_address6=2001:db8::7": "cannot bind 2001:db8::7",
        "listen_port=notanumber": "bad number 'notanumber' for listen_port",
        "anonymous_enable=MAYBE": "bad boolean value 'MAYBE'",
        "no_such_option=1": "unknown option 'no_such_option'",
        "xferlog_enable=YES": None,
        "xferlog_std_format=YES": None,
        f"xferlog_file={missing}/xferlog": f"xferlog_file: {missing}: No such file",
        f"json_log_file={missing}/json.log": f"json_log_file: {missing}: No such file",
        f"anon_root={missing}/anon": f"anonymous root {missing}/anon: No such file",
        "ftp_username=e2e-no-such-user": "unknown user 'e2e-no-such-user'",
        "nopriv_user=e2e-no-such-nopriv": "unknown user 'e2e-no-such-nopriv'",
        f"secure_chroot_dir={missing}/empty": f"secure_chroot_dir: {missing}/empty: No such",
        "local_enable=YES": None,
        "guest_enable=YES": None,
        "guest_username=e2e-no-such-guest": "unknown user 'e2e-no-such-guest'",
        "pam_service_name=e2e-no-such-service": "/etc/pam.d/e2e-no-such-service: No such",
        f"local_root={missing}/$USER": f"local_root: {missing}: No such file",
        "user_sub_token=$USER": None,
        f"pid_file={missing}/run/moatftpd.pid": f"pid_file: {missing}/run: No such file",
        "ssl_enable=YES": None,
        f"rsa_cert_file={missing}/cert.pem": f"rsa_cert_file {missing}/cert.pem: No such file",
        f"user_config_dir={userconf}": None,
    }
    path = _bad_config(tmpdir_e2e, "".join(f"{line}\n" for line in lines))
    r = moatftpd("-t", path)
    assert r.returncode == 1
    assert "configuration OK" not in r.stdout
    errors = r.stderr.splitlines()
    for number, (line, message) in enumerate(lines.items(), start=1):
        if message is None:
            continue
        want = f"{path}:{number}: "
        assert any(e.startswith(want) and message in e for e in errors), (line, r.stderr)
    # A user's file is checked too, with its own file:line.
    assert f"{userconf}/fred:2: listen_port cannot be set per user" in errors, r.stderr
    expected = sum(m is not None for m in lines.values()) + 1
    assert len(errors) == expected, r.stderr


def test_every_seed_config_is_checked():
    """Each file in tests/data/seed-configs is run through -t by a test above."""
    tested = {"rhel-default.conf", "cloud-passive.conf", "tutorial-exercises.conf"}
    assert {n for n in os.listdir(SEEDS) if n.endswith(".conf")} == tested
