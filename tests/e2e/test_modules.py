# SPDX-License-Identifier: GPL-2.0-or-later
"""Modules: mod_iplimit's limits and bans (tutorial EX7, EX8), the master hooks, -t.

The EX7/EX8 replies are vsftpd's own, so those tests also run against vsftpd
(MOAT_E2E_SERVER=vsftpd); what is moatftpd's (no fork for a refused client, counts
after SIGKILL, bans, hooks, module loading) is marked moatftpd_only.
"""

import io
import os
import pwd
import re
import shutil
import signal
import socket
import struct
import subprocess
import time

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
        """True when the server ends the connection. A dying session may say why first
        (a helper killed before its worker: the worker's 421 can get out before its
        own SIGKILL lands), so lines before the end are read and ignored."""
        try:
            for _ in range(5):
                if self.file.readline() == b"":
                    return True
        except ConnectionResetError:
            return True
        return False

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


# ---- worker and helper hooks ------------------------------------------------------------
#
# The session processes' hooks write "moatftpd: mod_hooktest: HOOK pid=N [comm=C] uid=N
# key=value..." through host->log. A worker cannot name its own comm (its seccomp filter
# has no prctl, its chroot no /proc), so for worker lines the comm is read from
# /proc/PID/comm while that process is still alive; the uid comes from the line and
# is checked against /proc too.

# A worker's stderr reaches the server's stderr through its helper, behind the prefix
# the helper writes ("moatftpd: session ADDR: worker PID: "); the helper's own lines
# and the master's have none. A prefixed line must name the pid the line reports.
SESSION_LINE = re.compile(r"^(?:moatftpd: session \S+: worker (\d+): )?"
                          r"moatftpd: (mod_hooktest|mod_t_privother): (\w+) ?(.*)$")
MIB = 1024 * 1024


def session_lines(srv, hook, module="mod_hooktest"):
    out = []
    for line in srv.stderr_text().splitlines():
        m = SESSION_LINE.match(line)
        if m and m[2] == module and m[3] == hook:
            fields = dict(x.split("=", 1) for x in m[4].split())
            assert m[1] is None or m[1] == fields.get("pid"), line
            out.append(fields)
    return out


def wait_lines(srv, hook, count=1, module="mod_hooktest"):
    """The hook's lines once there are at least `count` of them (stderr is read async)."""
    lines = wait_for(lambda: len(session_lines(srv, hook, module)) >= count)
    assert lines, (hook, srv.stderr_text())
    return session_lines(srv, hook, module)


def assert_process(fields, comm, uid):
    """The line came from a live process with this comm and uid."""
    pid = int(fields["pid"])
    assert fields.get("comm", comm) == comm, fields
    assert proc_comm(pid) == comm, (fields, proc_comm(pid))
    assert int(fields["uid"]) == uid and proc_uids(pid)[0] == uid, fields
    return pid


def parent(pid):
    return int(harness.proc_status(pid)["PPid"])


def hooktest(server, **options):
    return server(dict({"load_module": "mod_hooktest", "module_dir": module_dir()}, **options))


def logged_in(srv, user):
    c = harness.Control(*srv.address())
    assert c.reply()[0] == 220
    assert c.login(user.name, user.password) == 230
    return c


def nobody_uid():
    return pwd.getpwnam("nobody").pw_uid


put_file = harness.put_file


