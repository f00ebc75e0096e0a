# SPDX-License-Identifier: GPL-2.0-or-later
"""Nothing lost under concurrent use: hundreds of transfers through an 11-port passive
range, more sessions than passive ports, upload locks (lock_upload_files), atomic
uploads (atomic_uploads), concurrent writers of one name, a full disk, a vanishing
client."""

import ftplib
import hashlib
import io
import os
import shutil
import signal
import socket
import struct
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


# --- helpers for uploads ------------------------------------------------------------
MB = 1 << 20


def content(tag, size):
    """Distinct, deterministic contents per tag."""
    return b"".join(harness.pattern_chunks(size, chunk=256 * 1024, seed=tag.encode()))


def sha(data):
    return hashlib.sha256(data).hexdigest()


def leftovers(directory, name):
    """Temporary files of atomic uploads of `name` still in `directory`."""
    return [n for n in os.listdir(directory) if n.startswith("." + name + ".moat-")]


def stor_chunks(ftp, cmd, chunks, after_150=None):
    """STOR from an iterable of chunks; returns the final reply code, also when the
    server ends the transfer early (the data socket breaks under the client)."""
    try:
        conn = ftp.transfercmd(cmd)
    except ftplib.Error as exc:
        return int(str(exc)[:3])
    if after_150:
        after_150()
    with conn:
        try:
            for chunk in chunks:
                conn.sendall(chunk)
        except OSError:
            pass
    try:
        return int(ftp.voidresp()[:3])
    except ftplib.Error as exc:
        return int(str(exc)[:3])


def alice_in(srv, env, ws):
    ftp = login(srv, env.alice)
    ftp.cwd(ws[0])
    return ftp


@pytest.fixture
def make_srv(server):
    def make(**options):
        return server(dict({"chroot_local_user": False}, **options))
    return make


def run_threads(targets):
    results = [None] * len(targets)
    errors = []

    def wrap(i, fn):
        try:
            results[i] = fn()
        except Exception as exc:  # reported below with the test's own assertion
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(i, fn)) for i, fn in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return results


# --- concurrent writers of one name ---------------------------------------------------
# atomic_uploads (moatftpd) or lock_upload_files (both servers): one complete upload.
WRITER_OPTIONS = [
    pytest.param({}, id="defaults", marks=pytest.mark.moatftpd_only),
    pytest.param({"atomic_uploads": False, "lock_upload_files": True}, id="locks",
                 marks=pytest.mark.moatftpd_only),
    pytest.param({"lock_upload_files": True}, id="vsftpd-locks"),
]


@pytest.mark.parametrize("writers", [2, 4])
@pytest.mark.parametrize("options", WRITER_OPTIONS)
def test_concurrent_writers_leave_one_complete_upload(make_srv, env, ws, options, writers):
    if not is_vsftpd() and options == {"lock_upload_files": True}:
        pytest.skip("the same as 'defaults' on moatftpd")
    srv = make_srv(**options)
    size = 8 * MB
    versions = [content(f"writer-{i}", size) for i in range(writers)]
    harness.put_file(os.path.join(ws[1], "same.bin"), b"old\n", env.alice)
    sessions = [alice_in(srv, env, ws) for _ in range(writers)]
    barrier = threading.Barrier(writers)

    def upload(i):
        ftp = sessions[i]
        ftp.voidcmd("TYPE I")
        chunks = (versions[i][o:o + 64 * 1024] for o in range(0, size, 64 * 1024))
        barrier.wait(30)  # all STORs go out together
        return stor_chunks(ftp, "STOR same.bin", chunks)

    codes = run_threads([lambda i=i: upload(i) for i in range(writers)])
    assert codes == [226] * writers
    final = harness.sha256_file(os.path.join(ws[1], "same.bin"))
    assert final in {sha(v) for v in versions}, "a mix of uploads"
    assert leftovers(ws[1], "same.bin") == []
    for ftp in sessions:
        quit_quietly(ftp)


# --- readers during a write -----------------------------------------------------------
def start_slow_stor(ftp, name, data):
    """STOR `name`, half of `data` sent; returns finish() -> final reply code."""
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("STOR " + name)
    half = len(data) // 2
    conn.sendall(data[:half])

    def finish():
        conn.sendall(data[half:])
        conn.close()
        return int(ftp.voidresp()[:3])
    return finish


