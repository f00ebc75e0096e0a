# SPDX-License-Identifier: GPL-2.0-or-later
"""Issue 11: what code execution inside a sandboxed worker must not get, each attack
reproduced from inside a real worker of a running server.

The system calls are injected into the live worker with ptrace, as in
test_helper_table.py (whose injection helpers this file uses): the worker is stopped
where it idles, made to execute the call, and either killed by its seccomp filter or
resumed as if nothing happened. Each test fails against the code before the fix."""

import ftplib
import os
import resource
import signal
import socket

import pytest

from harness import (Control, code, proc_status, proc_uids, raw_cmd, self_signed_cert,
                     tls_client_context, wait_for)
from test_helper_table import (AF_NETLINK, SOCK_RAW, X86_64, active_retr, assert_killed_by_seccomp,
                               idle_worker, inject_syscall, one, other_session_still_works,
                               tracing)  # noqa: F401 (a fixture)
from conftest import ANON_README, login

pytestmark = pytest.mark.moatftpd_only

# x86_64 system call numbers and constants
NR = {"close": 3, "socket": 41, "openat": 257, "execve": 59, "ptrace": 101, "kill": 62, "socketpair": 53, "connect": 42, "accept": 43, "bind": 49, "listen": 50,
      "fcntl": 72, "getpid": 39, "accept4": 288}
AF_INET, SOCK_STREAM = 2, 1
F_GETFL, F_SETFL, F_SETOWN, F_SETSIG, F_SETOWN_EX, F_SETLK = 3, 4, 8, 10, 15, 6
O_ASYNC, O_NONBLOCK = 0o20000, 0o4000
EBADF, EFAULT = -9, -14


def preauth_worker(srv, c):
    c.reply()
    return idle_worker(srv, "moat-preauth", c)


def postauth_worker(srv, c, user):
    c.reply()
    assert c.login(user.name, user.password) == 230
    return idle_worker(srv, "moat-session", c, uid=user.uid)


# ---- point 3: fcntl -------------------------------------------------------------------
# F_SETOWN + O_ASYNC makes the kernel send SIGIO (fatal by default) to any process of
# the same uid: every other session's pre-login worker and relay run as nopriv_user.

FCNTL_FORBIDDEN = [
    ("F_SETOWN", (0, F_SETOWN, 1)),
    ("F_SETOWN_EX", (0, F_SETOWN_EX, 0)),
    ("F_SETSIG", (0, F_SETSIG, signal.SIGKILL)),
    ("F_SETFL_O_ASYNC", (0, F_SETFL, O_ASYNC | O_NONBLOCK)),
]


@pytest.mark.parametrize("name,args", FCNTL_FORBIDDEN, ids=[n for n, _ in FCNTL_FORBIDDEN])
def test_preauth_worker_may_not_arm_sigio(server, tracing, name, args):
    srv = server()
    bystander = login(srv, "anonymous")
    with Control(*srv.address()) as c:
        pid = preauth_worker(srv, c)
        assert_killed_by_seccomp(srv, c, pid, NR["fcntl"], *args)
    other_session_still_works(srv, bystander)


def test_postauth_worker_may_not_set_an_owner(server, env, tracing):
    srv = server()
    with Control(*srv.address()) as c:
        pid = postauth_worker(srv, c, env.alice)
        assert_killed_by_seccomp(srv, c, pid, NR["fcntl"], 0, F_SETOWN, 1)


def test_fcntl_commands_in_use_still_work(server, env, tracing):
    """The control case: the commands the code uses return, and the session goes on."""
    srv = server()
    with Control(*srv.address()) as c:
        pid = postauth_worker(srv, c, env.alice)
        assert inject_syscall(pid, NR["fcntl"], 0, F_GETFL)[0] == "returned"
        assert inject_syscall(pid, NR["fcntl"], 999, F_SETFL, O_NONBLOCK) == ("returned", EBADF)
        assert inject_syscall(pid, NR["fcntl"], 999, F_SETLK, 0) == ("returned", EBADF)
        assert c.cmd("PWD")[0] == 257


# ---- point 5: no sockets of its own before login ----------------------------------------

PREAUTH_NO_SOCKETS = [
    ("socket", (AF_INET, SOCK_STREAM, 0)),
    ("connect", (0, 0, 16)),
    ("bind", (0, 0, 16)),
    ("listen", (0, 1)),
    ("accept", (0, 0, 0)),
    ("accept4", (0, 0, 0, 0)),
]


@pytest.mark.parametrize("name,args", PREAUTH_NO_SOCKETS, ids=[n for n, _ in PREAUTH_NO_SOCKETS])
def test_preauth_worker_makes_no_connections(server, tracing, name, args):
    srv = server()
    with Control(*srv.address()) as c:
        pid = preauth_worker(srv, c)
        assert_killed_by_seccomp(srv, c, pid, NR[name], *args)


