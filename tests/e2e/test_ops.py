# SPDX-License-Identifier: GPL-2.0-or-later
"""Operations (issue 13): process titles that show who is connected and what each
session does, read from /proc/PID/cmdline during real transfers; the pid file; the
control socket behind `moatftpd --who` and `--kick`.
"""

import os
import re

import pytest

from harness import Control, proc_status, wait_for
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
    helper = max(srv.pids("moat-helper"))
    worker = wait_for(lambda: children(helper, "moat-session"))
    return helper, only(worker)


def title_bytes(title):
    m = re.search(r" \((\d+) bytes\)$", title or "")
    return int(m.group(1)) if m else -1


def test_titles_show_client_user_and_transfer(server, env, files):
    srv = server(FAR)
    assert cmdline(srv.proc.pid) == "moatftpd: listening"
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
    finally:
        held.close()


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
