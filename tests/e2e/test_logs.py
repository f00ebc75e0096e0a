# SPDX-License-Identifier: GPL-2.0-or-later
"""Logs (issue 13): file-system changes and refusals in vsftpd's format, json_log_file,
syslog through syslog(3), and the master's own errors with background=YES.

The vsftpd-format lines of one session are compared field by field with the lines
vsftpd 3.0.3 writes for the same commands (both servers run here, one after the
other, on the same home directory), with the date, pids and transfer rates masked.
Syslog is received on a private /dev/log: a tmpfs over /dev inside this test's mount
namespace, holding the host's device nodes bound back in and our datagram socket."""

import ftplib
import io
import json
import os
import re
import signal
import socket
import subprocess

import pytest

import harness
from conftest import login
from harness import Control, proc_status, raw_cmd, wait_for
from test_helper_table import NR, inject_syscall, one, tracing  # noqa: F401 - a fixture

VSFTPD_LOG = {"xferlog_enable": True, "xferlog_std_format": False, "chmod_enable": True}
MASK = [(re.compile(r"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} "), "DATE "),
        (re.compile(r"\[pid \d+\]"), "[pid N]"),
        (re.compile(r"[\d.]+Kbyte/sec"), "RATE"),
        (re.compile(r"\(\d+,\d+,\d+,\d+,\d+,\d+\)"), "(PASV)")]

# The same commands on both servers: each kind of change, failed and then done.
SESSION = ["MKD d", "MKD d", "RMD nope", "DELE nope", "RNFR nope", "SITE CHMOD 600 nope",
           "STOR f", "RETR f", "RNFR f", "RNTO g", "SITE CHMOD 600 g", "DELE g", "RMD d"]


def vsftpd_lines(srv):
    path = srv.options["vsftpd_log_file"]
    return open(path).read().splitlines() if os.path.exists(path) else []


def masked(lines):
    out = []
    for line in lines:
        for rx, repl in MASK:
            line = rx.sub(repl, line)
        out.append(line)
    return out


def run_session(srv, user, last):
    ftp = login(srv, user)
    for cmd in SESSION:
        if cmd == "STOR f":
            ftp.storbinary(cmd, io.BytesIO(b"x" * 1000))
        elif cmd == "RETR f":
            ftp.retrbinary(cmd, lambda _: None)
        else:
            raw_cmd(ftp, cmd)
    ftp.quit()
    assert wait_for(lambda: any(last in l for l in vsftpd_lines(srv))), vsftpd_lines(srv)
    return masked(vsftpd_lines(srv))


def both_servers(server, options, user, last="OK RMDIR"):
    """The masked vsftpd-format log of SESSION on each server, read once `last` is in it."""
    for kind in ("vsftpd", "moatftpd"):  # each run starts both, whatever MOAT_E2E_SERVER says
        if not os.path.exists(harness.default_binary(kind)):
            pytest.skip(f"no {kind} binary at {harness.default_binary(kind)}")
    out = {}
    for kind in ("vsftpd", "moatftpd"):
        srv = server(dict(options), server=kind)
        out[kind] = run_session(srv, user, last)
        srv.stop()
    return out["vsftpd"], out["moatftpd"]


