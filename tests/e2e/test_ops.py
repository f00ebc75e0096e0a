# SPDX-License-Identifier: GPL-2.0-or-later
"""Operations (issue 13): process titles that show who is connected and what each
session does, read from /proc/PID/cmdline during real transfers; the pid file; the
control socket behind `moatftpd --who` and `--kick`.
"""

import os
import re
import stat
import subprocess

import pytest

from harness import Control, HarnessError, proc_status, wait_for
from test_faults import HEAD, Held, files, logged_in  # noqa: F401 (files: a fixture)

pytestmark = pytest.mark.moatftpd_only
FAR = {"idle_session_timeout": 600, "data_connection_timeout": 600}


def cmdline(pid):
    """The title as ps reads it: the arguments area, trailing padding dropped."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().rstrip(b"\0").decode("ascii")
    except OSError:
        return None


def children(pid, comm):
    return [p for p in map(int, filter(str.isdigit, os.listdir("/proc")))
            if proc_status(p).get("PPid") == str(pid) and proc_status(p).get("Name") == comm]


def only(pids):
    assert len(pids) == 1, pids
    return pids[0]


def session_of(srv, ctl):
    """The helper and post-login worker of the session on control connection `ctl`:
    the newest helper is its, as the test opens sessions one at a time."""
    return session_of_helper(max(srv.pids("moat-helper")))


def title_bytes(title):
    m = re.search(r" \((\d+) bytes\)$", title or "")
    return int(m.group(1)) if m else -1


def test_titles_show_client_user_and_transfer(server, env, files):
    srv = server(FAR)
    # Set once the master's loop is ready, just after the "listening on" lines.
    assert wait_for(lambda: cmdline(srv.proc.pid) == "moatftpd: listening"), cmdline(srv.proc.pid)
    ctl = Control(*srv.address(), timeout=30)
    assert ctl.reply()[0] == 220
    helper = only(srv.pids("moat-helper"))
    assert cmdline(helper) == "moatftpd: 127.0.0.1: connected"
    assert cmdline(only(children(helper, "moat-preauth"))) == "moatftpd: 127.0.0.1: connected"
    ctl.close()
    wait_for(lambda: not srv.pids("moat-helper"))

    held = Held(srv, env.alice, "RETR", "big.bin")
    try:
        helper, worker = session_of(srv, held.ctl)
        assert cmdline(helper) == "moatftpd: 127.0.0.1: alice"
        title = wait_for(lambda: title_bytes(cmdline(worker)) >= HEAD and cmdline(worker))
        assert title.startswith("moatftpd: 127.0.0.1: alice: RETR big.bin ("), title
        held.finish()
        assert wait_for(lambda: cmdline(worker) == "moatftpd: 127.0.0.1: alice: IDLE"), cmdline(worker)
        # A listing waiting for its data connection, then an upload in flight.
        assert held.ctl.cmd("PASV")[0] == 227
        held.ctl.send("LIST\r\n")
        assert wait_for(lambda: cmdline(worker) == "moatftpd: 127.0.0.1: alice: LIST (0 bytes)"), \
            cmdline(worker)
    finally:
        held.close()
    up = Held(srv, env.bob, "STOR", "up.bin")
    try:
        _, worker = session_of(srv, up.ctl)
        assert wait_for(lambda: (cmdline(worker) or "").startswith(
            "moatftpd: 127.0.0.1: bob: STOR up.bin (") and title_bytes(cmdline(worker)) >= HEAD), \
            cmdline(worker)
        up.finish()
    finally:
        up.close()


ODD_NAME = "a\\b\u00e9 moatftpd: 1.2.3.4: root: IDLE"  # what could pass for another title


def test_titles_escape_client_text_and_name_anonymous(server, env):
    path = os.path.join(env.anon_root, ODD_NAME)
    with open(path, "wb") as f:
        f.write(b"x")
    os.chmod(path, 0o644)
    srv = server(FAR)
    ctl = logged_in(srv, "anonymous")
    try:
        helper, worker = session_of(srv, ctl)
        assert cmdline(helper) == "moatftpd: 127.0.0.1: <anonymous>"
        assert cmdline(worker) == "moatftpd: 127.0.0.1: <anonymous>: IDLE"
        # Nobody connects to the passive port: the RETR stays waiting, in the title.
        assert ctl.cmd("PASV")[0] == 227
        ctl.send(("RETR " + ODD_NAME + "\r\n").encode())
        title = wait_for(lambda: "RETR" in (cmdline(worker) or "") and cmdline(worker))
        assert title == ("moatftpd: 127.0.0.1: <anonymous>: RETR a\\x5cb\\xc3\\xa9 "
                         "moatftpd: 1.2.3.4: root: IDLE (0 bytes)"), title
    finally:
        ctl.close()
        os.unlink(path)


# ---- pid file ---------------------------------------------------------------------

def read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def test_pid_file_written_held_and_removed(server, tmpdir_e2e):
    path = os.path.join(tmpdir_e2e, "moatftpd.pid")
    first = server({"pid_file": path})
    assert wait_for(lambda: read_text(path) == f"{first.proc.pid}\n"), read_text(path)
    second = server({"pid_file": path}, start=False)
    with pytest.raises(HarnessError, match="held by a running moatftpd"):
        second.start()
    assert read_text(path) == f"{first.proc.pid}\n"
    # A master that claims its pid file and then cannot listen leaves none behind.
    other = os.path.join(tmpdir_e2e, "other.pid")
    with pytest.raises(HarnessError, match="cannot listen"):
        server({"pid_file": other, "listen_port": first.port})
    assert not os.path.exists(other)
    first.terminate()
    assert first.proc.wait(20) == 0
    assert not os.path.exists(path)
    # A file left by a master that died (no lock) does not stop the next one.
    with open(path, "w") as f:
        f.write("999999\n")
    third = server({"pid_file": path})
    assert wait_for(lambda: read_text(path) == f"{third.proc.pid}\n"), read_text(path)


# ---- control socket: --who and --kick ----------------------------------------------

def ask(srv, *args, uid=None):
    """moatftpd --who/--kick against srv's config: (exit status, stdout lines)."""
    out = subprocess.run([srv.binary, *args, "-c", srv.config_path], capture_output=True,
                         timeout=30, preexec_fn=(lambda: os.setuid(uid)) if uid else None)
    return out.returncode, out.stdout.decode().splitlines()


