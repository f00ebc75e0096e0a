"""Nothing lost under concurrent use: hundreds of transfers through an 11-port passive
range, more sessions than passive ports, upload locks (lock_upload_files), atomic
uploads (atomic_uploads), concurrent writers of one name, a full disk, a vanishing
client."""

import ftplib
import hashlib
import io
import os
import shutil
import socket
import subprocess
import threading

import pytest

import harness
from clients import curl
from conftest import is_vsftpd, login
from harness import code, raw_cmd

RANGE_SIZE = 11


def free_port_range(count, start=20000, stop=30000):
    """`count` consecutive ports free in this network namespace (below the ephemeral range)."""
    for lo in range(start, stop, count):
        socks = []
        try:
            for port in range(lo, lo + count):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return lo, lo + count - 1
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range")


@pytest.fixture
def ws(env):
    """A fresh directory (name, path) in alice's home, owned by her."""
    name, path = harness.user_workspace(env.alice, "ws-")
    yield name, path
    shutil.rmtree(path, ignore_errors=True)


def retr(ftp, name):
    out = io.BytesIO()
    ftp.retrbinary("RETR " + name, out.write)
    return out.getvalue()


def quit_quietly(ftp):
    try:
        ftp.quit()
    except (OSError, EOFError, ftplib.Error):
        pass


# --- passive ports in a small range -------------------------------------------------
@pytest.fixture
def small_range(server):
    lo, hi = free_port_range(RANGE_SIZE)
    srv = server({"pasv_min_port": lo, "pasv_max_port": hi, "chroot_local_user": False})
    return srv, lo, hi


def test_hundreds_of_transfers_through_eleven_ports(small_range, env, ws):
    """Each transfer leaves its port in TIME_WAIT; the next PASV must reuse it at once."""
    srv, lo, hi = small_range
    ftp = login(srv, env.alice)
    ftp.cwd(ws[0])
    ports = []
    makepasv = ftp.makepasv
    ftp.makepasv = lambda: ports.append(makepasv()) or ports[-1]
    for i in range(300):
        data = f"file {i}\n".encode() * (i + 1)
        if i % 3 == 0:
            ftp.storbinary(f"STOR f{i % 7}", io.BytesIO(data))
            assert retr(ftp, f"f{i % 7}") == data
        elif i % 3 == 1:
            assert f"f{(i - 1) % 7}" in ftp.nlst()
        else:
            lines = []
            ftp.retrlines("LIST", lines.append)
            assert lines
    quit_quietly(ftp)
    assert len(ports) >= 300
    assert {port for _, port in ports} <= set(range(lo, hi + 1))
    # curl: a fresh session (control connection) per run, through the same range.
    payload = b"".join(harness.pattern_chunks(100_000))
    src = os.path.join(ws[1], "src.bin")
    harness.put_file(src, payload, env.alice)
    for i in range(30):
        r = curl(srv, env.alice, f"/{ws[0]}/src.bin")
        assert r.stdout == payload, f"curl run {i}"


def hold_pasv(srv, user):
    ftp = login(srv, user)
    return ftp, raw_cmd(ftp, "PASV")


@pytest.mark.moatftpd_only
def test_more_sessions_than_passive_ports(small_range, env):
    """11 sessions each hold a passive port; the 12th gets a clean 425 and its session
    goes on; once a port is free again its PASV works. (vsftpd 3.0.3 ends the 12th
    session with "500 OOPS: vsf_sysutil_bind".)"""
    srv, lo, hi = small_range
    sessions = []
    try:
        for _ in range(RANGE_SIZE):
            ftp, rep = hold_pasv(srv, env.alice)
            sessions.append(ftp)
            assert code(rep) == 227, rep
        last = login(srv, env.alice)
        sessions.append(last)
        rep = raw_cmd(last, "PASV")
        assert code(rep) == 425, rep
        assert "no free port" in rep
        assert code(raw_cmd(last, "NOOP")) == 200
        # Session 0 drops its passive listener (PORT replaces it): one port is free.
        assert code(raw_cmd(sessions[0], "PORT 127,0,0,1,200,1")) == 200
        rep = raw_cmd(last, "PASV")
        assert code(rep) == 227, rep
        assert lo <= harness_pasv_port(rep) <= hi
        assert isinstance(last.nlst(), list)  # and it serves a transfer
    finally:
        for ftp in sessions:
            quit_quietly(ftp)


def harness_pasv_port(reply):
    nums = reply[reply.index("(") + 1:reply.index(")")].split(",")
    return int(nums[4]) * 256 + int(nums[5])
