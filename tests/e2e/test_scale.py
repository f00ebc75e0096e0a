# SPDX-License-Identifier: GPL-2.0-or-later
"""Many sessions at once: what the master holds per session, and that its descriptor
limit does not cap the number of sessions (running out of descriptors is
test_faults.py's). The 5,000-session run is `make bench` (tests/bench), not here.
"""

import os
import resource

import pytest

import harness

moatftpd_only = pytest.mark.moatftpd_only
SESSIONS = 100


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def idle_sessions(srv, count):
    conns = []
    for _ in range(count):
        c = harness.Control("127.0.0.1", srv.port)
        conns.append(c)
        greeting = c.reply()
        assert greeting[0] == 220, (greeting, srv.stderr_text())
        assert c.login("anonymous", "x") == 230
    return conns


def close_all(conns):
    for c in conns:
        c.close()


@moatftpd_only
def test_master_holds_no_descriptor_per_session(server):
    """Without a module that listens for failed logins, a session costs the master no
    descriptor, so its RLIMIT_NOFILE does not cap the number of sessions."""
    srv = server()
    conns = idle_sessions(srv, 1)  # the event loop's descriptors exist by then
    before = open_fds(srv.proc.pid)
    conns += idle_sessions(srv, 20)
    try:
        assert open_fds(srv.proc.pid) == before
    finally:
        close_all(conns)


@moatftpd_only
def test_more_sessions_than_the_masters_descriptor_limit(server):
    srv = server()
    limit = 64  # the workers' own limit: a lower hard limit would refuse it them
    assert open_fds(srv.proc.pid) + 20 < limit < SESSIONS
    resource.prlimit(srv.proc.pid, resource.RLIMIT_NOFILE, (limit, limit))
    conns = idle_sessions(srv, SESSIONS)
    try:
        assert all(c.cmd("NOOP")[0] == 200 for c in conns)
    finally:
        close_all(conns)