def who(srv):
    status, lines = ask(srv, "--who")
    assert status == 0, lines
    return {int(l.split(" ", 1)[0]): l.split(" ", 5) for l in lines}


def test_who_shows_sessions_and_kick_ends_one(server, env, files, tmpdir_e2e):
    sock = os.path.join(tmpdir_e2e, "moatftpd.sock")
    srv = server({**FAR, "control_socket": sock})
    assert wait_for(lambda: os.path.exists(sock))
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    held = Held(srv, env.alice, "RETR", "big.bin")
    anon = logged_in(srv, "anonymous")
    try:
        anon_helper = max(srv.pids("moat-helper"))
        alice_helper = min(srv.pids("moat-helper"))
        rows = wait_for(lambda: (lambda r: int(r.get(alice_helper, ["0"] * 5)[4].replace("-", "0"))
                                 >= HEAD and r)(who(srv)))
        assert rows, who(srv)
        assert rows[alice_helper][1:4] == ["127.0.0.1", "alice", "RETR"], rows
        assert rows[alice_helper][5] == "big.bin", rows
        assert rows[anon_helper][1:] == ["127.0.0.1", "<anonymous>", "IDLE", "-", "-"], rows

        # Root only: the socket's mode, and SO_PEERCRED behind it.
        assert ask(srv, "--who", uid=65534)[0] == 1
        os.chmod(sock, 0o666)
        assert ask(srv, "--who", uid=65534) == (1, [])

        # --kick takes any pid of a session (ps shows the worker's), nothing else.
        assert ask(srv, "--kick", "1")[0] == 1
        assert ask(srv, "--kick", str(srv.proc.pid))[0] == 1
        _, worker = session_of_helper(anon_helper)
        status, lines = ask(srv, "--kick", str(worker))
        assert status == 0, lines
        assert wait_for(lambda: not os.path.exists(f"/proc/{anon_helper}")), anon_helper
        assert anon.reply()[0] in (None, 421)
        assert sorted(who(srv)) == [alice_helper]
        held.finish()
    finally:
        held.close()
        anon.close()


def session_of_helper(helper):
    return helper, only(wait_for(lambda: children(helper, "moat-session")))
