# SPDX-License-Identifier: GPL-2.0-or-later
"""Transfers with ftplib, curl and lftp: listings, up/download, resume, file operations,
ASCII mode, ABOR, pipelining, a 10,000-entry directory, a 1 GiB round trip, chroot."""

import calendar
import ftplib
import hashlib
import io
import os
import secrets
import shutil
import time

import pytest

import harness
from clients import curl, lftp
from conftest import login
from harness import Control, code, raw_cmd

DATA = b"".join(harness.pattern_chunks(300_000, chunk=10_000))


@pytest.fixture
def ws(env):
    """A fresh directory (name, path) in alice's home, owned by her."""
    name, path = harness.user_workspace(env.alice, "ws-")
    yield name, path
    shutil.rmtree(path, ignore_errors=True)


put_file = harness.put_file


read = harness.read_file


@pytest.fixture
def srv(server):
    return server({"chroot_local_user": False})


@pytest.fixture
def ftp(srv, env, ws):
    f = login(srv, env.alice)
    f.cwd(ws[0])
    yield f
    try:
        f.quit()
    except (OSError, EOFError, ftplib.Error):
        pass


def retr(ftp, name, rest=None):
    out = io.BytesIO()
    ftp.retrbinary("RETR " + name, out.write, rest=rest)
    return out.getvalue()


# --- ftplib ----------------------------------------------------------------------
def test_ftplib_list_nlst(ftp, ws, env):
    put_file(os.path.join(ws[1], "a.txt"), b"hello\n", env.alice)
    os.mkdir(os.path.join(ws[1], "sub"))
    lines = []
    ftp.retrlines("LIST", lines.append)
    assert len(lines) == 2
    by_name = {l.split()[-1]: l for l in lines}
    assert by_name["a.txt"].startswith("-rw-r--r--")
    assert by_name["a.txt"].split()[4] == "6"
    assert by_name["sub"].startswith("d")
    assert sorted(ftp.nlst()) == ["a.txt", "sub"]


@pytest.mark.moatftpd_only
def test_ftplib_mlsd(ftp, ws, env):
    put_file(os.path.join(ws[1], "a.txt"), b"hello\n", env.alice)
    os.mkdir(os.path.join(ws[1], "sub"))
    facts = dict(ftp.mlsd())
    assert facts["a.txt"]["type"] == "file"
    assert facts["a.txt"]["size"] == "6"
    assert facts["sub"]["type"] == "dir"
    assert len(facts["a.txt"]["modify"]) >= 14
    names = {n for n, f in facts.items() if f["type"] not in ("cdir", "pdir")}
    assert names == {"a.txt", "sub"}


def test_ftplib_upload_download(ftp, ws):
    assert ftp.storbinary("STOR up.bin", io.BytesIO(DATA)).startswith("226")
    assert read(os.path.join(ws[1], "up.bin")) == DATA
    assert retr(ftp, "up.bin") == DATA


def test_ftplib_resume_retr(ftp, ws, env):
    put_file(os.path.join(ws[1], "f.bin"), DATA, env.alice)
    assert retr(ftp, "f.bin", rest=12345) == DATA[12345:]
    assert code(raw_cmd(ftp, "REST 100")) == 350


def test_ftplib_resume_stor(ftp, ws, env):
    put_file(os.path.join(ws[1], "f.bin"), DATA[:100_000], env.alice)
    ftp.storbinary("STOR f.bin", io.BytesIO(DATA[100_000:]), rest=100_000)
    assert read(os.path.join(ws[1], "f.bin")) == DATA


def test_ftplib_appe(ftp, ws, env):
    put_file(os.path.join(ws[1], "f.bin"), DATA[:1000], env.alice)
    assert ftp.storbinary("APPE f.bin", io.BytesIO(DATA[1000:])).startswith("226")
    assert read(os.path.join(ws[1], "f.bin")) == DATA


def test_ftplib_rename(ftp, ws, env):
    put_file(os.path.join(ws[1], "old"), b"x", env.alice)
    assert code(raw_cmd(ftp, "RNFR old")) == 350
    assert code(raw_cmd(ftp, "RNTO new")) == 250
    assert sorted(os.listdir(ws[1])) == ["new"]
    assert code(raw_cmd(ftp, "RNFR missing")) == 550
    assert code(raw_cmd(ftp, "RNTO other")) == 503