@moatftpd_only
def test_session_and_command_hooks_run_in_the_logged_in_worker(server, env):
    srv = hooktest(server)
    c = logged_in(srv, env.alice)
    assert c.cmd("NOOP") == (200, ["200 NOOP ok."])
    assert c.cmd("XHOOK") == (200, ["200 XHOOK handled by mod_hooktest."])
    assert c.cmd("CWD /nonexistent")[0] == 550
    start = wait_lines(srv, "session_start")
    assert len(start) == 1  # not in the pre-login worker
    worker = assert_process(start[0], "moat-session", env.alice.uid)
    assert start[0]["user"] == env.alice.name and start[0]["anonymous"] == "0"
    assert start[0]["peer"] == "127.0.0.1"
    helper = parent(worker)
    assert proc_comm(helper) == "moat-helper" and parent(helper) == srv.proc.pid
    pre = wait_lines(srv, "command_pre", 3)
    post = wait_lines(srv, "command_post", 2)
    for f in pre + post:
        assert f["pid"] == str(worker) and f["uid"] == str(env.alice.uid), f
        assert f["user"] == env.alice.name, f
    assert [f["verb"] for f in pre] == ["NOOP", "XHOOK", "CWD"]
    # MOAT_HANDLED: the core neither ran XHOOK nor reports it to command_post.
    assert [(f["verb"], f["reply_code"]) for f in post] == [("NOOP", "200"), ("CWD", "550")]
    assert post[1]["arg"] == "/nonexistent"
    assert c.cmd("QUIT")[0] == 221
    c.close()
    anon = harness.Control(*srv.address())
    assert anon.reply()[0] == 220 and anon.login("anonymous", "e@x") == 230
    start = wait_lines(srv, "session_start", 2)[1]
    assert_process(start, "moat-session", env.ftp.uid)
    assert start["anonymous"] == "1" and start["user"] == env.ftp.name
    anon.close()


@moatftpd_only
def test_login_rights_run_in_the_helper_and_file_created_in_the_worker(server, env):
    """ABI v2's hooks for anonymous writing: rights are decided as root in the helper at
    an anonymous login (mod_hooktest grants none), and an upload's new file is shown
    to the worker's modules with its descriptor."""
    srv = hooktest(server, write_enable=True)
    anon = harness.Control(*srv.address())
    assert anon.reply()[0] == 220 and anon.login("anonymous", "e@x") == 230
    rights = wait_lines(srv, "login_rights")
    assert len(rights) == 1 and rights[0]["anonymous"] == "1"
    assert rights[0]["user"] == env.ftp.name
    helper = assert_process(rights[0], "moat-helper", 0)
    worker = int(wait_lines(srv, "session_start")[0]["pid"])
    assert parent(worker) == helper
    assert anon.cmd("MKD x")[0] == 550  # no module granted a write
    anon.close()
    ftp = srv.connect()
    ftp.login(env.alice.name, env.alice.password)  # a local login is not asked
    assert len(session_lines(srv, "login_rights")) == 1
    assert ftp.storbinary("STOR made.txt", io.BytesIO(b"new\n")).startswith("226")
    created = wait_lines(srv, "file_created")
    assert len(created) == 1 and created[0]["fd"] == "file"
    assert created[0]["path"].endswith("/made.txt") and created[0]["user"] == env.alice.name
    assert_process(created[0], "moat-session", env.alice.uid)
    ftp.close()
    os.unlink(os.path.join(env.alice.home, "made.txt"))


@moatftpd_only
def test_only_declared_module_verbs_work_before_login(server, env):
    srv = hooktest(server)
    c = harness.Control(*srv.address())
    assert c.reply()[0] == 220
    # XHOOK is the module's, but not declared pre-auth: the core answers, the module
    # is not even asked.
    assert c.cmd("XHOOK") == (530, ["530 Please login with USER and PASS."])
    # XPRE is declared: the module handles it in the pre-login worker, where
    # host->privileged fails without a word to the helper and without ending anything.
    assert c.cmd("XPRE") == (200, ["200 XPRE privileged=-1"])
    pre = wait_lines(srv, "command_pre")
    assert [f["verb"] for f in pre] == ["XPRE"] and pre[0]["user"] == ""
    preauth = assert_process(pre[0], "moat-preauth", nobody_uid())
    assert proc_comm(parent(preauth)) == "moat-helper"
    assert c.login(env.alice.name, env.alice.password) == 230
    # USER and PASS went by without the module: before login it sees only XPRE.
    assert [f["verb"] for f in session_lines(srv, "command_pre")] == ["XPRE"]
    assert session_lines(srv, "priv") == [] and session_lines(srv, "command_post") == []
    assert c.cmd("XPRE") == (200, ["200 XPRE privileged=0"])  # after login: granted
    after = wait_lines(srv, "command_pre", 2)[1]
    assert_process(after, "moat-session", env.alice.uid)
    assert after["pid"] != pre[0]["pid"]
    assert len(wait_lines(srv, "priv")) == 1
    c.close()


