# SPDX-License-Identifier: GPL-2.0-or-later
"""The helper and the sandbox, end to end (issue 3; doc/DESIGN.md §4, §6, invariants 2-3).

The helper's state table itself is tested from the worker's side of the IPC socket in
tests/unit/helper_test.cpp (suite HelperTable): no FTP client can speak that protocol.
Here, through real clients: the one privilege a worker may ask for after login, a socket
bound to ftp_data_port, is granted for the control peer only; and each worker's seccomp
filter, as really installed, kills it for a forbidden system call. The call is injected
into the running worker with ptrace (root may trace any process, no_new_privs and
non-dumpable included; seccomp checks a traced process's calls all the same), so the
test needs no hook in the server. Read-only sessions are killed for any write call."""

import ftplib
import ctypes
import os
import platform
import signal
import socket
import time

import pytest

from clients import curl
from conftest import ANON_README, login
from harness import Control, code, proc_status, proc_uids, raw_cmd, wait_for

pytestmark = pytest.mark.moatftpd_only


def one(srv, comm, uid=None, exclude=()):
    """The single live process with that comm below the master (and uid, if given)."""
    def find():
        return [p for p in srv.pids(comm) if p not in exclude and
                (uid is None or proc_uids(p)[0] == uid)]
    pids = wait_for(lambda: len(find()) == 1 and find())
    assert pids and len(pids) == 1, f"{comm}: {srv.descendants()}"
    return pids[0]


def listener(host="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((host, 0))
    s.listen(1)
    s.settimeout(10)
    return s


def port_cmd(host, port):
    return "PORT " + ",".join(host.split(".") + [str(port >> 8), str(port & 255)])


def active_retr(ftp, host="127.0.0.1", name="README"):
    """PORT to a fresh listener on host, RETR; returns (data, source address, replies)."""
    with listener(host) as ls:
        first = raw_cmd(ftp, port_cmd(host, ls.getsockname()[1]))
        if code(first) != 200:
            return None, None, [first]
        second = raw_cmd(ftp, "RETR " + name)
        if code(second) != 150:
            return None, None, [first, second]
        conn, source = ls.accept()
        with conn:
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
        return data, source, [first, second, ftp.getmultiline()]


# ---- what the helper grants: a port-20 socket, for the control peer only -----------------

def test_connect_from_port_20_comes_from_ftp_data_port(server):
    srv = server({"connect_from_port_20": True, "ftp_data_port": 20})
    ftp = login(srv, "anonymous")
    data, source, replies = active_retr(ftp)
    assert data == ANON_README, replies
    assert source == ("127.0.0.1", 20)
    # Again in the same session: one socket per transfer, each from port 20.
    data, source, replies = active_retr(ftp)
    assert data == ANON_README and source[1] == 20, replies
    assert ftp.voidcmd("NOOP").startswith("200")


def test_connect_from_port_20_with_curl(server, env):
    srv = server({"connect_from_port_20": True})
    r = curl(srv, env.alice, "/notes.txt", "--ftp-port", "-")
    assert r.stdout == b"alice's notes\n"


def test_without_connect_from_port_20_data_comes_from_a_high_port(server):
    ftp = login(server(), "anonymous")
    data, source, replies = active_retr(ftp)
    assert data == ANON_README, replies
    assert source[1] >= 1024


def test_port_20_socket_never_for_a_third_host(server):
    srv = server({"connect_from_port_20": True})
    ftp = login(srv, "anonymous")
    with listener("127.0.0.2") as ls:
        reply = raw_cmd(ftp, port_cmd("127.0.0.2", ls.getsockname()[1]))
        assert 500 <= code(reply) <= 599, reply
        raw_cmd(ftp, "RETR README")
        ls.settimeout(1)
        with pytest.raises(socket.timeout):
            ls.accept()
    assert ftp.voidcmd("NOOP").startswith("200")
    assert "PORT20" not in srv.stderr_text()  # refused by the worker, never asked


def test_port_promiscuous_lets_the_helper_bind_for_a_third_host(server):
    srv = server({"connect_from_port_20": True, "port_promiscuous": True})
    ftp = login(srv, "anonymous")
    data, source, replies = active_retr(ftp, host="127.0.0.2")
    assert data == ANON_README, replies
    assert source[1] == 20


# ---- seccomp: a forbidden call kills the worker, as installed in the running server ------

PTRACE_PEEKTEXT, PTRACE_GETREGS, PTRACE_SETREGS = 1, 12, 13
PTRACE_CONT, PTRACE_DETACH, PTRACE_SYSCALL = 7, 17, 24
PTRACE_SEIZE, PTRACE_INTERRUPT = 0x4206, 0x4207
WALL = 0x40000000
RESTART_ERRNOS = {512, 513, 514}  # ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND
ERESTART_RESTARTBLOCK, NR_RESTART_SYSCALL = 516, 219
X86_64 = platform.machine() == "x86_64"

# x86_64 system call numbers
NR = {"getpid": 39, "socket": 41, "execve": 59, "ptrace": 101, "getppid": 110,
      "getdents64": 217, "openat": 257, "mkdirat": 258, "unlinkat": 263, "setuid": 105}
AF_NETLINK, SOCK_RAW, AT_FDCWD = 16, 3, -100
O_WRONLY_CREAT = 0o101


class Regs(ctypes.Structure):
    _fields_ = [(n, ctypes.c_ulonglong) for n in (
        "r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs eflags "
        "rsp ss fs_base gs_base ds es fs gs").split()]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.restype = ctypes.c_long
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]


