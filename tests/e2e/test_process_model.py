# SPDX-License-Identifier: GPL-2.0-or-later
"""The process model read from /proc: who runs as whom, where, sandboxed, holding what."""

import os
import pwd
import signal

import pytest

import harness
from conftest import login
from harness import proc_root, proc_status, proc_uids, wait_for

pytestmark = pytest.mark.moatftpd_only


def one(srv, comm, uid=None):
    """The single live process with that comm below the master (and uid, if given)."""
    def find():
        pids = srv.pids(comm)
        if uid is not None:
            pids = [p for p in pids if proc_uids(p)[0] == uid]
        return pids
    pids = wait_for(lambda: len(find()) == 1 and find())
    assert pids and len(pids) == 1, f"{comm}: {srv.descendants()}"
    return pids[0]


def assert_sandboxed(pid, uid):
    st = proc_status(pid)
    assert proc_uids(pid) == (uid, uid, uid, uid)
    assert st["NoNewPrivs"].strip() == "1"
    assert st["Seccomp"].strip() == "2"
    assert st["CapEff"].strip() == "0000000000000000"


def test_master_is_named_and_root(server):
    srv = server()
    assert harness.proc_comm(srv.proc.pid) == "moatftpd"
    assert proc_uids(srv.proc.pid)[1] == 0


def test_preauth_worker(server):
    srv = server()
    ftp = srv.connect()
    pid = one(srv, "moat-preauth")
    assert_sandboxed(pid, pwd.getpwnam("nobody").pw_uid)
    assert proc_root(pid) == srv.secure_chroot_dir
    helper = one(srv, "moat-helper")
    assert int(proc_status(pid)["PPid"]) == helper
    assert int(proc_status(helper)["PPid"]) == srv.proc.pid
    ftp.close()


def test_session_worker_not_chrooted(server, env):
    srv = server({"chroot_local_user": False})
    ftp = login(srv, env.alice)
    pid = one(srv, "moat-session")
    assert_sandboxed(pid, env.alice.uid)
    assert proc_root(pid) == "/"
    assert wait_for(lambda: not srv.pids("moat-preauth")), "pre-auth worker outlived login"
    ftp.quit()


def test_session_worker_chrooted(server, env):
    srv = server({"chroot_local_user": True, "allow_writeable_chroot": True})
    ftp = login(srv, env.alice)
    pid = one(srv, "moat-session")
    assert_sandboxed(pid, env.alice.uid)
    assert proc_root(pid) == env.alice.home
    ftp.quit()


def test_anonymous_session_worker(server, env):
    srv = server()
    ftp = login(srv, "anonymous")
    pid = one(srv, "moat-session")
    assert_sandboxed(pid, env.ftp.uid)
    assert proc_root(pid) == env.anon_root
    ftp.quit()


def client_socket_inodes(ftp):
    """Inodes of the server side of this client's control connection."""
    port = ftp.sock.getsockname()[1]
    mine = harness.proc_socket_inodes(os.getpid())
    return harness.tcp_inodes_for_port(port) - mine


def holders(srv, inodes):
    return {pid: comm for pid, comm in srv.descendants() + [(srv.proc.pid, "moatftpd")]
            if harness.proc_socket_inodes(pid) & inodes}


def root_processes_clean(srv, inodes):
    held = holders(srv, inodes)
    return not any(comm in ("moatftpd", "moat-helper") for comm in held.values())


def test_root_processes_do_not_hold_client_socket(server, env):
    srv = server()
    ftp = srv.connect()
    one(srv, "moat-preauth")
    inodes = client_socket_inodes(ftp)
    assert inodes, "control connection not found in /proc/net/tcp"
    assert wait_for(lambda: root_processes_clean(srv, inodes)), holders(srv, inodes)
    assert "moat-preauth" in holders(srv, inodes).values()
    ftp.login(env.alice.name, env.alice.password)
    one(srv, "moat-session")
    assert wait_for(lambda: root_processes_clean(srv, inodes)), holders(srv, inodes)
    assert "moat-session" in holders(srv, inodes).values()
    ftp.quit()


def test_killed_worker_does_not_affect_other_session(server, env):
    srv = server()
    ftp_a = login(srv, env.alice)
    ftp_b = login(srv, env.bob)
    victim = one(srv, "moat-session", uid=env.alice.uid)
    os.kill(victim, signal.SIGKILL)
    with pytest.raises((EOFError, OSError, harness.ftplib.Error)):
        ftp_a.voidcmd("NOOP")
        ftp_a.voidcmd("NOOP")
    assert wait_for(lambda: victim not in srv.pids("moat-session"))
    assert ftp_b.voidcmd("NOOP").startswith("200")
    assert ftp_b.pwd() == env.bob.home
    assert "notes.txt" not in ftp_b.nlst()
    ftp_c = login(srv, env.alice)
    assert "notes.txt" in ftp_c.nlst()
    ftp_b.quit()
    ftp_c.quit()


def test_sessions_are_separate_processes(server, env):
    srv = server()
    ftps = [login(srv, env.alice) for _ in range(3)]
    pids = wait_for(lambda: len(srv.pids("moat-session")) == 3 and srv.pids("moat-session"))
    assert pids and len(set(pids)) == 3
    assert len(srv.pids("moat-helper")) == 3
    for f in ftps:
        f.quit()
    assert wait_for(lambda: not srv.pids("moat-session") and not srv.pids("moat-helper"))


def test_a_signal_to_the_masters_group_leaves_sessions_running(server, env):
    """Each session is its own session and process group (as in vsftpd): Ctrl-C on a
    server in the foreground stops the master, not the logged-in sessions."""
    srv = server()
    ftp = login(srv, env.alice)
    helper = one(srv, "moat-helper")
    assert os.getsid(helper) == helper != os.getpgid(srv.proc.pid)
    os.killpg(os.getpgid(srv.proc.pid), signal.SIGINT)
    assert srv.proc.wait(10) == 0
    assert ftp.voidcmd("NOOP").startswith("200")
    ftp.quit()