@pytest.mark.moatftpd_only
def test_retr_during_atomic_stor_gets_the_old_version(make_srv, env, ws):
    srv = make_srv()
    old, new = content("old", 2 * MB), content("new", 4 * MB)
    harness.put_file(os.path.join(ws[1], "f.bin"), old, env.alice)
    writer, reader = alice_in(srv, env, ws), alice_in(srv, env, ws)
    finish = start_slow_stor(writer, "f.bin", new)
    assert retr(reader, "f.bin") == old
    assert len(leftovers(ws[1], "f.bin")) == 1  # the new version, under its temporary name
    assert finish() == 226
    assert retr(reader, "f.bin") == new
    assert leftovers(ws[1], "f.bin") == []


def test_retr_waits_for_a_locked_stor(make_srv, env, ws):
    """lock_upload_files without atomic uploads: RETR takes a read lock, so it waits
    for the writer and then sends the whole new version, never half of it."""
    srv = make_srv(atomic_uploads=False, lock_upload_files=True) if not is_vsftpd() \
        else make_srv(lock_upload_files=True)
    old, new = content("old", 2 * MB), content("new", 4 * MB)
    harness.put_file(os.path.join(ws[1], "f.bin"), old, env.alice)
    writer, reader = alice_in(srv, env, ws), alice_in(srv, env, ws)
    finish = start_slow_stor(writer, "f.bin", new)
    got = {}
    t = threading.Thread(target=lambda: got.update(data=retr(reader, "f.bin")))
    t.start()
    assert finish() == 226
    t.join(60)
    assert got["data"] == new