@moatftpd_only
def test_command_pre_refuses_a_core_command(server, env):
    srv = hooktest(server, hooktest_refuse_verb="DELE")
    victim = os.path.join(env.alice.home, "victim.txt")
    put_file(victim, b"keep me\n", env.alice)
    c = logged_in(srv, env.alice)
    assert c.cmd("DELE victim.txt") == (550, ["550 Refused by mod_hooktest."])
    assert os.path.exists(victim)
    assert c.cmd("NOOP")[0] == 200  # the session goes on; other commands are untouched
    pre = wait_lines(srv, "command_pre", 2)
    assert pre[0]["verb"] == "DELE" and pre[0]["arg"] == "victim.txt"
    assert_process(pre[0], "moat-session", env.alice.uid)
    assert [f["verb"] for f in wait_lines(srv, "command_post")] == ["NOOP"]  # not DELE
    c.close()
    os.unlink(victim)


@moatftpd_only
def test_privileged_requests_are_judged_by_the_module_in_the_helper(server, env):
    srv = hooktest(server)
    c = logged_in(srv, env.alice)
    assert c.cmd("XPRIV ok") == (200, ["200 XPRIV result=0"])
    assert c.cmd("XPRIV bad") == (200, ["200 XPRIV result=-1"])
    assert c.cmd("XPRIV") == (200, ["200 XPRIV result=-1"])
    # 4096 bytes reach the handler (which refuses them); 4097 never leave the worker,
    # nor does a descriptor that is not open.
    assert c.cmd("XPRIVBIG") == (200, ["200 XPRIVBIG at_limit=-1 over=-1 bad_fd=-1"])
    assert c.cmd("NOOP")[0] == 200  # a refusal is an answer: the session goes on
    priv = wait_lines(srv, "priv", 4)
    assert len(priv) == 4, priv
    assert [(f["payload"][:4], f["len"], f["grant"]) for f in priv] == [
        ("ok", "2", "1"), ("bad", "3", "0"), ("", "0", "0"), ("oooo", "4096", "0")]
    worker = int(wait_lines(srv, "session_start")[0]["pid"])
    for f in priv:
        helper = assert_process(f, "moat-helper", 0)
        assert helper == parent(worker)
        assert f["type"] == "1" and f["fd"] == "none"
        assert f["user"] == env.alice.name and f["peer"] == "127.0.0.1"
        assert f["nested"] == "-1"  # the helper offers no worker services to modules
    assert "module host: privileged is not available in this process" in srv.stderr_text()
    c.close()


@moatftpd_only
def test_a_passed_descriptor_reaches_the_handler_and_the_helper_closes_it(server, env):
    srv = hooktest(server)
    c = logged_in(srv, env.alice)
    # The module passes the read end of a pipe and keeps the write end: once the
    # answer is back, no process may still hold a reader.
    assert c.cmd("XPRIVFD") == (200, ["200 XPRIVFD result=0 reader_closed=yes"])
    priv = wait_lines(srv, "priv")
    assert priv[0]["fd"] == "fifo" and priv[0]["grant"] == "1"
    assert_process(priv[0], "moat-helper", 0)
    assert c.cmd("NOOP")[0] == 200
    c.close()


@pytest.fixture
def two_priv_modules(tmpdir_e2e):
    """A module_dir with mod_hooktest and mod_t_privother (from the test variants)."""
    d = harness.make_dir(os.path.join(tmpdir_e2e, "mods"), 0o755)
    build = os.path.dirname(harness.default_binary("moatftpd"))
    shutil.copy(os.path.join(module_dir(), "mod_hooktest.so"), d)
    shutil.copy(os.path.join(build, "tests", "modules", "mod_t_variants.so"),
                os.path.join(d, "mod_t_privother.so"))
    for name in os.listdir(d):
        os.chmod(os.path.join(d, name), 0o755)
    return d


