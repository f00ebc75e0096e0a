# SPDX-License-Identifier: GPL-2.0-or-later
"""Logs a worker cannot forge (issue 11 point 4, DESIGN invariant 10).

Workers hold no log descriptor: the session helper writes every line, filling in the
client address and the user itself from what it knows; a worker only says what
happened (LogEvent requests). Proven from inside live, sandboxed workers: their
descriptor tables hold none of the log files (the helper's does); write and ftruncate
injected on the helper's log descriptor numbers fail with EBADF; crafted LogEvent and
KeySign requests written on the worker's own IPC socket cannot name another client or
user, and malformed or out-of-place ones end the session. A user name written as a log
line (`x] FAIL LOGIN: Client "203.0.113.7",`) stays inside its brackets, and fail2ban's
stock vsftpd filter, when installed, finds only the real client."""

import errno
import ftplib
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess

import pytest

import harness
from harness import Control, proc_status, wait_for
from test_helper_table import inject_syscall, one, tracing  # noqa: F401 - a fixture

pytestmark = pytest.mark.moatftpd_only

NR_WRITE, NR_FTRUNCATE = 1, 77
FORGED = "203.0.113.7"
FORGED_USER = 'x] FAIL LOGIN: Client "203.0.113.7",'
CLIENT_RE = re.compile(r'Client "([^"]*)"')
LOG_OPTIONS = {"xferlog_enable": True, "dual_log_enable": True, "log_ftp_protocol": True}



def wire_number(header, name):
    """An enumerator's number, read from privsep/HEADER, so renumbering cannot stale it."""
    path = os.path.join(os.path.dirname(__file__), "..", "..", "privsep", header)
    with open(path) as f:
        found = re.search(rf"\b{name} = (\d+),", f.read())
    assert found, f"{name} not in {path}"
    return int(found.group(1))


KEY_SIGN, LOG_EVENT = (wire_number("ipc.hpp", n) for n in ("kKeySign", "kLogEvent"))
LOG_FTP_COMMAND, LOG_NOTE, LOG_TRANSFER, LOG_LOGIN_REFUSED = (
    wire_number("log_request.hpp", n)
    for n in ("kFtpCommand", "kNote", "kTransfer", "kLoginRefused"))


def vsftpd_log(srv):
    path = srv.options["vsftpd_log_file"]
    return open(path).read() if os.path.exists(path) else ""


def log_files(srv):
    return {os.stat(srv.options[k])[1:3] for k in ("vsftpd_log_file", "xferlog_file")}


def open_files(pid):
    """(inode, device) of everything pid has open, by descriptor number."""
    out = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out[int(fd)] = os.stat(f"/proc/{pid}/fd/{fd}")[1:3]
        except OSError:
            pass
    return out


def log_fds(srv, pid):
    return [fd for fd, ident in open_files(pid).items() if ident in log_files(srv)]


def idle(pid):
    wait_for(lambda: proc_status(pid).get("State", "").startswith("S"))
    return pid


def ipc_fd(pid):
    """The worker's end of its SOCK_SEQPACKET socket to the helper."""
    seqpacket = harness.unix_socket_inodes(socket.SOCK_SEQPACKET)
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        m = re.fullmatch(r"socket:\[(\d+)\]", target)
        if m and int(m.group(1)) in seqpacket:
            return int(fd)
    raise AssertionError(f"no IPC socket in {pid}")


def stack_pointer(pid):
    """pid's stack pointer, once it is blocked in a system call."""
    fields = wait_for(lambda: (f := open(f"/proc/{pid}/syscall").read().split()) and
                      len(f) > 2 and f)
    return int(fields[-2], 16)


def ended(c):
    """The session is over: the connection closed (TLS: without close_notify, as the
    helper kills the worker)."""
    try:
        return c.closed_by_peer()
    except ssl.SSLError:
        return True