def test_ftplib_delete(ftp, ws, env):
    put_file(os.path.join(ws[1], "gone"), b"x", env.alice)
    assert code(raw_cmd(ftp, "DELE gone")) == 250
    assert not os.path.exists(os.path.join(ws[1], "gone"))
    assert code(raw_cmd(ftp, "DELE gone")) == 550


def test_ftplib_mkdir_rmdir(ftp, ws, env):
    assert ftp.mkd("d1").endswith("d1")
    assert os.path.isdir(os.path.join(ws[1], "d1"))
    assert code(raw_cmd(ftp, "MKD d1")) == 550
    put_file(os.path.join(ws[1], "d1", "f"), b"x", env.alice)
    assert code(raw_cmd(ftp, "RMD d1")) == 550
    os.unlink(os.path.join(ws[1], "d1", "f"))
    assert code(raw_cmd(ftp, "RMD d1")) == 250
    assert not os.path.exists(os.path.join(ws[1], "d1"))
    assert code(raw_cmd(ftp, "XMKD d2")) == 257
    assert code(raw_cmd(ftp, "XRMD d2")) == 250


def test_ftplib_size_mdtm(ftp, ws, env):
    path = os.path.join(ws[1], "f.bin")
    put_file(path, DATA, env.alice)
    when = calendar.timegm((2021, 3, 4, 5, 6, 7))
    os.utime(path, (when, when))
    ftp.voidcmd("TYPE I")
    assert raw_cmd(ftp, "SIZE f.bin") == f"213 {len(DATA)}"
    assert raw_cmd(ftp, "MDTM f.bin") == "213 20210304050607"
    assert code(raw_cmd(ftp, "SIZE missing")) == 550
    assert code(raw_cmd(ftp, "MDTM missing")) == 550


def test_stou_allo_cdup(ftp, ws):
    ftp.voidcmd("TYPE I")
    conn, _ = ftp.ntransfercmd("STOU")
    conn.sendall(b"unique\n")
    conn.close()
    assert ftp.voidresp().startswith("226")
    created = os.listdir(ws[1])
    assert len(created) == 1 and read(os.path.join(ws[1], created[0])) == b"unique\n"
    assert code(raw_cmd(ftp, "ALLO 1000")) in (200, 202)
    assert code(raw_cmd(ftp, "CDUP")) in (200, 250)
    assert ftp.pwd() == os.path.dirname(ws[1])



def test_rfc775_aliases(ftp, ws):
    """XPWD, XCWD and XCUP (RFC 775) do what PWD, CWD and CDUP do."""
    os.mkdir(os.path.join(ws[1], "sub"))
    home = ftp.pwd()
    assert raw_cmd(ftp, "XPWD") == f'257 "{home}" is the current directory'
    assert code(raw_cmd(ftp, "XCWD sub")) == 250
    assert ftp.pwd() == home + "/sub"
    assert code(raw_cmd(ftp, "XCWD no-such-dir")) == 550
    assert code(raw_cmd(ftp, "XCUP")) in (200, 250)
    assert ftp.pwd() == home

def test_site_chmod_umask(ftp, ws, env):
    path = os.path.join(ws[1], "m.txt")
    put_file(path, b"x", env.alice)
    assert code(raw_cmd(ftp, "SITE CHMOD 600 m.txt")) == 200
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert code(raw_cmd(ftp, "SITE CHMOD 644 missing")) == 550
    assert code(raw_cmd(ftp, "SITE UMASK 077")) == 200
    ftp.storbinary("STOR u.txt", io.BytesIO(b"u"))
    assert os.stat(os.path.join(ws[1], "u.txt")).st_mode & 0o777 == 0o600
    assert code(raw_cmd(ftp, "SITE HELP")) == 214


