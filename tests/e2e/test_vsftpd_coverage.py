# SPDX-License-Identifier: GPL-2.0-or-later
"""Every option of vsftpd 3.0.3's man page through `moatftpd -t`: each one is
implemented, loads the first-party module that implements it, is accepted with a note
that it has no effect, or is refused as a vsftpd option not supported yet; never an
"unknown option". MIGRATING-FROM-VSFTPD.md, which the build generates from the option
table, must list exactly the refused and the accepted-with-no-effect ones."""

import os
import re
import shutil
import subprocess
import tempfile

import pytest

import harness

pytestmark = pytest.mark.moatftpd_only

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OPTIONS_FILE = os.path.join(ROOT, "tests", "data", "vsftpd-3.0.3-options.txt")



def migrating_text():
    """The note as the build generated it (Makefile.am: contrib's .in + the lists); from
    a release tarball it ships in the source tree, which make then uses (distcheck)."""
    build = os.path.dirname(harness.default_binary("moatftpd"))
    for top in (build, ROOT):
        path = os.path.join(top, "doc", "MIGRATING-FROM-VSFTPD.md")
        if os.path.exists(path):
            with open(path) as f:
                return f.read()
    raise FileNotFoundError("doc/MIGRATING-FROM-VSFTPD.md in neither the build nor the source")

REFUSED = "is a vsftpd option moatftpd does not support yet"
NO_EFFECT = "is accepted for vsftpd configs and has no effect"
# A value of each type that -t accepts on its own; the first one that is not a bad
# value for the option is used (vsftpd's own defaults for these types).
VALUES = ("", "NO", "0")
USER_OPTIONS = ("nopriv_user", "ftp_username", "guest_username")


def vsftpd_options():
    with open(OPTIONS_FILE) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def migrating_unsupported():
    """Option names in the note's "Not supported yet" bullets (after each "topic:")."""
    text = migrating_text()
    section = text.split("## Not supported yet", 1)[1].split("\n## ", 1)[0]
    names = set()
    for bullet in re.split(r"\n- ", section)[1:]:
        items = bullet.split(":", 1)[1].split(".\n")[0]
        names |= {n.strip(" .\n") for n in items.replace("\n", " ").split(",")}
    return names


def migrating_no_effect():
    """Option names of the note's "Accepted, no effect" list (- `name`: reason)."""
    section = migrating_text().split("### Accepted, no effect", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^- `(\w+)`:", section, re.M))


@pytest.fixture(scope="module")
def check(env):
    """check(name) -> (verdict, output): `moatftpd -t` on a config setting only name
    (before listen=YES, so listen=NO cannot stop the server)."""
    tmp = tempfile.mkdtemp(dir=env.workdir, prefix="coverage-")
    empty = harness.make_dir(os.path.join(tmp, "empty"), 0o755)
    modules = os.path.join(os.path.dirname(harness.default_binary("moatftpd")), "modules")
    path = os.path.join(tmp, "ftpd.conf")

    def run(name, value):
        with open(path, "w") as f:
            f.write(f"{name}={value}\nlisten=YES\nsecure_chroot_dir={empty}\n"
                    f"module_dir={modules}\n")
        r = subprocess.run([harness.default_binary("moatftpd"), "-t", path],
                           capture_output=True, text=True, timeout=30)
        return r.returncode, r.stdout + r.stderr

    def verdict(name):
        # A user name must name a user: the anonymous account exists in every env.
        for value in (env.ftp.name,) if name in USER_OPTIONS else VALUES:
            rc, out = run(name, value)
            if re.search(r":1: (bad [\w ]+ '|empty value for )", out):
                continue
            if rc == 0 and NO_EFFECT in out:
                return "accepted", out
            if rc == 0 and re.search(rf"note: {name} loads mod_\w+", out):
                return "module", out
            if rc == 0:
                return "implemented", out
            if rc == 1 and f"'{name}' {REFUSED}" in out:
                return "refused", out
            return "error", out
        return "error", out

    yield verdict
    shutil.rmtree(tmp, ignore_errors=True)


def test_options_file_matches_the_man_page_when_present():
    """The list in tests/data was extracted once; re-check it where vsftpd is unpacked."""
    usr = os.path.dirname(os.path.dirname(harness.default_binary("vsftpd")))  # usr/sbin/..
    man = os.environ.get("MOAT_VSFTPD_MAN",
                         os.path.join(usr, "share", "man", "man5", "vsftpd.conf.5.gz"))
    if not os.path.exists(man):
        pytest.skip(f"{man} not present")
    text = subprocess.run(["zcat", man], capture_output=True, text=True, check=True).stdout
    names = set(re.findall(r"^\.TP\n\.B (\S+)$", text, re.M))
    assert names == set(vsftpd_options())


def test_every_vsftpd_option_has_a_verdict(check):
    verdicts = {name: check(name) for name in vsftpd_options()}
    bad = {n: out for n, (v, out) in verdicts.items() if v == "error"}
    assert not bad, bad
    refused = {n for n, (v, _) in verdicts.items() if v == "refused"}
    assert refused == migrating_unsupported() & set(vsftpd_options())
    accepted = {n for n, (v, _) in verdicts.items() if v == "accepted"}
    assert accepted == migrating_no_effect() & set(vsftpd_options())
    # What this branch made work: never again refused.
    for name in ("cmds_allowed", "cmds_denied", "download_enable", "download_file",
                 "upload_file", "implicit_ssl", "guest_enable", "guest_username",
                 "virtual_use_local_privs", "user_sub_token", "delete_failed_uploads"):
        assert verdicts[name][0] == "implemented", name
    assert verdicts["async_abor_enable"][0] == "accepted"
    assert verdicts["max_per_ip"][0] == "module"


@pytest.mark.parametrize("name", ["isolate", "isolate_network", "async_abor_enable",
                                  "reverse_lookup_enable", "one_process_model", "check_shell",
                                  "use_sendfile", "trans_chunk_size", "no_log_lock",
                                  "run_as_launching_user", "dsa_cert_file"])
def test_accepted_options_are_noted(check, name):
    verdict, out = check(name)
    assert verdict == "accepted", out
    assert re.search(rf":1: note: {name} {NO_EFFECT}", out), out


def test_unknown_option_stays_unknown(check):
    verdict, out = check("not_a_vsftpd_option")
    assert verdict == "error" and "unknown option 'not_a_vsftpd_option'" in out