@moatftpd_only
def test_a_privileged_request_reaches_only_its_own_module(server, env, two_priv_modules):
    # mod_t_privother is loaded first and grants "other"; mod_hooktest grants "ok".
    srv = server({"load_module": "mod_t_privother", "module_dir": two_priv_modules},
                 args=["-o", "load_module=mod_hooktest"])
    c = logged_in(srv, env.alice)
    assert c.cmd("XPRIV other") == (200, ["200 XPRIV result=-1"])
    assert c.cmd("XPRIV ok") == (200, ["200 XPRIV result=0"])
    assert c.cmd("XOTHER ok") == (200, ["200 XOTHER result=-1"])
    assert c.cmd("XOTHER other") == (200, ["200 XOTHER result=0"])
    mine = wait_lines(srv, "priv", 2)
    theirs = wait_lines(srv, "priv_other", 2, module="mod_t_privother")
    assert [(f["payload"], f["grant"]) for f in mine] == [("other", "0"), ("ok", "1")]
    assert [(f["len"], f["grant"]) for f in theirs] == [("2", "0"), ("5", "1")]
    c.close()


# ---- transfer hooks and host->rate_limit --------------------------------------------------

def data_connection(c):
    """PASV on a raw control connection; returns the connected data socket."""
    code, lines = c.cmd("PASV")
    assert code == 227, lines
    nums = re.search(r"\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)", lines[0]).groups()
    s = socket.create_connection((".".join(nums[:4]), int(nums[4]) * 256 + int(nums[5])), 10)
    return s


@moatftpd_only
def test_transfer_hooks_describe_each_transfer(server, env):
    srv = hooktest(server)
    put_file(os.path.join(env.alice.home, "down.bin"), b"d" * 1000, env.alice)
    ftp = srv.connect()
    ftp.login(env.alice.name, env.alice.password)
    assert ftp.retrbinary("RETR down.bin", lambda b: None).startswith("226")
    ftp.storbinary("STOR up.bin", io.BytesIO(b"u" * 3000))
    ftp.retrlines("LIST", lambda line: None)
    begin = wait_lines(srv, "transfer_begin", 3)
    end = wait_lines(srv, "transfer_end", 3)
    down, up = (os.path.join(env.alice.home, n) for n in ("down.bin", "up.bin"))
    assert [(f["upload"], f["listing"], f["path"], f["bytes"], f["complete"]) for f in begin] == [
        ("0", "0", down, "0", "0"), ("1", "0", up, "0", "0"), ("0", "1", "", "0", "0")]
    assert [(f["upload"], f["listing"], f["path"], f["complete"]) for f in end] == [
        ("0", "0", down, "1"), ("1", "0", up, "1"), ("0", "1", "", "1")]
    assert [int(f["bytes"]) for f in end[:2]] == [1000, 3000] and int(end[2]["bytes"]) > 0
    for f in begin + end:
        assert_process(f, "moat-session", env.alice.uid)
        assert f["pid"] == begin[0]["pid"]
    ftp.quit()


@moatftpd_only
def test_command_post_of_a_transfer_sees_its_reply(server, env):
    srv = hooktest(server)
    put_file(os.path.join(env.alice.home, "down.bin"), b"d" * 1000, env.alice)
    ftp = srv.connect()
    ftp.login(env.alice.name, env.alice.password)
    ftp.retrbinary("RETR down.bin", lambda b: None)
    ftp.quit()
    retr_posts = lambda: [f for f in session_lines(srv, "command_post", "mod_hooktest")
                          if f["verb"] == "RETR"]
    wait_for(retr_posts)  # USER's and PASS's lines come first; stderr is read async
    post = retr_posts()
    assert post and post[0]["reply_code"] in ("150", "226"), (post, srv.stderr_text())