def test_postauth_worker_keeps_its_data_connection_calls(server, env, tracing):
    srv = server()
    with Control(*srv.address()) as c:
        pid = postauth_worker(srv, c, env.alice)
        assert inject_syscall(pid, NR["listen"], 999, 1) == ("returned", EBADF)
        assert inject_syscall(pid, NR["connect"], 999, 0, 16) == ("returned", EBADF)
        assert c.cmd("PWD")[0] == 257


# ---- point 2: the port-20 socket ---------------------------------------------------------

def test_port20_worker_may_not_connect(server, env, tracing):
    """With connect_from_port_20 every active connection comes connected from the
    helper: a worker that could connect() would detach the socket (AF_UNSPEC) and point
    port 20 anywhere (an FTP bounce from a privileged port)."""
    srv = server({"connect_from_port_20": True, "ftp_data_port": 20})
    with Control(*srv.address()) as c:
        pid = postauth_worker(srv, c, env.alice)
        assert_killed_by_seccomp(srv, c, pid, NR["connect"], 999, 0, 16)


def port20_sockets(pid):
    """Local port 20 TCP sockets held by pid (any state), from /proc/net/tcp*."""
    from harness import proc_socket_inodes
    mine = proc_socket_inodes(pid)
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for row in list(f)[1:]:
                r = row.split()
                if int(r[1].split(":")[1], 16) == 20 and int(r[9]) in mine:
                    found.append(r[3])
    return found


def test_port20_refused_connection_is_a_425(server):
    """The control case for the helper's connect (that the socket comes connected is
    tested in helper_test.cpp): a PORT to a closed port of the client is a 425 and
    leaves the worker no socket bound to port 20; the next good one works."""
    srv = server({"connect_from_port_20": True, "ftp_data_port": 20})
    ftp = login(srv, "anonymous")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    assert code(raw_cmd(ftp, f"PORT 127,0,0,1,{closed >> 8},{closed & 255}")) == 200
    reply = raw_cmd(ftp, "RETR README")
    assert code(reply) == 425, reply
    pid = one(srv, "moat-session")
    assert port20_sockets(pid) == []
    # And a good one still works, from port 20.
    data, source, replies = active_retr(ftp)
    assert data == ANON_README and source[1] == 20, replies


# ---- point 6: module shared memory ----------------------------------------------------------

def shared_mappings(pid):
    with open(f"/proc/{pid}/maps") as f:
        return [line for line in f if line.split()[1].endswith("s") and "/dev/zero" in line]


def test_preauth_worker_does_not_map_module_shared_memory(server, env):
    from test_throttle import throttle
    srv = server(throttle(anon_max_rate=0))
    with Control(*srv.address()) as pre:
        pre.reply()
        pid = one(srv, "moat-preauth")
        assert shared_mappings(pid) == [], "a pre-login worker shares the modules' memory"
        with Control(*srv.address()) as post:
            session = postauth_worker(srv, post, env.alice)
            assert shared_mappings(session), "the control case: post-login workers share it"
        assert pre.login("anonymous", "x@y") == 230  # it still works without


# ---- point 7: a session's processes end with it ------------------------------------------

def seqpacket_inodes():
    with open("/proc/net/unix") as f:
        return {int(r.split()[6]) for r in list(f)[1:] if r.split()[4] == "0005"
                and len(r.split()) >= 7}


def ipc_fd(pid):
    ipc = seqpacket_inodes()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        if target.startswith("socket:[") and int(target[8:-1]) in ipc:
            return int(fd)
    raise AssertionError(f"no IPC socket in {pid}")


def test_a_worker_that_leaves_its_helper_does_not_keep_the_session(server, env, tracing):
    """A compromised worker closes its IPC socket and goes on serving: the helper must
    end it after the grace period, and the session's mod_iplimit slot is freed."""
    from test_modules import iplimit
    srv = server(iplimit(max_clients=1))
    with Control(*srv.address()) as c:
        pid = postauth_worker(srv, c, env.alice)
        assert inject_syscall(pid, NR["close"], ipc_fd(pid)) == ("returned", 0)
        assert c.closed_by_peer(timeout=20), "the worker outlived its helper's session"
    assert srv.wait_stderr(r"worker killed by signal 9")
    # max_clients=1: the slot is free again once the master has reaped the helper,
    # which exits after that line (the master reaps asynchronously).

    def admitted():
        try:
            return login(srv, env.alice)
        except ftplib.error_temp:  # 421: not reaped yet
            return None
    c2 = wait_for(admitted)
    assert c2, "the session's max_clients slot was never freed"
    assert c2.pwd() == "/" or c2.pwd()


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return self_signed_cert(str(tmp_path_factory.mktemp("tls")))