@pytest.mark.moatftpd_only
def test_mlst_mfmt(ftp, ws, env):
    path = os.path.join(ws[1], "f.bin")
    put_file(path, DATA, env.alice)
    reply = raw_cmd(ftp, "MLST f.bin")
    lines = reply.splitlines()
    assert lines[0].startswith("250-") and lines[-1].startswith("250 ")
    facts = dict(f.split("=", 1) for f in lines[1].strip().split(" ", 1)[0].split(";") if f)
    assert facts["type"].lower() == "file" and facts["size"] == str(len(DATA))
    assert lines[1].rstrip().endswith("f.bin")
    assert code(raw_cmd(ftp, "MFMT 20200102030405 f.bin")) == 213
    assert os.stat(path).st_mtime == calendar.timegm((2020, 1, 2, 3, 4, 5))
    assert raw_cmd(ftp, "MDTM f.bin") == "213 20200102030405"
    assert code(raw_cmd(ftp, "MLST missing")) == 550


def test_missing_file_550(ftp):
    with pytest.raises(ftplib.error_perm) as exc:
        retr(ftp, "no-such-file")
    assert str(exc.value).startswith("550")
    assert code(raw_cmd(ftp, "CWD no-such-dir")) == 550


def ascii_retr(ftp, name):
    ftp.voidcmd("TYPE A")
    conn = ftp.transfercmd("RETR " + name)
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    conn.close()
    ftp.voidresp()
    return data


def test_ascii_download_converts(server, env, ws):
    put_file(os.path.join(ws[1], "t.txt"), b"one\ntwo\n", env.alice)
    ftp = login(server({"ascii_download_enable": True}), env.alice)
    ftp.cwd(ws[0])
    assert ascii_retr(ftp, "t.txt") == b"one\r\ntwo\r\n"
    assert retr(ftp, "t.txt") == b"one\ntwo\n"


def test_ascii_download_off_by_default(ftp, ws, env):
    put_file(os.path.join(ws[1], "t.txt"), b"one\ntwo\n", env.alice)
    assert ascii_retr(ftp, "t.txt") == b"one\ntwo\n"


def test_ascii_upload_converts(server, env, ws):
    ftp = login(server({"ascii_upload_enable": True}), env.alice)
    ftp.cwd(ws[0])
    ftp.storlines("STOR t.txt", io.BytesIO(b"one\ntwo\n"))
    assert read(os.path.join(ws[1], "t.txt")) == b"one\ntwo\n"
    ftp.storbinary("STOR b.txt", io.BytesIO(b"one\r\ntwo\r\n"))
    assert read(os.path.join(ws[1], "b.txt")) == b"one\r\ntwo\r\n"


def start_big_retr(server, env, ws):
    path = os.path.join(ws[1], "big")
    with open(path, "wb") as f:
        f.truncate(512 << 20)  # sparse: big enough never to finish while we wait
    os.chown(path, env.alice.uid, env.alice.gid)
    ftp = login(server(), env.alice)
    ftp.cwd(ws[0])
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("RETR big")
    got = 0
    while got < 1 << 20:
        got += len(conn.recv(65536))
    return ftp, conn


def finish_abort(ftp, conn, first):
    assert first.startswith("426"), first
    second = ftp.getmultiline()
    assert second.startswith("226"), second
    conn.close()
    assert ftp.voidcmd("NOOP").startswith("200")
    assert ftp.nlst() == ["big"]


# vsftpd notices an ABOR mid-transfer only with async_abor_enable=YES, and then reads
# ftplib's urgent "ABOR\r\n" as an unknown command: moatftpd must do better.
@pytest.mark.moatftpd_only
def test_abor_mid_transfer_urgent(server, env, ws):
    ftp, conn = start_big_retr(server, env, ws)
    finish_abort(ftp, conn, ftp.abort())  # ftplib sends ABOR with MSG_OOB


@pytest.mark.moatftpd_only
def test_abor_mid_transfer_plain(server, env, ws):
    ftp, conn = start_big_retr(server, env, ws)
    ftp.putcmd("ABOR")  # as FileZilla does: no Telnet IP/Synch
    finish_abort(ftp, conn, ftp.getmultiline())