def assert_rate_limited(srv, uid, seconds, total, upload):
    """One transfer of `total` bytes at 1 MB/s set by transfer_begin: slow, with progress."""
    assert seconds >= 1.5, seconds  # 2 MiB at 1 MB/s: about 2 s (one 100 ms burst)
    begin = wait_lines(srv, "transfer_begin")[0]
    assert begin["rate"] == "1000000" and begin["upload"] == str(upload)
    worker = assert_process(begin, "moat-session", uid)
    end = wait_lines(srv, "transfer_end")[0]
    assert end["complete"] == "1" and int(end["bytes"]) >= total
    progress = session_lines(srv, "transfer_progress")
    assert len(progress) >= 2, progress  # about every 500 ms
    moved = [int(f["bytes"]) for f in progress]
    assert moved == sorted(moved) and moved[0] < total, moved
    for f in progress:
        assert f["pid"] == str(worker) and f["uid"] == str(uid), f


@moatftpd_only
def test_rate_limit_from_transfer_begin_slows_an_upload(server, env):
    srv = hooktest(server, hooktest_rate=1000000)
    ftp = srv.connect()
    ftp.login(env.alice.name, env.alice.password)
    t0 = time.monotonic()
    ftp.storbinary("STOR up.bin", io.BytesIO(b"r" * (2 * MIB)))
    seconds = time.monotonic() - t0
    assert os.path.getsize(os.path.join(env.alice.home, "up.bin")) == 2 * MIB
    assert_rate_limited(srv, env.alice.uid, seconds, 2 * MIB, upload=1)
    ftp.quit()


@moatftpd_only
def test_rate_limit_from_transfer_begin_slows_an_ascii_download(server, env):
    srv = hooktest(server, hooktest_rate=1000000, ascii_download_enable=True)
    put_file(os.path.join(env.alice.home, "big.txt"), (b"a" * 1023 + b"\n") * 2048, env.alice)
    ftp = srv.connect()
    ftp.login(env.alice.name, env.alice.password)
    t0 = time.monotonic()
    ftp.retrlines("RETR big.txt", lambda line: None)
    seconds = time.monotonic() - t0
    assert_rate_limited(srv, env.alice.uid, seconds, 2 * MIB, upload=0)
    ftp.quit()


@moatftpd_only
def test_rate_limit_from_transfer_begin_slows_a_binary_download(server, env):
    srv = hooktest(server, hooktest_rate=1000000)
    put_file(os.path.join(env.alice.home, "big.bin"), b"b" * (2 * MIB), env.alice)
    ftp = srv.connect()
    ftp.login(env.alice.name, env.alice.password)
    t0 = time.monotonic()
    ftp.retrbinary("RETR big.bin", lambda b: None)
    seconds = time.monotonic() - t0
    assert_rate_limited(srv, env.alice.uid, seconds, 2 * MIB, upload=0)  # worker still alive
    ftp.quit()


@moatftpd_only
def test_a_broken_download_ends_incomplete(server, env):
    srv = hooktest(server, hooktest_rate=1000000, ascii_download_enable=True)
    put_file(os.path.join(env.alice.home, "big.txt"), (b"a" * 1023 + b"\n") * 2048, env.alice)
    c = logged_in(srv, env.alice)
    assert c.cmd("TYPE A")[0] == 200
    data = data_connection(c)
    assert c.cmd("RETR big.txt")[0] == 150
    assert data.recv(65536)
    data.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    data.close()  # a reset, mid-transfer
    assert c.reply()[0] == 426
    end = wait_lines(srv, "transfer_end")[0]
    assert end["complete"] == "0" and int(end["bytes"]) < 2 * MIB + 2048, end
    assert_process(end, "moat-session", env.alice.uid)
    c.close()


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
    # Without its load_module line, anon_mkdir_write_enable (vsftpd's) loads mod_anon_upload.
    r = moatftpd("-t", path, *seed_paths)
    assert r.returncode == 0, r.stderr
    assert f"{path}:24: note: anon_mkdir_write_enable loads mod_anon_upload" in r.stdout


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
    srv = harness.Server(tmpdir_e2e, {"login_ban_time": 3, "hooktest_log": "/x"})
    conf = srv.write_config()
    r = moatftpd("-t", conf)
    assert r.returncode == 1
    # -t reports every error: both options, each with its line.
    assert re.fullmatch(rf"{re.escape(conf)}:\d+: login_ban_time requires load_module=mod_iplimit\n"
                        rf"{re.escape(conf)}:\d+: unknown option 'hooktest_log'",
                        r.stderr.strip()), r.stderr
    r = moatftpd("-t", conf, "-o", "load_module=mod_iplimit", "-o", f"module_dir={module_dir()}")
    assert re.fullmatch(rf"{re.escape(conf)}:\d+: unknown option 'hooktest_log'",
                        r.stderr.strip()), r.stderr