def _ptrace(req, pid, addr=0, data=0):
    ctypes.set_errno(0)
    r = _libc.ptrace(req, pid, addr, data)
    err = ctypes.get_errno()
    if r == -1 and err:
        raise OSError(err, f"ptrace({req}, {pid}): {os.strerror(err)}")
    return r


def _signed(v):
    return ctypes.c_longlong(v).value


def _resume_state(saved):
    """Registers that make the worker carry on as if never stopped: an interrupted
    restartable call (epoll_wait, as a worker idles) is issued again."""
    back = Regs.from_buffer_copy(saved)
    err = -_signed(saved.rax)
    if _signed(saved.orig_rax) >= 0 and (err in RESTART_ERRNOS or err == ERESTART_RESTARTBLOCK):
        back.rip = saved.rip - 2
        back.rax = NR_RESTART_SYSCALL if err == ERESTART_RESTARTBLOCK else saved.orig_rax
    return back


def sigsys_pending(pid):
    st = proc_status(pid)
    pending = int(st.get("SigPnd", "0"), 16) | int(st.get("ShdPnd", "0"), 16)
    return bool(pending & (1 << (signal.SIGSYS - 1)))


def stop_in_syscall(pid, attempts=100):
    """Attaches and stops pid while it is blocked in a system call; returns its registers."""
    for _ in range(attempts):
        _ptrace(PTRACE_SEIZE, pid)
        _ptrace(PTRACE_INTERRUPT, pid)
        _, status = os.waitpid(pid, WALL)
        assert os.WIFSTOPPED(status), status
        saved = Regs()
        _ptrace(PTRACE_GETREGS, pid, 0, ctypes.addressof(saved))
        in_call = _signed(saved.orig_rax) >= 0
        if in_call and _ptrace(PTRACE_PEEKTEXT, pid, saved.rip - 2) & 0xFFFF == 0x050F:
            return saved  # stopped right after a "syscall" instruction
        _ptrace(PTRACE_DETACH, pid)
        time.sleep(0.02)
    raise AssertionError(f"{pid} was never found blocked in a system call")


def inject_syscall(pid, nr, *args):
    """Makes process pid execute system call nr(args) from where it stands (it must be
    blocked in a system call). Returns ("killed", signal) or ("returned", value)."""
    saved = stop_in_syscall(pid)
    regs = Regs.from_buffer_copy(saved)
    regs.rip, regs.rax, regs.orig_rax = saved.rip - 2, nr, 2**64 - 1
    for name, value in zip(("rdi", "rsi", "rdx", "r10", "r8", "r9"), args):
        setattr(regs, name, value & (2**64 - 1))
    _ptrace(PTRACE_SETREGS, pid, 0, ctypes.addressof(regs))
    for _ in range(2):  # to the call's entry, then through seccomp and the call
        _ptrace(PTRACE_SYSCALL, pid)
        _, status = os.waitpid(pid, WALL)
        if os.WIFSIGNALED(status):
            return "killed", os.WTERMSIG(status)
        assert os.WIFSTOPPED(status), status
    if sigsys_pending(pid):
        # Seccomp refused the call and queued a SIGSYS that no one may catch; the
        # tracer still sees the call's exit first. Let the signal do its work.
        _ptrace(PTRACE_CONT, pid)
        _, status = os.waitpid(pid, WALL)
        return ("killed", os.WTERMSIG(status)) if os.WIFSIGNALED(status) else ("stopped", status)
    result = Regs()
    _ptrace(PTRACE_GETREGS, pid, 0, ctypes.addressof(result))
    back = _resume_state(saved)
    _ptrace(PTRACE_SETREGS, pid, 0, ctypes.addressof(back))
    _ptrace(PTRACE_DETACH, pid)
    return "returned", _signed(result.rax)