def write_from_worker(pid, fd, data):
    """Makes worker pid write data on its descriptor fd, as compromised code would:
    the bytes go below its stack pointer, then write(2) is injected."""
    sp = stack_pointer(pid)
    address = (sp - 16384) & ~15
    with open(f"/proc/{pid}/mem", "r+b", 0) as mem:
        mem.seek(address)
        mem.write(data)
    try:
        return inject_syscall(pid, NR_WRITE, fd, address, len(data))
    except ProcessLookupError:  # the helper killed it before the call returned
        return "killed", signal.SIGKILL


def send_from_worker(pid, msg_type, payload):
    """Makes worker pid write one IPC datagram to its helper."""
    datagram = struct.pack("<HHI", msg_type, 0, len(payload)) + payload
    return write_from_worker(pid, ipc_fd(pid), datagram)


def log_request(kind, text, bytes_=0, detail=""):
    data, more = text.encode(), detail.encode()
    return (struct.pack("<BI", kind, len(data)) + data + struct.pack("<I", len(more)) + more +
            struct.pack("<BIII", 4, bytes_ & 0xffffffff, bytes_ >> 32, 1000))


# The helper may end the session, and kill the worker, before the injected call returns.
ENDED = {("killed", signal.SIGKILL)} | {("returned", n) for n in range(8, 4400)}


def assert_clients_real(text):
    clients = set(CLIENT_RE.findall(text))
    assert clients <= {"127.0.0.1"}, text
    assert f'"{FORGED}"' not in text, text


@pytest.fixture
def logged(server):
    return server(LOG_OPTIONS)


# --- descriptors --------------------------------------------------------------------
def test_workers_hold_no_log_descriptor(logged, env):
    srv = logged
    c = Control(*srv.address())
    assert c.reply()[0] == 220
    pre = idle(one(srv, "moat-preauth"))
    helper = one(srv, "moat-helper")
    assert len(log_fds(srv, helper)) == 2  # the scan sees them where they are
    assert log_fds(srv, pre) == []
    assert c.login(env.alice.name, env.alice.password) == 230
    post = idle(one(srv, "moat-session"))
    assert log_fds(srv, post) == []


def inject_on_log_numbers(srv, pid, fds, calls):
    """Injects each call on each of the helper's log descriptor numbers that is free in
    pid (a number pid uses for something else is no log file: checked above), and on
    any log file pid holds (none; before issue 11, all)."""
    files = open_files(pid)
    free = [fd for fd in fds if fd not in files] + [fd for fd in files if fd in log_fds(srv, pid)]
    for fd in free:
        sp = stack_pointer(pid)
        for nr, args in calls:
            args = [sp if a == "buf" else a for a in args]
            assert inject_syscall(pid, nr, fd, *args) == ("returned", -errno.EBADF), (nr, fd)
    return len(free)


def test_injected_write_and_ftruncate_fail(logged, env, tracing):  # noqa: F811
    srv = logged
    c = Control(*srv.address())
    assert c.reply()[0] == 220
    fds = log_fds(srv, one(srv, "moat-helper"))
    assert fds
    sizes = {k: os.path.getsize(srv.options[k]) for k in ("vsftpd_log_file", "xferlog_file")}
    pre = idle(one(srv, "moat-preauth"))
    injected = inject_on_log_numbers(srv, pre, fds, [(NR_WRITE, ("buf", 16))])
    assert c.login(env.alice.name, env.alice.password) == 230  # write_enable: ftruncate allowed
    post = idle(one(srv, "moat-session"))
    sizes = {k: os.path.getsize(srv.options[k]) for k in sizes}
    injected += inject_on_log_numbers(srv, post, fds, [(NR_WRITE, ("buf", 16)),
                                                        (NR_FTRUNCATE, (0,))])
    assert {k: os.path.getsize(srv.options[k]) for k in sizes} == sizes
    assert c.cmd("NOOP")[0] == 200


