"""Listings are streamed: the 150 goes out before the directory is read, and the lines
are formatted while the data socket drains (a chunk at a time), not all at once. The
first chunk reads the directory whole, each entry stat'ed as its name arrives (while
the kernel's caches still hold it: a tenth less system time than stat'ing the sorted
names later), so the listing shows the directory as it was then. Proved without
timing: the client stops reading once the socket buffers are full, and then the
worker still has the directory open, and entries removed at that point are still
listed."""

import contextlib
import ftplib
import os
import shutil
import socket
import stat

import pytest

import harness
from conftest import BASE_OPTIONS
from harness import wait_for
from test_master_memory import sanitized
from test_throttle import throttle
from test_transfer_end import TCP_WMEM

ENTRIES = 4000
NAME = "n" * 120  # + a number: about 180 bytes a LIST line, 700 KB a listing


@contextlib.contextmanager
def small_send_buffers():
    """Send buffers of at most 128 KiB (this namespace's only), so that the listing,
    several times that, cannot all sit in the kernel while the client is not reading.
    Entered once the server is up (its start-up self-test sends through loopback)."""
    assert os.environ.get("MOAT_NSRUN") == "1"
    with open(TCP_WMEM) as f:
        saved = f.read()
    with open(TCP_WMEM, "w") as f:
        f.write("4096 16384 131072")
    try:
        yield
    finally:
        with open(TCP_WMEM, "w") as f:
            f.write(saved)


@pytest.fixture
def big_dir(env):
    name, path = harness.user_workspace(env.alice, "stream-")
    for i in range(ENTRIES):
        open(os.path.join(path, f"{NAME}{i:05d}"), "wb").close()
    yield name, path
    shutil.rmtree(path, ignore_errors=True)


def holds_directory(srv, path):
    """Whether any server process has `path` open (as the directory of a listing)."""
    want = os.stat(path)
    for pid, _ in srv.descendants():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                st = os.stat(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode) and (st.st_dev, st.st_ino) == (want.st_dev, want.st_ino):
                return True
    return False


@pytest.mark.moatftpd_only
def test_large_list_streams(server, env, big_dir):
    srv = server(dict(BASE_OPTIONS))
    with small_send_buffers():
        list_while_reading_nothing(srv, env, big_dir)


def list_while_reading_nothing(srv, env, big_dir):
    ftp = srv.connect()
    ftp.login(env.alice.name, env.alice.password)
    ftp.cwd(big_dir[0])
    host, port = ftplib.parse227(ftp.sendcmd("PASV"))
    data = socket.socket()
    data.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    data.settimeout(15)
    data.connect((host, port))
    ftp.sock.sendall(b"LIST\r\n")
    assert ftp.getresp().startswith("150")
    first = data.recv(4096)
    assert first
    # The client reads no more: the worker must be waiting for the socket to drain
    # with the directory still open (a listing built whole closes it before the 150).
    assert wait_for(lambda: holds_directory(srv, big_dir[1])), \
        "the listing was built whole before it was sent"
    for entry in os.listdir(big_dir[1]):
        os.unlink(os.path.join(big_dir[1], entry))
    rest = b""
    while chunk := data.recv(65536):
        rest += chunk
    data.close()
    assert ftp.voidresp().startswith("226")
    lines = (first + rest).split(b"\r\n")
    assert lines[-1] == b""
    listed = [line.rsplit(b" ", 1)[1] for line in lines[:-1]]
    assert listed == sorted(listed)
    assert listed[0] == f"{NAME}00000".encode()
    # Entries removed after the first chunk are still listed: the directory was read
    # and stat'ed whole for it.
    assert listed == [f"{NAME}{i:05d}".encode() for i in range(ENTRIES)]
    assert not holds_directory(srv, big_dir[1])
    ftp.quit()


@pytest.mark.moatftpd_only
def test_throttled_listing_arrives_whole(server, env, tmpdir_e2e):
    """With mod_throttle loaded a listing of several chunks arrives whole and in
    order (mod_throttle leaves listings unlimited, as vsftpd does)."""
    root = harness.make_dir(os.path.join(tmpdir_e2e, "anon"), 0o755)
    for i in range(1000):
        open(os.path.join(root, f"{NAME}{i:05d}"), "wb").close()
    rate = 1_000_000
    srv = server(throttle(anon_root=root, anon_max_rate=rate, **BASE_OPTIONS))
    ftp = srv.connect()
    ftp.login("anonymous", "x@example.org")
    lines = []
    ftp.retrlines("LIST", lines.append)
    assert [line.rsplit(" ", 1)[1] for line in lines] == [f"{NAME}{i:05d}" for i in range(1000)]
    size = sum(len(line) + 2 for line in lines)
    assert size > 2 * 64 * 1024
    ftp.quit()


def worker_memory(srv):
    """(minor faults so far, resident KiB) of the one post-login worker."""
    pids = [pid for pid, comm in srv.descendants() if comm == "moat-session"]
    assert len(pids) == 1, srv.descendants()
    with open(f"/proc/{pids[0]}/stat") as f:
        minflt = int(f.read().rsplit(")", 1)[1].split()[7])
    with open(f"/proc/{pids[0]}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return minflt, rss


@pytest.mark.moatftpd_only
def test_listings_reuse_memory_and_return_it_when_idle(server, env, big_dir):
    """Back-to-back listings use the memory the first one took (a repeated LIST used to
    fault its megabyte in again each time: 5% of its time); a second after the last
    transfer the worker gives it back, so an idle session does not keep it."""
    srv = server(dict(BASE_OPTIONS))
    if sanitized(srv.proc.pid):
        pytest.skip("AddressSanitizer build: its allocator, not malloc's thresholds")
    ftp = srv.connect()
    ftp.login(env.alice.name, env.alice.password)
    ftp.cwd(big_dir[0])
    baseline_faults, baseline_rss = worker_memory(srv)
    faults = []
    for _ in range(3):
        lines = []
        ftp.retrlines("LIST", lines.append)
        assert len(lines) == ENTRIES
        now, rss = worker_memory(srv)
        faults.append(now - baseline_faults)
        baseline_faults = now
    assert faults[0] > 200, faults  # a listing of 4,000 entries takes ~1 MiB
    assert faults[1] < faults[0] / 4 and faults[2] < faults[0] / 4, faults
    assert rss > baseline_rss + 500, (baseline_rss, rss)
    assert wait_for(lambda: worker_memory(srv)[1] < baseline_rss + 200, timeout=10), \
        (baseline_rss, worker_memory(srv))
    ftp.quit()