@pytest.fixture
def tracing():
    if not X86_64:
        pytest.skip("system call injection is written for x86_64")
    probe = os.fork()
    if probe == 0:
        time.sleep(30)
        os._exit(0)
    try:
        inject_syscall(probe, NR["getpid"])
    except OSError as e:
        pytest.skip(f"ptrace is not permitted here: {e}")
    finally:
        os.kill(probe, signal.SIGKILL)
        os.waitpid(probe, 0)


def idle_worker(srv, comm, c, uid=None):
    """The worker behind Control c, once it is idle (blocked in epoll_wait)."""
    pid = one(srv, comm, uid=uid)
    assert c.cmd("NOOP")[0] in (200, 530)
    wait_for(lambda: proc_status(pid).get("State", "").startswith("S"))
    return pid


def assert_killed_by_seccomp(srv, c, pid, nr, *args):
    outcome = inject_syscall(pid, nr, *args)
    assert outcome == ("killed", signal.SIGSYS), outcome
    assert c.closed_by_peer(), "the session outlived its worker"
    assert srv.wait_stderr(r"worker killed by signal 31 \(seccomp"), srv.stderr_text()


def other_session_still_works(srv, ftp):
    assert ftp.voidcmd("NOOP").startswith("200")
    assert "README" in ftp.nlst()
    assert login(srv, "anonymous").voidcmd("NOOP").startswith("200")


PREAUTH_FORBIDDEN = [
    ("execve", (0, 0, 0)),
    ("ptrace", (0, 0, 0, 0)),
    ("socket", (AF_NETLINK, SOCK_RAW, 0)),
    ("getdents64", (0, 0, 0)),      # no file system before login
    ("openat", (AT_FDCWD, 0, 0)),
    ("setuid", (0,)),
]


@pytest.mark.parametrize("name,args", PREAUTH_FORBIDDEN, ids=[n for n, _ in PREAUTH_FORBIDDEN])
def test_preauth_worker_killed_for_forbidden_call(server, tracing, name, args):
    srv = server()
    bystander = login(srv, "anonymous")
    with Control(*srv.address()) as c:
        c.reply()
        pid = idle_worker(srv, "moat-preauth", c)
        assert_killed_by_seccomp(srv, c, pid, NR[name], *args)
    other_session_still_works(srv, bystander)


def test_preauth_worker_survives_an_allowed_call(server, tracing):
    srv = server()
    with Control(*srv.address()) as c:
        c.reply()
        pid = idle_worker(srv, "moat-preauth", c)
        assert inject_syscall(pid, NR["getpid"]) == ("returned", pid)
        # The worker carries on where it was: the login still works.
        assert c.login("anonymous", "x@y") == 230
    assert "killed by signal" not in srv.stderr_text()


READ_ONLY_FORBIDDEN = [
    ("openat", (AT_FDCWD, 0, O_WRONLY_CREAT, 0o644)),
    ("unlinkat", (AT_FDCWD, 0, 0)),
    ("mkdirat", (AT_FDCWD, 0, 0o755)),
    ("execve", (0, 0, 0)),
    ("socket", (AF_NETLINK, SOCK_RAW, 0)),
]


@pytest.mark.parametrize("name,args", READ_ONLY_FORBIDDEN, ids=[n for n, _ in READ_ONLY_FORBIDDEN])
def test_read_only_session_killed_for_any_write_call(server, env, tracing, name, args):
    srv = server({"write_enable": False})
    bystander = login(srv, "anonymous")
    with Control(*srv.address()) as c:
        c.reply()
        assert c.login(env.alice.name, env.alice.password) == 230
        pid = idle_worker(srv, "moat-session", c, uid=env.alice.uid)
        assert_killed_by_seccomp(srv, c, pid, NR[name], *args)
    other_session_still_works(srv, bystander)