def test_pipelined_commands(srv, env):
    with Control(*srv.address()) as c:
        assert c.reply()[0] == 220
        c.send(f"USER {env.alice.name}\r\nPASS {env.alice.password}\r\n"
               "NOOP\r\nPWD\r\nSYST\r\nTYPE I\r\nCWD /nonexistent-dir\r\nNOOP\r\n")
        codes = [c.reply()[0] for _ in range(8)]
        assert codes == [331, 230, 200, 257, 215, 200, 550, 200]


def test_pipelined_after_login(srv, env):
    with Control(*srv.address()) as c:
        c.reply()
        assert c.login(env.alice.name, env.alice.password) == 230
        c.send("PWD\r\nNOOP\r\nXPWD\r\nQUIT\r\n")
        assert [c.reply()[0] for _ in range(4)] == [257, 200, 257, 221]
        assert c.closed_by_peer()


@pytest.fixture
def big_dir(ws, env):
    path = os.path.join(ws[1], "many")
    os.mkdir(path)
    for i in range(10_000):
        open(os.path.join(path, f"f{i:05d}"), "wb").close()
    return "many"  # relative to the ftp fixture's working directory, ws


def test_10000_entries_list(ftp, big_dir):
    lines = []
    ftp.retrlines("LIST " + big_dir, lines.append)
    names = {l.split()[-1] for l in lines if l.startswith("-")}
    assert len(names) == 10_000
    assert "f00000" in names and "f09999" in names
    assert len(ftp.nlst(big_dir)) == 10_000


@pytest.mark.moatftpd_only
def test_10000_entries_mlsd(ftp, big_dir):
    entries = [(n, f) for n, f in ftp.mlsd(big_dir, facts=["type", "size"])
               if f.get("type") == "file"]
    assert len(entries) == 10_000
    assert all(f["size"] == "0" for _, f in entries)


def test_one_gib_round_trip(ftp, ws):
    size = 1 << 30
    reader = harness.PatternReader(size)
    ftp.voidcmd("TYPE I")
    ftp.storbinary("STOR huge.bin", reader, blocksize=1 << 20)
    sent = reader.sha256.hexdigest()
    path = os.path.join(ws[1], "huge.bin")
    try:
        assert os.path.getsize(path) == size
        assert harness.sha256_file(path) == sent
        got = hashlib.sha256()
        ftp.retrbinary("RETR huge.bin", got.update, blocksize=1 << 20)
        assert got.hexdigest() == sent
    finally:
        os.unlink(path)


def test_chrooted_cannot_escape(server, env):
    srv = server({"chroot_local_user": True, "allow_writeable_chroot": True})
    ftp = login(srv, env.alice)
    top = sorted(ftp.nlst())
    assert "notes.txt" in top
    for up in ("..", "../..", "/..", "/../../.."):
        raw_cmd(ftp, "CWD " + up)
        assert ftp.pwd() == "/"
        assert sorted(ftp.nlst()) == top
    ftp.cwd("/")
    assert code(raw_cmd(ftp, "SIZE ../../../etc/passwd")) == 550
    assert code(raw_cmd(ftp, "CWD " + os.path.dirname(env.alice.home))) == 550



@pytest.mark.moatftpd_only
def test_rate_limit_arriving_mid_plain_download(server, env, ws):
    """A plain binary download goes by sendfile without a bufferevent; a rate limit set
    while it runs (mod_hooktest's transfer_progress) moves the rest onto the throttled
    bufferevent from the offset sendfile reached, byte for byte. The client stops
    reading until the limit is in place, so at least 14 of the 24 MiB (more than the
    socket buffers hold) are sent under it: 8 MB/s, about 2 s; unthrottled, well
    under one."""
    modules = os.path.join(os.path.dirname(harness.default_binary("moatftpd")), "modules")
    s = server({"chroot_local_user": False, "load_module": "mod_hooktest",
                "module_dir": modules, "hooktest_progress_rate": 8000000})
    name, path = ws
    payload = os.urandom(1 << 20) * 24
    put_file(os.path.join(path, "mid.bin"), payload, env.alice)
    ftp = login(s, env.alice)
    ftp.cwd(name)
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("RETR mid.bin")
    chunks = [conn.recv(65536)]
    assert s.wait_stderr(r"transfer_progress .*rate=8000000")
    start = time.monotonic()
    while chunk := conn.recv(1 << 20):
        chunks.append(chunk)
    seconds = time.monotonic() - start
    conn.close()
    assert ftp.voidresp().startswith("226")
    assert b"".join(chunks) == payload
    assert seconds >= 1.0, seconds
    ftp.quit()