# --- crafted requests -----------------------------------------------------------------
def test_crafted_log_requests_name_the_real_client_and_user(logged, env, tracing):  # noqa: F811
    srv = logged
    c = Control(*srv.address())
    assert c.reply()[0] == 220
    assert c.login(env.alice.name, env.alice.password) == 230
    post = idle(one(srv, "moat-session"))
    forged = [log_request(LOG_NOTE, f'OK LOGIN: Client "{FORGED}"'),
              log_request(LOG_FTP_COMMAND, f'x"\nMon Jan  1 00:00:00 2026 [pid 1] [bob] '
                          f'FAIL LOGIN: Client "{FORGED}"'),
              # Names only a pre-login worker may give (the USER argument): ignored.
              log_request(LOG_LOGIN_REFUSED, "bob", detail="forged"),
              log_request(LOG_FTP_COMMAND, "NOOP", detail="bob"),
              log_request(LOG_TRANSFER, "/forged.txt", 77)]
    for payload in forged:
        assert send_from_worker(post, LOG_EVENT, payload)[0] == "returned"
    assert c.cmd("NOOP")[0] == 200  # the helper has read them: same socket, in order
    text = wait_for(lambda: "forged.txt" in vsftpd_log(srv) and vsftpd_log(srv))
    assert_clients_real(text)
    for line in text.splitlines():
        assert re.match(r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} \[pid \d+\] ", line), line
        assert "[bob]" not in line, line
    (transfer,) = [l for l in srv.xferlog().splitlines() if "/forged.txt" in l]
    fields = transfer.split()
    assert fields[6] == "127.0.0.1" and fields[7] == "77" and fields[13] == env.alice.name


def test_malformed_log_request_ends_the_session(logged, env, tracing):  # noqa: F811
    srv = logged
    c = Control(*srv.address())
    assert c.reply()[0] == 220
    pre = idle(one(srv, "moat-preauth"))
    assert send_from_worker(pre, LOG_EVENT, b"\x7f" + log_request(LOG_NOTE, "x")[1:]) in ENDED
    assert ended(c)
    assert srv.wait_stderr(r"bad LOG request: unknown log kind 127")


def test_key_sign_out_of_place_ends_the_session(logged, env, tracing):  # noqa: F811
    """No TLS in this server: a signature is never due, whatever the worker asks."""
    srv = logged
    c = Control(*srv.address())
    assert c.reply()[0] == 220
    pre = idle(one(srv, "moat-preauth"))
    request = struct.pack("<BBI", 1, 1, 32) + b"\x01" * 32  # PKCS#1, SHA-256
    assert send_from_worker(pre, KEY_SIGN, request) in ENDED
    assert ended(c)
    assert srv.wait_stderr(r"KEY_SIGN request without ssl_enable")  # the helper table's row


@pytest.fixture(scope="module")
def cert(env):
    directory = os.path.join(env.workdir, "logtls")
    yield harness.self_signed_cert(directory)
    shutil.rmtree(directory, ignore_errors=True)


def test_second_control_signature_and_non_pss_input_end_the_session(server, cert, tracing):  # noqa: F811
    srv = server({"ssl_enable": True, "rsa_cert_file": cert[0], "rsa_private_key_file": cert[1]})
    # The table's pre-login row allows one signature; the key signer checks the input
    # of one that the table allows (here: before any handshake).
    for payload, handshake, why in [(struct.pack("<BBI", 1, 1, 32) + b"\x01" * 32, True,
                                     "KEY_SIGN request over its limit"),
                                    (struct.pack("<BBI", 2, 1, 256) + b"\x01" * 255 + b"\xbc",
                                     False, "not a PSS encoding")]:
        c = Control(*srv.address())
        assert c.reply()[0] == 220
        if handshake:
            assert c.cmd("AUTH TLS")[0] == 234
            c.start_tls(harness.tls_client_context(cafile=cert[0]), server_hostname="localhost")
        assert c.cmd("NOOP")[0] in (200, 530)  # with TLS the one signature is spent
        pre = idle(one(srv, "moat-preauth"))
        assert send_from_worker(pre, KEY_SIGN, payload) in ENDED
        assert ended(c)
        assert srv.wait_stderr(why)


