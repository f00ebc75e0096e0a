# SPDX-License-Identifier: GPL-2.0-or-later
"""mod_iplimit's Redis child (iplimit_backend=redis) is sandboxed like a worker: it
reads what Redis, or whoever answers at its address, sends, through hiredis' parser.
It runs as nopriv_user in the empty secure_chroot_dir with no_new_privs and its own
seccomp allow-list; system calls outside it, injected into the live child with ptrace
(test_helper_table.py's helpers), kill it, and the node goes on alone."""

import ftplib
import os
import pwd
import shutil
import signal

import pytest

from harness import proc_root, proc_status, wait_for
from test_cluster import FAILURES_TO_BAN, REDIS_PORT, Redis
from test_helper_table import inject_syscall, one, tracing  # noqa: F401 (a fixture)
from test_proxy_protocol import module_dir

pytestmark = pytest.mark.moatftpd_only

NR = {"openat": 257, "execve": 59, "ptrace": 101, "kill": 62, "socket": 41, "bind": 49,
      "listen": 50, "setuid": 105, "fork": 57, "setsockopt": 54, "fcntl": 72,
      "mprotect": 10}
AT_FDCWD = -100
AF_UNIX, AF_INET, AF_NETLINK = 1, 2, 16
SOCK_STREAM, SOCK_DGRAM, SOCK_RAW = 1, 2, 3
SOL_SOCKET, SO_BINDTODEVICE = 1, 25
F_SETOWN = 8
PROT_READ_EXEC = 0x1 | 0x4


@pytest.fixture
def node(server, tmpdir_e2e):
    """One node with iplimit_backend=redis, once its Redis child has connected."""
    binary = shutil.which("redis-server")
    if not binary:
        pytest.skip("redis-server not installed (contrib/install-deps.sh installs it)")
    redis = Redis(binary, tmpdir_e2e)
    redis.start()
    try:
        srv = server({"load_module": "mod_iplimit", "module_dir": module_dir(),
                      "iplimit_backend": "redis",
                      "iplimit_redis_address": f"127.0.0.1:{REDIS_PORT}",
                      "max_login_failures_per_ip": FAILURES_TO_BAN})
        assert srv.wait_stderr(r"redis 127\.0\.0\.1:\d+ reachable"), srv.stderr_text()
        yield srv
    finally:
        redis.kill()


def redis_child(srv):
    pid = one(srv, "moat-iplimit")
    wait_for(lambda: proc_status(pid).get("State", "").startswith("S"))  # in its poll
    return pid


def test_redis_child_runs_confined_and_still_shares_bans(node, env):
    pid = redis_child(node)
    status = proc_status(pid)
    nobody = pwd.getpwnam("nobody")
    assert status["Seccomp"].strip() == "2", status
    assert status["NoNewPrivs"].strip() == "1", status
    assert status["Uid"].split() == [str(nobody.pw_uid)] * 4, status["Uid"]
    assert status["Gid"].split() == [str(nobody.pw_gid)] * 4, status["Gid"]
    assert status["Groups"].strip() == "", status["Groups"]
    assert status["CapEff"].strip("0\n ") == "" and status["CapPrm"].strip("0\n ") == ""
    assert proc_root(pid) == node.secure_chroot_dir
    # Beyond stdio, sockets only: the link to the master and its two to Redis.
    held = {fd: os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    assert all(t.startswith("socket:") for fd, t in held.items() if int(fd) > 2), held
    assert len(held) == 6, held

    # Inside all that it still does its work: failed logins counted in Redis, the ban
    # published and heard back.
    for _ in range(FAILURES_TO_BAN):
        ftp = node.connect()
        with pytest.raises(ftplib.error_perm):
            ftp.login(env.alice.name, "wrong password")
        ftp.close()
    assert node.wait_stderr(r"redis: 127\.0\.0\.1 banned on all nodes"), node.stderr_text()


# Beyond its allow-list: files, programs, tracing, signals, credentials, processes,
# sockets other than a TCP client's (a listener, UDP, unix, netlink), socket options
# other than hiredis' three, SIGIO ownership, executable memory.
FORBIDDEN = [
    ("openat", (AT_FDCWD, 0, 0)),
    ("execve", (0, 0, 0)),
    ("ptrace", (16, 1, 0, 0)),
    ("kill", (1, signal.SIGTERM)),
    ("setuid", (0,)),
    ("fork", ()),
    ("socket_unix", (AF_UNIX, SOCK_STREAM, 0)),
    ("socket_udp", (AF_INET, SOCK_DGRAM, 0)),
    ("socket_netlink", (AF_NETLINK, SOCK_RAW, 0)),
    ("bind", (3, 0, 0)),
    ("listen", (3, 1)),
    ("setsockopt", (3, SOL_SOCKET, SO_BINDTODEVICE, 0, 0)),
    ("fcntl", (3, F_SETOWN, 1)),
    ("mprotect", (0, 4096, PROT_READ_EXEC)),
]


@pytest.mark.parametrize("name,args", FORBIDDEN, ids=[n for n, _ in FORBIDDEN])
def test_redis_child_killed_for_forbidden_call(node, tracing, name, args):
    pid = redis_child(node)
    assert inject_syscall(pid, NR[name.split("_")[0]], *args) == ("killed", signal.SIGSYS)
    # The master notices at its next decision and goes on with its own table.
    ftp = node.connect()
    ftp.login("anonymous", "e2e@example.org")
    ftp.quit()
    assert node.wait_stderr(r"redis child exited: this node counts and bans alone"), \
        node.stderr_text()
