"""Modules: mod_iplimit's limits and bans (tutorial EX7, EX8), the master hooks, -t.

The EX7/EX8 replies are vsftpd's own, so those tests also run against vsftpd
(MOAT_E2E_SERVER=vsftpd); what is moatftpd's (no fork for a refused client, counts
after SIGKILL, bans, hooks, module loading) is marked moatftpd_only.
"""

import os
import re
import signal
import socket
import subprocess

import pytest

import harness
from harness import proc_comm, proc_uids, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.normpath(os.path.join(HERE, "..", "data", "seed-configs"))
TOO_MANY = "421 There are too many connected users, please try later."
TOO_MANY_FROM_IP = "421 There are too many connections from your internet address."
BANNED = "421 Too many failed logins from your internet address, please try later."

moatftpd_only = pytest.mark.moatftpd_only


def module_dir():
    return os.path.join(os.path.dirname(harness.default_binary("moatftpd")), "modules")


def iplimit(**options):
    return dict(options, load_module="mod_iplimit", module_dir=module_dir())


class Client:
    """A raw control connection, optionally from another loopback address."""

    def __init__(self, srv, source=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        if source:
            self.sock.bind((source, 0))
        self.sock.connect(srv.address())
        self.file = self.sock.makefile("rb")
        self.greeting = self.line()

    def line(self):
        return self.file.readline().decode(errors="replace").rstrip("\r\n")

    def cmd(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.line()

    def closed(self):
        return self.file.readline() == b""

    def close(self):
        self.file.close()
        self.sock.close()


def greeting(srv, source=None):
    """The first line a new connection gets; the connection is then closed."""
    c = Client(srv, source)
    c.close()
    return c.greeting


def admitted_again(srv, source=None):
    """Connects until one is greeted with 220 (the master reaps asynchronously)."""
    return wait_for(lambda: greeting(srv, source).startswith("220"))


def spawn_pid():
    """The pid the next process in this pid namespace gets (nsrun: one namespace)."""
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


# ---- EX7, EX8: the tutorial's limits, as vsftpd answers them ------------------------

def test_ex7_max_clients(server):
    srv = server(iplimit(max_clients=2))
    held = [Client(srv), Client(srv)]
    assert all(c.greeting.startswith("220") for c in held)
    third = Client(srv)
    assert third.greeting == TOO_MANY
    assert third.closed()
    held[0].cmd("QUIT")
    held[0].close()
    assert admitted_again(srv)
    held[1].close()


def test_ex8_max_per_ip(server):
    srv = server(iplimit(max_per_ip=3))
    held = [Client(srv) for _ in range(3)]
    assert all(c.greeting.startswith("220") for c in held)
    fourth = Client(srv)
    assert fourth.greeting == TOO_MANY_FROM_IP
    assert fourth.closed()
    other = Client(srv, source="127.0.0.2")  # another address has its own count
    assert other.greeting.startswith("220")
    held.pop().close()
    assert admitted_again(srv)
    for c in held + [other]:
        c.close()


# ---- what moatftpd does beyond vsftpd -----------------------------------------------

@moatftpd_only
def test_refused_client_costs_no_fork(server):
    srv = server(iplimit(max_clients=1))
    held = Client(srv)
    assert held.greeting.startswith("220")
    assert wait_for(lambda: len(srv.pids("moat-helper")) == 1)
    before = spawn_pid()
    for _ in range(5):
        assert greeting(srv) == TOO_MANY
    # pids are handed out in order in this namespace: no process was made in between.
    assert spawn_pid() == before + 1
    assert len(srv.pids("moat-helper")) == 1
    held.close()


@moatftpd_only
@pytest.mark.parametrize("victims", [("moat-preauth",), ("moat-helper", "moat-preauth")])
def test_counts_drop_when_a_session_is_killed(server, victims):
    srv = server(iplimit(max_per_ip=1, max_clients=1))
    held = Client(srv)
    assert held.greeting.startswith("220")
    assert greeting(srv) == TOO_MANY
    pids = {name: wait_for(lambda n=name: srv.pids(n)) for name in victims}
    for name in victims:
        for pid in pids[name]:
            os.kill(pid, signal.SIGKILL)
    assert held.closed()
    assert wait_for(lambda: not srv.pids("moat-helper"))
    assert admitted_again(srv)


@moatftpd_only
def test_counts_follow_logged_in_sessions(server, env):
    srv = server(iplimit(max_per_ip=2))
    a = harness.Control(*srv.address())
    assert a.reply()[0] == 220 and a.login(env.alice.name, env.alice.password) == 230
    b = harness.Control(*srv.address())
    assert b.reply()[0] == 220 and b.login(env.bob.name, env.bob.password) == 230
    assert greeting(srv) == TOO_MANY_FROM_IP
    assert a.cmd("QUIT")[0] == 221
    a.close()
    assert admitted_again(srv)
    b.close()


@moatftpd_only
def test_login_failures_ban_an_address(server, env):
    srv = server(iplimit(max_login_failures_per_ip=2, login_failure_window=60,
                         login_ban_time=2, delay_failed_login=0))
    c = harness.Control(*srv.address())
    assert c.reply()[0] == 220
    assert c.login(env.alice.name, "wrong") == 530
    assert greeting(srv).startswith("220")  # one failure: no ban yet
    assert c.login(env.alice.name, "wrong again") == 530
    m = srv.wait_stderr(r"moatftpd: mod_iplimit: banned 127\.0\.0\.1 for 2 s after 2 failed "
                        r"logins within 60 s \(last user 'alice'\)$")
    assert m, srv.stderr_text()
    assert greeting(srv) == BANNED
    assert greeting(srv, source="127.0.0.2").startswith("220")
    assert c.cmd("NOOP")[0] == 200  # a ban refuses new connections, not this one
    c.close()
    assert wait_for(lambda: greeting(srv).startswith("220"), timeout=5)
    assert len(re.findall("mod_iplimit: banned", srv.stderr_text())) == 1


@moatftpd_only
def test_bans_are_off_by_default(server, env):
    srv = server(iplimit(delay_failed_login=0))
    c = harness.Control(*srv.address())
    assert c.reply()[0] == 220
    for _ in range(3):
        c.login(env.alice.name, "wrong")
    c.close()
    assert greeting(srv).startswith("220")
    assert "banned" not in srv.stderr_text()


@moatftpd_only
def test_reload_keeps_counts_and_modules(server):
    srv = server(iplimit(max_per_ip=1))
    held = Client(srv)
    assert held.greeting.startswith("220")
    assert greeting(srv) == TOO_MANY_FROM_IP
    srv.options["max_per_ip"] = 2
    srv.write_config()
    srv.reload()
    assert srv.wait_stderr(r"moatftpd: configuration reloaded$")
    second = Client(srv)  # the count of 1 survived the reload; the limit is now 2
    assert second.greeting.startswith("220")
    assert greeting(srv) == TOO_MANY_FROM_IP
    srv.options["load_module"] = "mod_hooktest"
    srv.options.pop("max_per_ip")
    srv.write_config()
    srv.reload()
    assert srv.wait_stderr(r"SIGHUP: configuration not reloaded: load_module lines changed")
    assert greeting(srv) == TOO_MANY_FROM_IP  # still mod_iplimit, still 2
    held.close()
    second.close()


# ---- hooks run where moat_module.h says -----------------------------------------------

def hook_lines(path):
    if not os.path.exists(path):
        return []
    out = []
    with open(path) as f:
        for line in f:
            hook, *fields = line.split()
            out.append((hook, dict(x.split("=", 1) for x in fields)))
    return out


def wait_hook(path, hook):
    return wait_for(lambda: [f for h, f in hook_lines(path) if h == hook])


@moatftpd_only
def test_master_hooks_run_in_the_master(server, env, tmpdir_e2e):
    log = os.path.join(tmpdir_e2e, "hooks.log")
    srv = server({"load_module": "mod_hooktest", "module_dir": module_dir(),
                  "hooktest_log": log, "hooktest_number": "0100", "delay_failed_login": 0})
    c = harness.Control(*srv.address())
    assert c.reply()[0] == 220
    assert c.login(env.alice.name, "wrong") == 530
    assert c.cmd("QUIT")[0] == 221
    c.close()
    closed = wait_hook(log, "session_closed")
    assert closed, hook_lines(log)
    lines = hook_lines(log)
    assert [h for h, _ in lines] == ["init", "admit", "login_failed", "session_closed"]
    for hook, f in lines:
        assert f["pid"] == str(srv.proc.pid), (hook, f)
        assert f["comm"] == "moatftpd" and f["uid"] == "0", (hook, f)
    init = lines[0][1]
    assert init["listen_port"] == "0" and init["listen"] == "1"
    assert init["ftp_username"] == env.ftp.name
    assert init["hooktest_number"] == "64"  # 0100 is octal, as every ftpd.conf number
    assert init["hooktest_flag"] == "0" and init["unknown"] == "0[]"
    assert init["wrong_type"] == "0" and init["shared"] == "ok"
    assert init["privileged"] == "-1"
    assert "module host: privileged is not available in this process" in srv.stderr_text()
    admit = lines[1][1]
    assert admit["peer"] == "127.0.0.1" and admit["shared_after_init"] == "null"
    assert lines[2][1]["user"] == env.alice.name and lines[2][1]["peer"] == "127.0.0.1"
    assert lines[3][1]["peer"] == "127.0.0.1"


@moatftpd_only
def test_a_module_refusal_is_one_line_and_no_fork(server, tmpdir_e2e):
    log = os.path.join(tmpdir_e2e, "hooks.log")
    srv = server({"load_module": "mod_hooktest", "module_dir": module_dir(),
                  "hooktest_log": log, "hooktest_admit_reply": "550 Not\ttoday."})
    before = spawn_pid()
    c = Client(srv)
    assert c.greeting == "550 Not?today."
    assert c.closed()
    assert spawn_pid() == before + 1
    assert [h for h, _ in hook_lines(log)] == ["init", "admit"]  # no session_closed


@moatftpd_only
def test_init_runs_once_in_the_master(server, tmpdir_e2e):
    log = os.path.join(tmpdir_e2e, "hooks.log")
    srv = server({"load_module": "mod_hooktest", "module_dir": module_dir(),
                  "hooktest_log": log})
    assert [h for h, _ in hook_lines(log)] == ["init"]
    assert harness.proc_comm(srv.proc.pid) == "moatftpd"
    assert proc_uids(srv.proc.pid)[0] == 0


# ---- loading, and -t ----------------------------------------------------------------

def moatftpd(*args):
    return subprocess.run([harness.default_binary("moatftpd"), *args],
                          capture_output=True, text=True, timeout=30)


@pytest.fixture
def seed_paths(env, tmpdir_e2e):
    """-o overrides pointing the paths the tutorial config names at things that exist."""
    empty = harness.make_dir(os.path.join(tmpdir_e2e, "empty"), 0o755)
    userlist = os.path.join(tmpdir_e2e, "user_list")
    banner = os.path.join(tmpdir_e2e, "banner.txt")
    for path in (userlist, banner):
        open(path, "w").close()
    env.etc.add_pam_service("vsftpd", harness.DEFAULT_PAM_TEXT)
    overrides = {"secure_chroot_dir": empty, "userlist_file": userlist, "banner_file": banner,
                 "xferlog_file": os.path.join(tmpdir_e2e, "xferlog"),
                 "vsftpd_log_file": os.path.join(tmpdir_e2e, "vsftpd.log"),
                 "module_dir": module_dir(), "load_module": "mod_iplimit"}
    return [a for k, v in overrides.items() for a in ("-o", f"{k}={v}")]


@moatftpd_only
def test_tutorial_config_with_its_modules(seed_paths):
    path = os.path.join(SEEDS, "tutorial-exercises.conf")
    with_upload = seed_paths + ["-o", "load_module=mod_anon_upload"]
    r = moatftpd("-t", path, *with_upload)
    assert r.returncode == 0, r.stderr
    # Without mod_anon_upload, mod_iplimit's options pass and the first line that needs
    # mod_anon_upload is named.
    r = moatftpd("-t", path, *seed_paths)
    assert r.returncode == 1
    assert r.stderr.strip() == (
        f"{path}:24: anon_mkdir_write_enable requires load_module=mod_anon_upload")


@moatftpd_only
def test_broken_module_stops_check_and_start(tmpdir_e2e, env):
    bad_dir = harness.make_dir(os.path.join(tmpdir_e2e, "mods"), 0o755)
    with open(os.path.join(bad_dir, "mod_iplimit.so"), "wb") as f:
        f.write(b"not an ELF file, long enough to be read as a header.....................")
    srv = harness.Server(tmpdir_e2e, {"load_module": "mod_iplimit", "module_dir": bad_dir,
                                      "max_clients": 3})
    conf = srv.write_config()
    lineno = open(conf).read().splitlines().index("load_module=mod_iplimit") + 1
    r = moatftpd("-t", conf)
    assert r.returncode == 1
    assert re.fullmatch(rf"{re.escape(conf)}:{lineno}: load_module=mod_iplimit: "
                        rf"{re.escape(bad_dir)}/mod_iplimit\.so: .*\S", r.stderr.strip()), r.stderr
    with pytest.raises(harness.HarnessError):
        srv.start(timeout=5)
    assert "load_module=mod_iplimit" in srv.stderr_text()


@moatftpd_only
def test_module_options_need_their_module(tmpdir_e2e, env):
    srv = harness.Server(tmpdir_e2e, {"max_per_ip": 3, "hooktest_log": "/x"})
    conf = srv.write_config()
    r = moatftpd("-t", conf)
    assert r.returncode == 1
    assert re.fullmatch(rf"{re.escape(conf)}:\d+: max_per_ip requires load_module=mod_iplimit",
                        r.stderr.strip()), r.stderr
    r = moatftpd("-t", conf, "-o", "load_module=mod_iplimit", "-o", f"module_dir={module_dir()}")
    assert re.fullmatch(rf"{re.escape(conf)}:\d+: unknown option 'hooktest_log'",
                        r.stderr.strip()), r.stderr


@moatftpd_only
def test_man_page_documents_module_options():
    r = moatftpd("--man")
    assert r.returncode == 0
    section = r.stdout.split("\n.SH MODULE OPTIONS\n", 1)[1]
    for name in ("max_clients", "max_per_ip", "max_login_failures_per_ip",
                 "login_failure_window", "login_ban_time"):
        assert f"\\fB{name}\\fR (number, default" in section, name
    assert "hooktest" not in r.stdout  # test modules are not documented