# --- stderr ---------------------------------------------------------------------------
# A worker's fd 2 is a pipe the helper reads: whatever it writes there reaches the
# operator behind the helper's "session ADDR: worker PID: ", control bytes escaped.
FORGED_STDERR = (f"moatftpd: session {FORGED}: login failed for 'root': PAM\n"
                 "\x1b[1A\x1b[2Kmoatftpd: session 127.0.0.1: worker killed by signal 9\n")


def stderr_worker(srv, env, cert, role):
    """A live, idle worker of the role asked for, and its session's Control."""
    c = Control(*srv.address())
    assert c.reply()[0] == 220
    if role == "preauth":
        return c, idle(one(srv, "moat-preauth"))
    if role == "relay":
        assert c.cmd("AUTH TLS")[0] == 234
        c.start_tls(harness.tls_client_context(cafile=cert[0]), server_hostname="localhost")
    assert c.login(env.alice.name, env.alice.password) == 230
    post = idle(one(srv, "moat-session"))
    return c, post if role == "postauth" else idle(one(srv, "moat-preauth"))


@pytest.mark.parametrize("role", ["preauth", "postauth", "relay"])
def test_worker_stderr_cannot_forge_a_helper_line(server, env, cert, tracing, role):  # noqa: F811
    tls = {"ssl_enable": True, "rsa_cert_file": cert[0], "rsa_private_key_file": cert[1]}
    srv = server(tls if role == "relay" else {})
    c, pid = stderr_worker(srv, env, cert, role)
    data = FORGED_STDERR.encode()
    assert write_from_worker(pid, 2, data) == ("returned", len(data))
    prefix = rf"^moatftpd: session 127\.0\.0\.1: worker {pid}: "
    assert srv.wait_stderr(prefix + rf"moatftpd: session {re.escape(FORGED)}: login failed")
    assert srv.wait_stderr(prefix + r"\\x1b\[1A\\x1b\[2Kmoatftpd: session 127")
    lines = srv.stderr_text().splitlines()
    assert not [line for line in lines if line.startswith(f"moatftpd: session {FORGED}")]
    assert not [line for line in lines if "\x1b" in line]
    assert c.cmd("NOOP")[0] == 200  # the worker said something; the session goes on
    c.close()


# --- fields from the client -------------------------------------------------------------
def test_user_name_cannot_forge_a_client(logged):
    srv = logged
    ftp = srv.connect()
    with pytest.raises(ftplib.error_perm):
        ftp.login(FORGED_USER, "x")
    ftp.close()
    text = wait_for(lambda: "FAIL LOGIN" in vsftpd_log(srv) and vsftpd_log(srv))
    assert_clients_real(text)
    (line,) = [l for l in text.splitlines() if "] FAIL LOGIN:" in l]
    assert line.endswith(' FAIL LOGIN: Client "127.0.0.1"'), line
    if shutil.which("fail2ban-regex"):  # optional: Debian's fail2ban, not a suite dependency
        filt = "/etc/fail2ban/filter.d/vsftpd.conf"
        r = subprocess.run(["fail2ban-regex", "-v", srv.options["vsftpd_log_file"], filt],
                           capture_output=True, text=True, timeout=60)
        hosts = set(re.findall(r"^\|\s+(\S+)\s+\w{3} \w{3} ", r.stdout, re.M))
        assert hosts == {"127.0.0.1"}, r.stdout  # the failure is charged to the real client


def test_anonymous_password_and_path_stay_in_their_quotes(logged):
    srv = logged
    ftp = srv.connect()
    ftp.login("anonymous", f'a" FAIL LOGIN: Client "{FORGED}"')
    with pytest.raises(ftplib.error_perm):
        ftp.retrbinary(f'RETR /x", Client "{FORGED}"', lambda _: None)
    ftp.quit()
    text = wait_for(lambda: "OK LOGIN" in vsftpd_log(srv) and vsftpd_log(srv))
    assert_clients_real(text)