def test_a_relay_that_does_not_exit_is_killed(server, env, cert):
    """The TLS relay stopped (as one that never exits): the helper kills it after the
    grace period instead of waiting for ever, and mod_iplimit's slot is freed."""
    from test_modules import iplimit
    srv = server(iplimit(max_clients=1, ssl_enable=True, rsa_cert_file=cert[0],
                         rsa_private_key_file=cert[1]))
    c = Control(*srv.address())
    c.reply()
    assert c.cmd("AUTH TLS")[0] == 234
    c.start_tls(tls_client_context(cert[0]))
    assert c.login(env.alice.name, env.alice.password) == 230
    relay = one(srv, "moat-preauth")
    helper = one(srv, "moat-helper")
    worker = one(srv, "moat-session")
    os.kill(relay, signal.SIGSTOP)
    try:
        os.kill(worker, signal.SIGKILL)  # the session ends; its relay stays stopped
        gone = wait_for(lambda: not os.path.exists(f"/proc/{helper}"), timeout=20)
        assert gone, "the helper waits for ever on a relay that does not exit"
        assert not os.path.exists(f"/proc/{relay}")
    finally:
        if os.path.exists(f"/proc/{relay}"):
            os.kill(relay, signal.SIGKILL)
        c.sock.close()
    with Control(*srv.address()) as again:
        assert again.reply()[0] == 220  # max_clients=1: the slot is free again


def tls_login(srv, env, cert):
    c = Control(*srv.address())
    c.reply()
    assert c.cmd("AUTH TLS")[0] == 234
    c.start_tls(tls_client_context(cert[0]))
    assert c.login(env.alice.name, env.alice.password) == 230
    return c


@pytest.mark.parametrize("name,args", [("socketpair", (1, SOCK_STREAM, 0, 0)),
                                       ("socket", (AF_INET, SOCK_STREAM, 0))],
                         ids=["socketpair", "socket"])
def test_tls_relay_has_its_own_narrower_profile(server, env, cert, tracing, name, args):
    """The relay needed socketpair only to become one: after that it may not, nor make
    any socket (issue 11, point 5)."""
    srv = server({"ssl_enable": True, "rsa_cert_file": cert[0], "rsa_private_key_file": cert[1]})
    c = tls_login(srv, env, cert)
    try:
        relay = one(srv, "moat-preauth")
        wait_for(lambda: proc_status(relay).get("State", "").startswith("S"))
        assert proc_status(relay)["Seccomp_filters"].strip() == "2"
        assert inject_syscall(relay, NR[name], *args) == ("killed", signal.SIGSYS)
    finally:
        c.sock.close()


# The key holder signs and does nothing else: anything beyond its socket, OpenSSL's
# memory and exiting is fatal.
KEY_HOLDER_FORBIDDEN = [("socket", (AF_INET, SOCK_STREAM, 0)), ("openat", (-100, 0, 0)),
                        ("execve", (0, 0, 0)), ("ptrace", (16, 1, 0, 0)), ("kill", (1, 0))]


@pytest.mark.parametrize("name,args", KEY_HOLDER_FORBIDDEN, ids=[n for n, _ in KEY_HOLDER_FORBIDDEN])
def test_key_holder_has_its_own_profile(server, env, cert, tracing, name, args):
    srv = server({"ssl_enable": True, "rsa_cert_file": cert[0], "rsa_private_key_file": cert[1]})
    c = tls_login(srv, env, cert)  # the control handshake started the key holder
    try:
        holder = one(srv, "moat-keyholder")
        wait_for(lambda: proc_status(holder).get("State", "").startswith("S"))
        assert proc_status(holder)["Seccomp"].strip() == "2"
        assert inject_syscall(holder, NR[name], *args) == ("killed", signal.SIGSYS)
        assert c.cmd("NOOP")[0] == 200  # the session goes on; its next handshake fails
    finally:
        c.sock.close()


# ---- point 9: tcp_wrappers' DNS lookups ----------------------------------------------------

def test_tcp_wrappers_lookups_are_not_done_as_root(server, env):
    from test_access import connect_from
    from test_wrappers import FakeDns
    added = [env.etc.add_file("/etc/resolv.conf", "nameserver 127.0.0.1\noptions attempts:1\n"),
             env.etc.add_file("/etc/hosts", "127.0.0.1 localhost\n"),
             env.etc.add_file("/etc/hosts.allow", ""),
             # A name rule: hosts_access must look the client's name up.
             env.etc.add_file("/etc/hosts.deny", "moatftpd: .example.invalid\n")]
    dns = FakeDns()
    try:
        srv = server({"tcp_wrappers": True})
        with connect_from(srv, "127.0.0.2") as s:
            s.settimeout(20)
            assert s.recv(4096).startswith(b"220"), "refused"
        assert dns.uids, "no DNS query was made: the test proves nothing"
        assert 0 not in dns.uids, f"DNS queried as root: uids {dns.uids}"
    finally:
        dns.close()
        for path in added:
            env.etc.remove_file(path)


# ---- point 10: inherited resource limits ------------------------------------------------------

def test_sessions_work_under_a_low_inherited_file_limit(server):
    """A hard RLIMIT_NOFILE below the sandbox's 64, set on the running master: its
    sessions inherit it."""
    srv = server()
    resource.prlimit(srv.proc.pid, resource.RLIMIT_NOFILE, (48, 48))
    ftp = login(srv, "anonymous")
    assert "README" in ftp.nlst()
    assert "setrlimit" not in srv.stderr_text()
