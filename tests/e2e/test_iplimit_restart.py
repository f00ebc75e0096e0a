# SPDX-License-Identifier: GPL-2.0-or-later
"""mod_iplimit's Redis child (iplimit_backend=redis) is started again when it dies: the
master notices at its next hook (the module ABI has no timer), waits 1 s, doubling up
to 60 s while children keep dying at once, forks a new child and tells it the node's
bans and counts; the child relearns from Redis the bans the other nodes made. Two
nodes and a real redis-server in the test's network namespace; clients come from
127.0.0.8 (a ban) and 127.0.0.9 (the pokes that make hooks run)."""

import ftplib
import os
import re
import shutil
import signal
import time

import pytest

from harness import proc_root, proc_status, wait_for
from test_cluster import BANNED, FAILURES_TO_BAN, REDIS_PORT, Redis, moatftpd
from test_helper_table import one
from test_proxy_protocol import module_dir

pytestmark = pytest.mark.moatftpd_only

BANNED_CLIENT = "127.0.0.8"
POKER = "127.0.0.9"
EXITED = r"mod_iplimit: redis child exited: this node counts and bans alone; restarting it in (\d+) s"
RESTARTED = r"mod_iplimit: redis child restarted \(pid (\d+)\)"
SHARING_AGAIN = "mod_iplimit: redis child restarted and connected: sharing bans and counts again"


@pytest.fixture
def redis(tmpdir_e2e):
    binary = shutil.which("redis-server")
    if not binary:
        pytest.skip("redis-server not installed (contrib/install-deps.sh installs it)")
    r = Redis(binary, tmpdir_e2e)
    r.start()
    yield r
    r.kill()


@pytest.fixture
def node(server, redis, tmpdir_e2e):
    """A factory of nodes sharing `redis`, each once its Redis child has connected."""
    count = [0]

    def make():
        count[0] += 1
        srv = server({"load_module": "mod_iplimit", "module_dir": module_dir(),
                      "iplimit_backend": "redis",
                      "iplimit_redis_address": f"127.0.0.1:{REDIS_PORT}",
                      "max_login_failures_per_ip": FAILURES_TO_BAN,
                      "control_socket": os.path.join(tmpdir_e2e, f"node{count[0]}.sock")})
        assert srv.wait_stderr(r"redis 127\.0\.0\.1:\d+ reachable"), srv.stderr_text()
        return srv
    return make


def connect(srv, source):
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", srv.port, timeout=15, source_address=(source, 0))
    return ftp


def poke(srv):
    """One session, so that the master's admit and session_closed hooks run."""
    connect(srv, POKER).quit()
    return True


def master_descriptors(srv):
    """What the master holds, once only the Redis child is left below it: a new link
    has a new socket inode, so sockets are compared by kind."""
    assert wait_for(lambda: all(c == "moat-iplimit" for _, c in srv.descendants()),
                    timeout=30), srv.descendants()
    pid = srv.proc.pid
    links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    return sorted(re.sub(r"\[\d+\]", "[]", t) for t in links)


def dead(pid):
    st = proc_status(pid)
    return not st or st.get("State", "").startswith("Z")


def test_killed_redis_child_is_restarted_and_shares_bans_again(node, env):
    here, other = node(), node()
    old = one(here, "moat-iplimit")
    before = master_descriptors(here)
    os.kill(old, signal.SIGKILL)
    assert wait_for(lambda: dead(old))

    # A new child appears once clients come again: the master found the old one gone
    # at a hook and started the next after a second.
    def restarted():
        poke(here)
        return [p for p in here.pids("moat-iplimit") if p != old]
    new = wait_for(restarted, timeout=30)
    assert new and len(new) == 1, here.descendants()
    assert here.wait_stderr(EXITED)[1] == "1", here.stderr_text()
    assert here.wait_stderr(RESTARTED)[1] == str(new[0])
    assert wait_for(lambda: poke(here) and SHARING_AGAIN in here.stderr_text(), timeout=30), \
        here.stderr_text()
    # The new child is confined as the first was.
    status = proc_status(new[0])
    assert status["Seccomp"].strip() == "2" and status["NoNewPrivs"].strip() == "1", status
    assert proc_root(new[0]) == here.secure_chroot_dir

    # A ban made on the other node afterwards holds here too.
    for _ in range(FAILURES_TO_BAN):
        ftp = connect(other, BANNED_CLIENT)
        with pytest.raises(ftplib.error_perm):
            ftp.login(env.alice.name, "wrong password")
        ftp.close()
    assert here.wait_stderr(rf"redis: {re.escape(BANNED_CLIENT)} banned on all nodes", timeout=15), \
        here.stderr_text()
    with pytest.raises(ftplib.error_temp, match=BANNED):
        connect(here, BANNED_CLIENT)
    status, out = moatftpd("--bans", "-c", here.config_path)
    assert status == 0 and out.startswith(f"{BANNED_CLIENT} "), out
    # The old link was closed: the master holds what it held before the kill.
    assert master_descriptors(here) == before


def test_restarts_back_off_when_the_child_cannot_start(node):
    srv = node()
    old = one(srv, "moat-iplimit")
    # A child forked from now on cannot enter its sandbox: its root is gone.
    os.rmdir(srv.secure_chroot_dir)
    os.kill(old, signal.SIGKILL)
    assert wait_for(lambda: dead(old))

    # The operator's control socket makes the master's control hook run, without the
    # sessions that could not start either; asked many times a second, the master still
    # waits longer before each new child.
    waits = []
    polls = 0
    deadline = time.monotonic() + 60
    while len(waits) < 4 and time.monotonic() < deadline:
        assert moatftpd("--bans", "-c", srv.config_path)[0] == 0
        polls += 1
        waits = [int(w) for w in re.findall(EXITED, srv.stderr_text())]
    assert waits == [1, 2, 4, 8], srv.stderr_text()
    text = srv.stderr_text()
    restarts = re.findall(RESTARTED, text)
    assert len(restarts) == 3, text
    assert len(re.findall(r"redis child: chroot .*; not sharing bans", text)) == 3, text
    assert polls > 3 * len(restarts), polls  # pokes were not restarts
    assert srv.proc.poll() is None