@moatftpd_only
def test_man_page_documents_module_options():
    """The server carries no module's options; the build adds them to ftpd.conf(5) from
    the modules' .def files (tools/moat-module-man)."""
    r = moatftpd("--man")
    assert r.returncode == 0
    assert "\n.SH MODULE OPTIONS\n" not in r.stdout
    build = os.path.dirname(harness.default_binary("moatftpd"))
    with open(os.path.join(build, "doc", "ftpd.conf.5")) as f:
        page = f.read()
    section = page.split("\n.SH MODULE OPTIONS\n", 1)[1]
    for name in ("max_clients", "max_per_ip", "max_login_failures_per_ip",
                 "login_failure_window", "login_ban_time"):
        assert f"\\fB{name}\\fR (number, default" in section, name
    for name in ("chown_uploads", "anon_max_rate", "iplimit_redis_address"):
        assert f"\\fB{name}\\fR (" in section, name
    assert "\n.SH SEE ALSO\n" in section
    assert "hooktest" not in page  # test modules are not documented


# ---- -t runs the modules' check hooks ----------------------------------------------------

def config_with(tmpdir_e2e, options):
    srv = harness.Server(tmpdir_e2e, options)
    conf = srv.write_config()
    lines = open(conf).read().splitlines()
    return conf, lambda name: next(i for i, l in enumerate(lines, 1) if l.startswith(name + "="))


@moatftpd_only
@pytest.mark.parametrize("address", ["127.0.0.1", "localhost:6379", "[::1]:99999", "1.2.3.4:x"])
def test_check_refuses_a_bad_redis_address_with_its_line(tmpdir_e2e, env, address):
    conf, line_of = config_with(tmpdir_e2e, iplimit(iplimit_backend="redis",
                                                    iplimit_redis_address=address,
                                                    iplimit_redis_count_ttl=1))
    r = moatftpd("-t", conf)
    assert r.returncode == 1
    # Every error, each with the line of its option (mod_iplimit's check hook).
    errors = r.stderr.strip().splitlines()
    assert f"{conf}:{line_of('iplimit_redis_address')}: iplimit_redis_address: " \
           f"'{address}' is not IPV4:PORT or [IPV6]:PORT" in errors, r.stderr
    assert f"{conf}:{line_of('iplimit_redis_count_ttl')}: iplimit_redis_count_ttl: " \
           "must be at least 3" in errors, r.stderr


@moatftpd_only
def test_check_accepts_a_good_redis_address_and_refuses_an_unknown_backend(tmpdir_e2e, env):
    good, _ = config_with(tmpdir_e2e, iplimit(iplimit_backend="redis",
                                              iplimit_redis_address="[::1]:6380",
                                              secure_chroot_dir="/"))
    r = moatftpd("-t", good)
    assert r.returncode == 0, r.stderr
    bad, line_of = config_with(tmpdir_e2e, iplimit(iplimit_backend="memcached"))
    r = moatftpd("-t", bad)
    assert r.returncode == 1
    assert f"{bad}:{line_of('iplimit_backend')}: iplimit_backend: must be local or redis, " \
           "not 'memcached'" in r.stderr, r.stderr