def test_anonymous_session_killed_for_a_write_call(server, tracing, env):
    srv = server({"write_enable": True})  # anonymous sessions never get write calls
    with Control(*srv.address()) as c:
        c.reply()
        assert c.login("anonymous", "x@y") == 230
        pid = idle_worker(srv, "moat-session", c, uid=env.ftp.uid)
        assert_killed_by_seccomp(srv, c, pid, NR["unlinkat"], AT_FDCWD, 0, 0)


def test_writable_session_may_make_write_calls(server, env, tracing):
    """The control case: the same injected calls are allowed with write_enable=YES
    (a NULL path: EFAULT, nothing written), and the session carries on."""
    srv = server({"write_enable": True})
    with Control(*srv.address()) as c:
        c.reply()
        assert c.login(env.alice.name, env.alice.password) == 230
        pid = idle_worker(srv, "moat-session", c, uid=env.alice.uid)
        for name, args in READ_ONLY_FORBIDDEN[:3]:
            assert inject_syscall(pid, NR[name], *args) == ("returned", -14), name  # EFAULT
        assert c.cmd("NOOP")[0] == 200
        assert c.cmd("PWD")[0] == 257
        pid_again = one(srv, "moat-session", uid=env.alice.uid)
        assert pid_again == pid
        # Still confined for everything else.
        assert_killed_by_seccomp(srv, c, pid, NR["execve"], 0, 0, 0)


def test_no_filter_without_seccomp_sandbox(server, env, tracing):
    """seccomp_sandbox=NO: the same injection returns an error instead of killing, which
    shows the kills above come from the filter and not from the injection."""
    srv = server({"seccomp_sandbox": False})
    with Control(*srv.address()) as c:
        c.reply()
        pid = idle_worker(srv, "moat-preauth", c)
        assert proc_status(pid)["Seccomp"].strip() == "0"
        kind, value = inject_syscall(pid, NR["socket"], AF_NETLINK, SOCK_RAW, 0)
        assert kind == "returned", (kind, value)
        assert c.login("anonymous", "x@y") == 230


def test_connect_from_port_20_on_a_dual_stack_listener(server):
    # listen_ipv6=YES alone (rhel-default.conf) takes IPv4 clients on an IPv6 socket:
    # the control connection's local address is ::ffff:127.0.0.1, the PORT target IPv4.
    srv = server({"listen": False, "listen_ipv6": True, "listen_address6": "",
                  "connect_from_port_20": True, "ftp_data_port": 20})
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", srv.port6, timeout=10)
    ftp.login("anonymous", "x@y")
    data, source, replies = active_retr(ftp)
    assert data == ANON_README, replies
    assert source == ("127.0.0.1", 20)


# ---- the hand-over: the pre-login worker goes at once ------------------------------------

PTRACE_O_TRACEEXIT, PTRACE_EVENT_EXIT = 0x40, 6


def test_login_does_not_wait_for_the_pre_login_worker_to_exit(server, tracing):
    """After HANDOVER the helper kills the pre-login worker and starts the post-login
    one without waiting for the old one's exit (doc/DESIGN.md §3). A tracer holds the
    pre-login worker in its exit stop, where it would sit for as long as the tracer
    likes: the 230 must come all the same, from a worker that started meanwhile."""
    srv = server()
    with Control(*srv.address(), timeout=30) as c:
        assert c.reply()[0] == 220
        assert c.cmd("USER anonymous")[0] == 331
        pid = one(srv, "moat-preauth")
        _ptrace(PTRACE_SEIZE, pid, 0, PTRACE_O_TRACEEXIT)
        try:
            c.send("PASS x@y\r\n")
            _, status = os.waitpid(pid, WALL)
            assert os.WIFSTOPPED(status) and status >> 16 == PTRACE_EVENT_EXIT, status
            assert c.reply()[0] == 230  # while the old worker is still held
            assert one(srv, "moat-session") != pid
        finally:
            try:
                _ptrace(PTRACE_DETACH, pid)
            except OSError:  # already gone through its exit: the tracer reaps it
                os.waitpid(pid, WALL)
        assert c.cmd("NOOP")[0] == 200
    assert "worker killed by signal" not in srv.stderr_text()