def hold_lock(path, exclusive=True):
    """A POSIX lock held by the test itself (conflicts with the server's OFD locks)."""
    import fcntl
    f = open(path, "r+b")
    fcntl.lockf(f, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
    return f


@pytest.mark.moatftpd_only
def test_lock_wait_keeps_the_session_responsive(make_srv, env, ws):
    """Waiting for a lock never blocks the worker: NOOP and STAT are answered before
    the RETR starts, ABOR ends the wait, and the file is served once it is free."""
    srv = make_srv()
    path = os.path.join(ws[1], "f.bin")
    harness.put_file(path, b"locked data\n", env.alice)
    ftp = alice_in(srv, env, ws)
    lock = hold_lock(path)
    ftp.voidcmd("TYPE I")
    data = socket.create_connection(ftp.makepasv())  # nothing but the lock holds it up
    ftp.putcmd("RETR f.bin")
    assert code(raw_cmd(ftp, "NOOP")) == 200  # first reply: the RETR has not started
    assert "in progress" in raw_cmd(ftp, "STAT")
    assert code(raw_cmd(ftp, "ABOR")) == 226
    data.close()
    assert code(raw_cmd(ftp, "NOOP")) == 200
    # Waiting again; the lock goes away; the RETR runs.
    got = {}
    t = threading.Thread(target=lambda: got.update(data=retr(ftp, "f.bin")))
    t.start()
    assert not got
    lock.close()
    t.join(30)
    assert got["data"] == b"locked data\n"
    quit_quietly(ftp)


@pytest.mark.moatftpd_only
def test_lock_wait_is_bounded_by_the_data_timeout(make_srv, env, ws):
    srv = make_srv(data_connection_timeout=1)
    path = os.path.join(ws[1], "f.bin")
    harness.put_file(path, b"data\n", env.alice)
    ftp = alice_in(srv, env, ws)
    lock = hold_lock(path, exclusive=False)  # a reader: STOR waits, RETR would not
    ftp.makepasv()
    rep = raw_cmd(ftp, "APPE f.bin")
    assert code(rep) == 450, rep
    assert code(raw_cmd(ftp, "NOOP")) == 200
    assert retr(ftp, "f.bin") == b"data\n"  # a read lock beside the test's
    lock.close()
    quit_quietly(ftp)


# --- failed uploads ---------------------------------------------------------------------
@pytest.mark.moatftpd_only
def test_abor_keeps_the_old_version(make_srv, env, ws):
    srv = make_srv()
    old = content("old", MB)
    harness.put_file(os.path.join(ws[1], "f.bin"), old, env.alice)
    ftp = alice_in(srv, env, ws)
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("STOR f.bin")
    conn.sendall(content("new", MB))
    assert code(ftp.abort()) == 426
    assert code(ftp.getresp()) == 226
    conn.close()
    assert harness.read_file(os.path.join(ws[1], "f.bin")) == old
    assert leftovers(ws[1], "f.bin") == []
    assert retr(ftp, "f.bin") == old


def worker_holding(srv, sock):
    """The server process at the other end of a client socket."""
    inodes = harness.tcp_inodes_for_port(sock.getsockname()[1])
    pids = [p for p, _ in srv.descendants() if harness.proc_socket_inodes(p) & inodes]
    assert len(pids) == 1, pids
    return pids[0]


def close_control(ftp):
    ftp.file.close()  # the socket closes with its last reference
    ftp.sock.close()


def temp_size(directory, name):
    temps = leftovers(directory, name)
    return os.path.getsize(os.path.join(directory, temps[0])) if temps else -1


def half_an_upload(srv, env, ws):
    """f.bin holds an old version; one session is half-way through a STOR of a new
    one, another is idle. -> (old, sent, other, ftp, data connection)"""
    old, sent = content("old", MB), content("new", MB // 2)
    harness.put_file(os.path.join(ws[1], "f.bin"), old, env.alice)
    other = alice_in(srv, env, ws)
    ftp = alice_in(srv, env, ws)
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("STOR f.bin")
    conn.sendall(sent)
    return old, sent, other, ftp, conn


@pytest.mark.moatftpd_only
@pytest.mark.parametrize("how", ["killed", "data-eof-first", "reset"])
def test_vanishing_client_keeps_the_old_version(make_srv, env, ws, how):
    """killed: a client process that dies closes both connections cleanly (FIN), the
    control one first. data-eof-first: the worker sees the data connection's EOF
    before the control one's (it is stopped while both close, data first): a clean
    EOF is no proof of a complete upload when the client is gone. reset: the data
    connection is reset and the control one stays: 426, the session goes on."""
    srv = make_srv(xferlog_enable=True, xferlog_std_format=True)
    old, sent, other, ftp, conn = half_an_upload(srv, env, ws)
    if how == "killed":
        close_control(ftp)
        conn.close()
    elif how == "data-eof-first":
        assert harness.wait_for(lambda: temp_size(ws[1], "f.bin") == len(sent))
        worker = worker_holding(srv, conn)
        os.kill(worker, signal.SIGSTOP)
        conn.close()
        close_control(ftp)
        os.kill(worker, signal.SIGCONT)
    else:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        assert code(ftp.getmultiline()) == 426
    assert harness.wait_for(lambda: not leftovers(ws[1], "f.bin"), timeout=30)
    assert harness.read_file(os.path.join(ws[1], "f.bin")) == old
    assert retr(other, "f.bin") == old  # the other session goes on
    uploads = lambda: [l for l in srv.xferlog().splitlines() if " _ i r " in l]
    if how == "reset":  # the helper writes the line after the 426 reply: await it
        assert harness.wait_for(uploads, timeout=30), srv.xferlog()
    uploads = uploads()
    assert all(l.endswith(" i") for l in uploads), uploads  # never logged as complete
    if how == "reset":
        assert len(uploads) == 1
        assert code(raw_cmd(ftp, "NOOP")) == 200
    close_control(ftp)


@pytest.mark.moatftpd_only
def test_killed_worker_keeps_the_old_version(make_srv, env, ws):
    """SIGKILL leaves no chance to clean up: the old version stays under its name and
    the partial upload stays under its hidden temporary name (.f.bin.moat-XXXXXX),
    never in place of the file."""
    srv = make_srv()
    old, sent, other, ftp, conn = half_an_upload(srv, env, ws)
    assert harness.wait_for(lambda: temp_size(ws[1], "f.bin") == len(sent))
    os.kill(worker_holding(srv, conn), signal.SIGKILL)
    conn.close()
    assert ftp.file.readline() == ""  # the control connection closes with the worker
    assert harness.read_file(os.path.join(ws[1], "f.bin")) == old
    assert retr(other, "f.bin") == old
    [temp] = leftovers(ws[1], "f.bin")
    assert harness.read_file(os.path.join(ws[1], temp)) == sent
    close_control(ftp)


@pytest.fixture
def small_disk(ws, env):
    """A 2 MiB tmpfs (in the test's private mount namespace) owned by alice."""
    path = os.path.join(ws[1], "small")
    os.mkdir(path)
    subprocess.run(["mount", "-t", "tmpfs", "-o",
                    f"size=2m,mode=0755,uid={env.alice.uid},gid={env.alice.gid}",
                    "moat-e2e-small", path], check=True)
    yield "small", path
    subprocess.run(["umount", "--lazy", path], check=True)  # a worker may still be in it


def test_full_disk(make_srv, env, ws, small_disk):
    """A STOR that fills the disk: 452 (vsftpd: 451) and the session goes on. Atomic:
    the old version stays and no temporary file is left; in place: the part that fit
    stays, as vsftpd's."""
    atomic = not is_vsftpd()
    srv = make_srv() if atomic else make_srv(lock_upload_files=True)
    old, new = content("old", 512 * 1024), content("new", 3 * MB)
    path = os.path.join(small_disk[1], "f.bin")
    harness.put_file(path, old, env.alice)
    ftp = alice_in(srv, env, ws)
    ftp.cwd(small_disk[0])
    ftp.voidcmd("TYPE I")
    rep = stor_chunks(ftp, "STOR f.bin", [new])
    assert rep == (451 if is_vsftpd() else 452)
    assert code(raw_cmd(ftp, "NOOP")) == 200
    kept = harness.read_file(path)
    if atomic:
        assert kept == old
        assert leftovers(small_disk[1], "f.bin") == []
        ftp.storbinary("STOR small.txt", io.BytesIO(b"room again\n"))  # the space is back
        assert retr(ftp, "small.txt") == b"room again\n"
    else:
        assert 0 < len(kept) < len(new) and new.startswith(kept)
    assert "f.bin" in ftp.nlst()
    quit_quietly(ftp)


@pytest.mark.moatftpd_only
def test_full_disk_in_place(make_srv, env, ws, small_disk):
    srv = make_srv(atomic_uploads=False)
    new = content("new", 3 * MB)
    path = os.path.join(small_disk[1], "f.bin")
    harness.put_file(path, content("old", 512 * 1024), env.alice)
    ftp = alice_in(srv, env, ws)
    ftp.cwd(small_disk[0])
    ftp.voidcmd("TYPE I")
    assert stor_chunks(ftp, "STOR f.bin", [new]) == 452
    assert code(raw_cmd(ftp, "NOOP")) == 200
    kept = harness.read_file(path)
    assert 0 < len(kept) < len(new) and new.startswith(kept)


# --- what stays in place ------------------------------------------------------------------
def test_rest_stor_and_appe_write_in_place(make_srv, env, ws):
    srv = make_srv()
    path = os.path.join(ws[1], "f.bin")
    old = content("old", 100_000)
    harness.put_file(path, old, env.alice)
    inode = os.stat(path).st_ino
    ftp = alice_in(srv, env, ws)
    ftp.voidcmd("TYPE I")
    ftp.storbinary("STOR f.bin", io.BytesIO(b"tail"), rest=len(old))  # a resumed upload
    assert harness.read_file(path) == old + b"tail"
    ftp.storbinary("APPE f.bin", io.BytesIO(b"+more"))
    assert harness.read_file(path) == old + b"tail+more"
    assert os.stat(path).st_ino == inode
    ftp.storbinary("STOU f.bin", io.BytesIO(b"unique"))
    assert harness.read_file(path) == old + b"tail+more"
    quit_quietly(ftp)


@pytest.mark.moatftpd_only
def test_atomic_stor_makes_a_new_file(make_srv, env, ws):
    """The new version is a new inode with a new file's mode (file_open_mode, umask)."""
    srv = make_srv()
    path = os.path.join(ws[1], "f.bin")
    harness.put_file(path, b"old\n", env.alice)
    os.chmod(path, 0o600)
    inode = os.stat(path).st_ino
    ftp = alice_in(srv, env, ws)
    ftp.storbinary("STOR f.bin", io.BytesIO(b"new\n"))
    st = os.stat(path)
    assert st.st_ino != inode
    assert st.st_mode & 0o777 == 0o644  # 0666 & ~local_umask 022
    assert (st.st_uid, st.st_gid) == (env.alice.uid, env.alice.gid)
    assert harness.read_file(path) == b"new\n"
    assert leftovers(ws[1], "f.bin") == []
    quit_quietly(ftp)


@pytest.mark.moatftpd_only
def test_atomic_overwrite_with_chown_uploads_and_xferlog(server, env, tmpdir_e2e):
    from test_anon_upload import anon_root, anon_upload
    root = anon_root(tmpdir_e2e, env.ftp)
    up = os.path.join(root, "upload")
    srv = server(dict(anon_upload(anon_upload_enable=True, anon_other_write_enable=True,
                                  chown_uploads=True, chown_username=env.alice.name,
                                  chown_upload_mode="0640"),
                      anon_root=root, xferlog_enable=True, xferlog_std_format=True))
    harness.put_file(os.path.join(up, "x.txt"), b"old\n", env.ftp)
    ftp = login(srv, "anonymous")
    ftp.storbinary("STOR upload/x.txt", io.BytesIO(b"new version\n"))
    st = os.stat(os.path.join(up, "x.txt"))
    assert (st.st_uid, st.st_mode & 0o777) == (env.alice.uid, 0o640)
    assert harness.read_file(os.path.join(up, "x.txt")) == b"new version\n"
    assert os.listdir(up) == ["x.txt"]
    line = harness.wait_for(lambda: srv.xferlog().strip())
    assert "/upload/x.txt " in line and line.endswith(" c")
    quit_quietly(ftp)