# --- curl --------------------------------------------------------------------------
def test_curl_list(srv, env, ws):
    put_file(os.path.join(ws[1], "c.txt"), b"curl\n", env.alice)
    out = curl(srv, env.alice, f"/{ws[0]}/").stdout.decode()
    assert out.splitlines()[0].endswith(" c.txt")
    names = curl(srv, env.alice, f"/{ws[0]}/", "--list-only").stdout.decode().split()
    assert names == ["c.txt"]


def test_curl_upload_download(srv, env, ws, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(DATA)
    curl(srv, env.alice, f"/{ws[0]}/up.bin", "-T", str(src))
    assert read(os.path.join(ws[1], "up.bin")) == DATA
    dst = tmp_path / "dst.bin"
    curl(srv, env.alice, f"/{ws[0]}/up.bin", "-o", str(dst))
    assert dst.read_bytes() == DATA


def test_curl_active_mode(srv, env, ws, tmp_path):
    put_file(os.path.join(ws[1], "a.bin"), DATA, env.alice)
    dst = tmp_path / "a.bin"
    curl(srv, env.alice, f"/{ws[0]}/a.bin", "-P", "127.0.0.1", "-o", str(dst))
    assert dst.read_bytes() == DATA
    curl(srv, env.alice, f"/{ws[0]}/a.bin", "-P", "127.0.0.1", "--disable-eprt",
         "-o", str(dst))
    assert dst.read_bytes() == DATA


def test_curl_resume(srv, env, ws, tmp_path):
    put_file(os.path.join(ws[1], "r.bin"), DATA, env.alice)
    dst = tmp_path / "r.bin"
    dst.write_bytes(DATA[:50_000])
    curl(srv, env.alice, f"/{ws[0]}/r.bin", "-C", "-", "-o", str(dst))
    assert dst.read_bytes() == DATA
    put_file(os.path.join(ws[1], "u.bin"), DATA[:70_000], env.alice)
    src = tmp_path / "u.bin"
    src.write_bytes(DATA)
    curl(srv, env.alice, f"/{ws[0]}/u.bin", "-C", "-", "-T", str(src))
    assert read(os.path.join(ws[1], "u.bin")) == DATA


def test_curl_file_operations(srv, env, ws):
    put_file(os.path.join(ws[1], "a"), b"x", env.alice)
    put_file(os.path.join(ws[1], "b"), b"y", env.alice)
    w = ws[0]  # -Q commands run before curl's CWD, so paths are relative to home
    curl(srv, env.alice, f"/{w}/", "-Q", f"RNFR {w}/a", "-Q", f"RNTO {w}/a2",
         "-Q", f"DELE {w}/b", "-Q", f"MKD {w}/d", "--list-only")
    assert sorted(os.listdir(ws[1])) == ["a2", "d"]
    curl(srv, env.alice, f"/{w}/", "-Q", f"RMD {w}/d", "--list-only")
    assert sorted(os.listdir(ws[1])) == ["a2"]
    r = curl(srv, env.alice, f"/{w}/", "-Q", f"DELE {w}/missing", check=False)
    assert r.returncode != 0


def test_curl_create_dirs(srv, env, ws, tmp_path):
    src = tmp_path / "s"
    src.write_bytes(b"deep\n")
    curl(srv, env.alice, f"/{ws[0]}/x/y/z.txt", "--ftp-create-dirs", "-T", str(src))
    assert read(os.path.join(ws[1], "x", "y", "z.txt")) == b"deep\n"


def test_curl_ascii(server, env, ws, tmp_path):
    put_file(os.path.join(ws[1], "t.txt"), b"a\nb\n", env.alice)
    srv = server({"ascii_download_enable": True})
    out = curl(srv, env.alice, f"/{ws[0]}/t.txt", "--use-ascii").stdout
    # curl converts CRLF back to LF on Unix only when told to; the wire had CRLF.
    assert out in (b"a\r\nb\r\n", b"a\nb\n")
    r = curl(srv, env.alice, f"/{ws[0]}/t.txt", "--use-ascii", "-v")
    assert b"TYPE A" in r.stderr


def test_curl_anonymous(srv):
    out = curl(srv, None, "/pub/hello.txt").stdout
    assert out == b"line one\nline two\nline three\n"
    names = curl(srv, None, "/pub/", "--list-only").stdout.decode().split()
    assert sorted(names) == ["data.bin", "hello.txt"]


def test_curl_anonymous_upload_refused(srv, tmp_path):
    src = tmp_path / "s"
    src.write_bytes(b"x")
    r = curl(srv, None, "/pub/up.txt", "-T", str(src), check=False)
    assert r.returncode != 0


# --- lftp --------------------------------------------------------------------------
def test_lftp_list(srv, env, ws):
    put_file(os.path.join(ws[1], "l.txt"), b"lftp\n", env.alice)
    os.mkdir(os.path.join(ws[1], "dir"))
    out = lftp(srv, env.alice, f"cd {ws[0]}; ls").stdout.decode()
    assert " l.txt" in out and " dir" in out
    out = lftp(srv, env.alice, f"cd {ws[0]}; cls -1").stdout.decode().split()
    assert sorted(out) == ["dir/", "l.txt"] or sorted(out) == ["dir", "l.txt"]
    out = lftp(srv, env.alice, f"cd {ws[0]}; nlist").stdout.decode().split()
    assert sorted(out) == ["dir", "l.txt"]


def test_lftp_put_get(srv, env, ws, tmp_path):
    (tmp_path / "p.bin").write_bytes(DATA)
    lftp(srv, env.alice, f"cd {ws[0]}; put p.bin; get p.bin -o got.bin", cwd=tmp_path)
    assert read(os.path.join(ws[1], "p.bin")) == DATA
    assert (tmp_path / "got.bin").read_bytes() == DATA


def test_lftp_active_mode(srv, env, ws, tmp_path):
    put_file(os.path.join(ws[1], "a.bin"), DATA, env.alice)
    lftp(srv, env.alice, f"cd {ws[0]}; get a.bin", passive=False, cwd=tmp_path)
    assert (tmp_path / "a.bin").read_bytes() == DATA


def test_lftp_resume(srv, env, ws, tmp_path):
    put_file(os.path.join(ws[1], "r.bin"), DATA, env.alice)
    (tmp_path / "r.bin").write_bytes(DATA[:123_456])
    lftp(srv, env.alice, f"cd {ws[0]}; get -c r.bin", cwd=tmp_path)
    assert (tmp_path / "r.bin").read_bytes() == DATA
    put_file(os.path.join(ws[1], "u.bin"), DATA[:99_999], env.alice)
    (tmp_path / "u.bin").write_bytes(DATA)
    lftp(srv, env.alice, f"cd {ws[0]}; put -c u.bin", cwd=tmp_path)
    assert read(os.path.join(ws[1], "u.bin")) == DATA


def test_lftp_file_operations(srv, env, ws):
    put_file(os.path.join(ws[1], "a"), b"x", env.alice)
    put_file(os.path.join(ws[1], "b"), b"y", env.alice)
    lftp(srv, env.alice, f"cd {ws[0]}; mv a a2; rm b; mkdir d1; mkdir d2; rmdir d2")
    assert sorted(os.listdir(ws[1])) == ["a2", "d1"]
    r = lftp(srv, env.alice, f"cd {ws[0]}; rm missing", check=False)
    assert r.returncode != 0


def test_lftp_anonymous_mirror(srv, tmp_path):
    lftp(srv, None, "mirror pub mirrored", cwd=tmp_path)
    assert (tmp_path / "mirrored" / "hello.txt").read_bytes() == b"line one\nline two\nline three\n"
    data = b"".join(harness.pattern_chunks(256 * 1024, chunk=64 * 1024))
    assert (tmp_path / "mirrored" / "data.bin").read_bytes() == data