def write_file(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def test_file_changes_logged_as_vsftpd_does(server, env):
    theirs, ours = both_servers(server, VSFTPD_LOG, env.alice)
    assert any('OK RENAME: Client "127.0.0.1", "' in l for l in ours)
    assert ours == theirs


def test_protocol_log_matches_vsftpd_for_file_changes(server, env):
    """log_ftp_protocol adds every command and reply, pre-login ones under the name USER
    gave. One difference on purpose: a '"' inside a logged field (the 257 reply's path)
    is written '?' here, so that a file name cannot close the quotes around it."""
    options = dict(VSFTPD_LOG, log_ftp_protocol=True, ftpd_banner="e2e FTP")
    theirs, ours = both_servers(server, options, env.alice, last='"221 ')
    assert any('[alice] FTP command: Client "127.0.0.1", "PASS <password>"' in l for l in ours)
    quoted = re.compile(r'(FTP response: Client "127.0.0.1", "257 )"(.*)"( created"$)')
    assert ours == [quoted.sub(r"\1?\2?\3", l) for l in theirs]


@pytest.mark.moatftpd_only
def test_refusals_are_logged(server, env, tmpdir_e2e):
    srv = server(dict(VSFTPD_LOG, userlist_enable=True, userlist_deny=True, userlist_log=True,
                      userlist_file=write_file(tmpdir_e2e, "users", "bob\n"),
                      cmds_denied="SITE"))
    c = Control(*srv.address())
    c.reply()
    assert c.cmd("USER bob")[0] == 530
    assert c.cmd("USER alice")[0] == 331
    assert c.cmd("PASS wrong")[0] == 530
    ftp = login(srv, env.alice)
    raw_cmd(ftp, "SITE CHMOD 600 notes.txt")
    ftp.quit()
    want = ['[bob] FAIL LOGIN: Client "127.0.0.1", "User is in the deny user list."',
            '[alice] FAIL LOGIN: Client "127.0.0.1"',
            '[alice] FAIL COMMAND: Client "127.0.0.1", "SITE CHMOD 600 notes.txt", '
            '"cmds_allowed/cmds_denied"']
    assert wait_for(lambda: all(any(w in l for l in vsftpd_lines(srv)) for w in want)), \
        vsftpd_lines(srv)


@pytest.mark.moatftpd_only
def test_userlist_log_no_leaves_userlist_refusals_out(server, env, tmpdir_e2e):
    """Red Hat's userlist_log (default NO): without it a user-list refusal writes no line.
    The failed password after it is logged, so its line proves the log is written."""
    srv = server(dict(VSFTPD_LOG, userlist_enable=True, userlist_deny=False,
                      userlist_file=write_file(tmpdir_e2e, "users", "alice\n")))
    c = Control(*srv.address())
    c.reply()
    assert c.cmd("USER bob")[0] == 530
    assert c.cmd("USER alice")[0] == 331
    assert c.cmd("PASS wrong")[0] == 530
    assert wait_for(lambda: any('[alice] FAIL LOGIN' in l for l in vsftpd_lines(srv)))
    assert not [l for l in vsftpd_lines(srv) if "[bob]" in l or "user list" in l]


@pytest.mark.moatftpd_only
def test_tls_refusals_are_logged(server, env, tmpdir_e2e):
    cert, key = harness.self_signed_cert(os.path.join(tmpdir_e2e, "tls"))
    srv = server(dict(VSFTPD_LOG, ssl_enable=True, rsa_cert_file=cert, rsa_private_key_file=key))
    c = Control(*srv.address())
    c.reply()
    assert c.cmd("USER alice")[0] == 530  # force_local_logins_ssl
    assert c.cmd("AUTH TLS")[0] == 234
    c.sock.sendall(b"this is no TLS ClientHello\r\n" * 20)
    ftps = ftplib.FTP_TLS(context=harness.tls_client_context(cert), timeout=10)
    ftps.connect(*srv.address())
    ftps.login(env.alice.name, env.alice.password)  # AUTH TLS first, then USER
    raw_cmd(ftps, "PASV")
    assert raw_cmd(ftps, "LIST").startswith("522")  # force_local_data_ssl, no PROT P
    ftps.quit()
    want = ['[alice] FAIL LOGIN: Client "127.0.0.1", "Non-anonymous sessions must use encryption."',
            'FAIL TLS: Client "127.0.0.1"',
            '[alice] FAIL COMMAND: Client "127.0.0.1", "LIST", "TLS required for data"']
    assert wait_for(lambda: all(any(w in l for l in vsftpd_lines(srv)) for w in want)), \
        vsftpd_lines(srv)
    c.sock.close()


# ---- json_log_file ------------------------------------------------------------------

HOSTILE_USER = 'ev"il\\\x01\x7f\xfe}{"event":"login"'


def json_events(path):
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    assert lines[-1] == b""
    return [json.loads(line.decode("utf-8")) for line in lines[:-1]]


@pytest.mark.moatftpd_only
def test_json_log_has_one_valid_object_per_event(server, env, tmpdir_e2e):
    path = os.path.join(tmpdir_e2e, "events.json")
    srv = server({"json_log_file": path, "chmod_enable": True})  # no xferlog_enable needed
    c = Control(*srv.address())
    c.reply()
    c.sock.sendall(b"USER " + HOSTILE_USER.encode("latin-1") + b"\r\n")
    assert c.reply()[0] == 331
    assert c.cmd("PASS x")[0] == 530
    c.sock.close()
    ftp = login(srv, env.alice)
    raw_cmd(ftp, "MKD j")
    ftp.storbinary("STOR j/f", io.BytesIO(b"y" * 300))
    raw_cmd(ftp, "RNFR j/f")
    raw_cmd(ftp, "RNTO j/g")
    raw_cmd(ftp, "SITE CHMOD 640 j/g")
    raw_cmd(ftp, "DELE j/g")
    raw_cmd(ftp, "RMD j")
    ftp.quit()
    events = wait_for(lambda: [e for e in json_events(path) if e["event"] == "rmdir"] and
                      json_events(path))
    assert events, open(path, "rb").read()
    for e in events:
        assert {"time", "event", "client", "pid", "session"} <= e.keys(), e
        assert e["client"] == "127.0.0.1"
    failed = [e for e in events if e["event"] == "login" and e["result"] == "fail"]
    assert failed[0]["user"] == HOSTILE_USER.replace("\xfe", "\ufffd")
    home = env.alice.home
    by = {e["event"]: e for e in events if e.get("user") == "alice"}
    assert by["mkdir"]["path"] == f"{home}/j" and by["mkdir"]["result"] == "ok"
    assert by["upload"]["path"] == f"{home}/j/f" and by["upload"]["bytes"] == 300
    assert by["rename"]["path"] == f"{home}/j/f" and by["rename"]["to"] == f"{home}/j/g"
    assert by["chmod"]["mode"] == "640" and by["delete"]["path"] == f"{home}/j/g"
    sessions = {e["session"] for e in events}
    assert len(sessions) == 2  # the failed login's connection and alice's


# ---- syslog ---------------------------------------------------------------------------

LOG_FTP, LOG_WARNING, LOG_INFO = 11 << 3, 4, 6


def mount(*args):
    subprocess.run(["mount", *args], check=True)


@pytest.fixture
def dev_log(env):
    """A datagram socket at /dev/log for this namespace only: a tmpfs over /dev with the
    host's entries bound back in (they stay the same devices), then our socket."""
    assert os.environ.get("MOAT_NSRUN") == "1"
    stash = os.path.join(env.workdir, "dev-host")
    os.makedirs(stash, exist_ok=True)
    mount("--rbind", "/dev", stash)
    mount("-t", "tmpfs", "-o", "mode=755", "moat-dev", "/dev")
    try:
        for name in os.listdir(stash):
            src, dst = os.path.join(stash, name), os.path.join("/dev", name)
            if name == "log":
                continue
            if os.path.islink(src):
                os.symlink(os.readlink(src), dst)
            elif os.path.isdir(src):
                os.mkdir(dst)
                mount("--rbind", src, dst)
            else:
                open(dst, "w").close()
                mount("--bind", src, dst)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind("/dev/log")
        os.chmod("/dev/log", 0o666)
        sock.settimeout(10)
        yield sock
        sock.close()
    finally:
        subprocess.run(["umount", "-R", "-l", "/dev"], check=True)
        subprocess.run(["umount", "-R", "-l", stash], check=True)


def receive_until(sock, pattern):
    rx, got = re.compile(pattern), []
    while True:
        try:
            msg = sock.recv(65536).decode("utf-8", "replace")
        except socket.timeout:
            raise AssertionError(f"no syslog message matching {pattern!r} in {got}")
        got.append(msg)
        if rx.search(msg):
            return msg, got


def unix_datagram_sockets(pid):
    return harness.proc_socket_inodes(pid) & harness.unix_socket_inodes(socket.SOCK_DGRAM)


@pytest.mark.moatftpd_only
def test_syslog_gets_vsftpd_lines_through_syslog3(server, env, dev_log, tracing):  # noqa: F811
    srv = server({"xferlog_enable": True, "syslog_enable": True})
    c = Control(*srv.address())
    c.reply()
    c.cmd("USER alice")
    assert c.cmd("PASS wrong")[0] == 530
    msg, _ = receive_until(dev_log, r"FAIL LOGIN")
    # syslog(3)'s own header: priority, date, ident[pid]; then vsftpd's line, no date.
    assert re.match(rf"<{LOG_FTP | LOG_WARNING}>\w{{3}} [ \d]\d \d\d:\d\d:\d\d moatftpd\[(\d+)\]: "
                    rf'\[pid \1\] \[alice\] FAIL LOGIN: Client "127.0.0.1"$', msg), msg
    c.sock.close()
    ftp = login(srv, env.alice)
    raw_cmd(ftp, "MKD s")
    msg, _ = receive_until(dev_log, r"OK MKDIR")
    assert msg.startswith(f"<{LOG_FTP | LOG_INFO}>")
    assert msg.endswith(f'[alice] OK MKDIR: Client "127.0.0.1", "{env.alice.home}/s"'), msg
    # The worker that asked holds no datagram socket (the helper does), and its sandbox
    # refuses to make one.
    raw_cmd(ftp, "RMD s")
    worker = one(srv, "moat-session")
    assert not unix_datagram_sockets(worker)
    wait_for(lambda: proc_status(worker).get("State", "").startswith("S"))
    made = inject_syscall(worker, NR["socket"], socket.AF_UNIX, socket.SOCK_DGRAM, 0)
    assert made[0] == "killed" or made[1] < 0, made
    ftp.close()


# ---- background=YES ---------------------------------------------------------------------

@pytest.mark.moatftpd_only
def test_background_reload_errors_reach_the_log(server, env, tmpdir_e2e):
    pid_file = os.path.join(tmpdir_e2e, "moatftpd.pid")
    srv = server({"background": True, "pid_file": pid_file, "xferlog_enable": True})
    daemon = int(wait_for(lambda: os.path.exists(pid_file) and open(pid_file).read().strip()))
    try:
        with open(srv.config_path, "a") as f:
            f.write("no_such_option=YES\n")
        os.kill(daemon, signal.SIGHUP)
        assert wait_for(lambda: any("moatftpd: SIGHUP: configuration not reloaded:" in l and
                                    "no_such_option" in l for l in vsftpd_lines(srv))), \
            vsftpd_lines(srv)
    finally:
        os.kill(daemon, signal.SIGTERM)
        wait_for(lambda: not os.path.exists(f"/proc/{daemon}"))


@pytest.mark.moatftpd_only
def test_background_start_up_errors_reach_the_log(server, env):
    """Where moatftpd is started with stderr thrown away, a start-up failure after the
    logs are open (here the port is taken) is in the log too."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    srv = server({"background": True, "xferlog_enable": True,
                  "listen_port": taken.getsockname()[1]}, start=False)
    srv.write_config()
    done = subprocess.run([srv.binary, srv.config_path], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    taken.close()
    assert done.returncode == 1
    assert any(re.search(r"\[pid \d+\] moatftpd: .*127\.0\.0\.1.*Address already in use", l)
               for l in vsftpd_lines(srv)), vsftpd_lines(srv)


# ---- the master's module lines -------------------------------------------------------

@pytest.mark.moatftpd_only
def test_a_ban_from_mod_iplimit_reaches_the_logs(server, env, tmpdir_e2e):
    """The master's host->log is the path mod_iplimit's ban and limit lines take."""
    from test_modules import iplimit
    path = os.path.join(tmpdir_e2e, "events.json")
    srv = server(iplimit(max_login_failures_per_ip=1, login_ban_time=60, delay_failed_login=0,
                         xferlog_enable=True, json_log_file=path))
    c = Control(*srv.address())
    c.reply()
    c.cmd("USER alice")
    assert c.cmd("PASS wrong")[0] == 530
    banned = "moatftpd: mod_iplimit: banned 127.0.0.1 for 60 s"
    assert wait_for(lambda: any(re.search(r"\[pid \d+\] " + re.escape(banned), l)
                                for l in vsftpd_lines(srv))), vsftpd_lines(srv)
    assert wait_for(lambda: [e for e in json_events(path) if e["event"] == "server" and
                             e["message"].startswith(banned[len("moatftpd: "):])])
    c.sock.close()
