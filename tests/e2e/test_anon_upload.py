# SPDX-License-Identifier: GPL-2.0-or-later
"""mod_anon_upload: anonymous uploads, mkdir and other writes as vsftpd grants them
(each needs write_enable=YES and its own option), chown_uploads (tutorial EX9), and the
tutorial's incoming directory (mode 603: anonymous may upload into it but not list it).

Each right has a test with it on and one with it off, so a test fails when the check
it covers stops working.
"""

import ftplib
import io
import os
import uuid

import pytest

import harness
from conftest import login
from harness import raw_cmd

moatftpd_only = pytest.mark.moatftpd_only


def module_dir():
    return os.path.join(os.path.dirname(harness.default_binary("moatftpd")), "modules")


def anon_upload(**options):
    opts = {"load_module": "mod_anon_upload", "module_dir": module_dir()}
    opts.update(options)
    return opts


def anon_root(tmpdir, ftp_user, upload_mode=0o755, upload_owner="ftp"):
    """A root-owned anonymous root with upload/ (owned by the ftp user by default)."""
    root = harness.make_dir(os.path.join(tmpdir, "anon-" + uuid.uuid4().hex[:6]), 0o755)
    uid = ftp_user.uid if upload_owner == "ftp" else 0
    harness.make_dir(os.path.join(root, "upload"), upload_mode, uid, uid)
    return root


def stor_code(ftp, cmd, data=b"uploaded\n"):
    try:
        ftp.storbinary(cmd, io.BytesIO(data))
        return 226
    except ftplib.error_perm as exc:
        return int(str(exc)[:3])


def anon_session(server, env, tmpdir, **options):
    root = anon_root(tmpdir, env.ftp)
    srv = server(dict(anon_upload(**options), anon_root=root))
    return login(srv, "anonymous"), os.path.join(root, "upload")


@moatftpd_only
def test_upload_refused_without_the_module(server, env, tmpdir_e2e):
    root = anon_root(tmpdir_e2e, env.ftp)
    ftp = login(server({"anon_root": root, "write_enable": True}), "anonymous")
    assert stor_code(ftp, "STOR upload/a.txt") == 550
    assert raw_cmd(ftp, "MKD upload/d").startswith("550")
    assert not os.path.exists(os.path.join(root, "upload", "a.txt"))


def test_upload_refused_without_its_option(server, env, tmpdir_e2e):
    ftp, up = anon_session(server, env, tmpdir_e2e, anon_mkdir_write_enable=True)
    assert stor_code(ftp, "STOR upload/a.txt") == 550
    assert stor_code(ftp, "APPE upload/a.txt") == 550
    assert stor_code(ftp, "STOU upload/a.txt") == 550
    assert os.listdir(up) == []


def test_upload_refused_without_write_enable(server, env, tmpdir_e2e):
    ftp, up = anon_session(server, env, tmpdir_e2e, anon_upload_enable=True,
                           anon_mkdir_write_enable=True, write_enable=False)
    assert stor_code(ftp, "STOR upload/a.txt") == 550
    assert raw_cmd(ftp, "MKD upload/d").startswith("550")
    assert os.listdir(up) == []


def test_upload_allowed_with_anon_umask(server, env, tmpdir_e2e):
    ftp, up = anon_session(server, env, tmpdir_e2e, anon_upload_enable=True, anon_umask="022")
    assert stor_code(ftp, "STOR upload/a.txt", b"hello\n") == 226
    path = os.path.join(up, "a.txt")
    with open(path, "rb") as f:
        assert f.read() == b"hello\n"
    st = os.stat(path)
    assert st.st_uid == env.ftp.uid
    assert st.st_mode & 0o7777 == 0o644  # file_open_mode 0666 less anon_umask 022


def test_upload_only_creates_without_other_write(server, env, tmpdir_e2e):
    ftp, up = anon_session(server, env, tmpdir_e2e, anon_upload_enable=True)
    assert stor_code(ftp, "STOR upload/a.txt", b"first\n") == 226
    assert stor_code(ftp, "STOR upload/a.txt", b"second\n") == 553  # no overwrite
    assert stor_code(ftp, "APPE upload/a.txt", b"more\n") == 553    # no append
    with open(os.path.join(up, "a.txt"), "rb") as f:
        assert f.read() == b"first\n"
    assert raw_cmd(ftp, "DELE upload/a.txt").startswith("550")
    assert raw_cmd(ftp, "RNFR upload/a.txt").startswith("550")
    assert raw_cmd(ftp, "RNTO upload/b.txt").startswith("550")
    assert raw_cmd(ftp, "SITE CHMOD 0777 upload/a.txt").startswith("550")
    assert raw_cmd(ftp, "MKD upload/d").startswith("550")  # no anon_mkdir_write_enable
    assert raw_cmd(ftp, "MFMT 20200101000000 upload/a.txt").startswith("550")
    assert sorted(os.listdir(up)) == ["a.txt"]
    assert stor_code(ftp, "APPE upload/new.txt", b"new\n") == 226  # a new file is fine


def test_mkdir_with_anon_mkdir_write_enable(server, env, tmpdir_e2e):
    ftp, up = anon_session(server, env, tmpdir_e2e, anon_mkdir_write_enable=True)
    assert raw_cmd(ftp, "MKD upload/d").startswith("257")
    assert os.path.isdir(os.path.join(up, "d"))
    assert raw_cmd(ftp, "RMD upload/d").startswith("550")  # removal is "other write"


def test_other_write_allows_overwrite_delete_rename(server, env, tmpdir_e2e):
    ftp, up = anon_session(server, env, tmpdir_e2e, anon_upload_enable=True,
                           anon_other_write_enable=True)
    assert stor_code(ftp, "STOR upload/a.txt", b"first\n") == 226
    assert stor_code(ftp, "STOR upload/a.txt", b"second\n") == 226
    assert stor_code(ftp, "APPE upload/a.txt", b"more\n") == 226
    with open(os.path.join(up, "a.txt"), "rb") as f:
        assert f.read() == b"second\nmore\n"
    assert raw_cmd(ftp, "RNFR upload/a.txt").startswith("350")
    assert raw_cmd(ftp, "RNTO upload/b.txt").startswith("250")
    assert raw_cmd(ftp, "DELE upload/b.txt").startswith("250")
    assert os.listdir(up) == []
    assert raw_cmd(ftp, "SITE CHMOD 0777 upload").startswith("550")  # anonymous: never


def test_ex9_chown_uploads(server, env, tmpdir_e2e):
    ftp, up = anon_session(server, env, tmpdir_e2e, anon_upload_enable=True,
                           chown_uploads=True, chown_username=env.alice.name,
                           chown_upload_mode="0640")
    assert stor_code(ftp, "STOR upload/ex9.txt", b"for alice\n") == 226
    assert stor_code(ftp, "STOU upload/ex9.txt", b"unique\n") == 226
    assert raw_cmd(ftp, "NOOP").startswith("200")  # the session carries on
    for name in os.listdir(up):
        st = os.stat(os.path.join(up, name))
        assert (st.st_uid, st.st_gid) == (env.alice.uid, env.alice.gid), name
        assert st.st_mode & 0o7777 == 0o640, name
    with open(os.path.join(up, "ex9.txt"), "rb") as f:
        assert f.read() == b"for alice\n"
    assert len(os.listdir(up)) == 2


def test_chown_uploads_with_an_unknown_user_refuses_the_login(server, env, tmpdir_e2e):
    root = anon_root(tmpdir_e2e, env.ftp)
    srv = server(dict(anon_upload(anon_upload_enable=True, chown_uploads=True,
                                  chown_username="no-such-user-e2e"), anon_root=root))
    with pytest.raises(ftplib.error_perm, match="530"):
        login(srv, "anonymous")


@moatftpd_only
def test_incoming_directory_mode_603(server, env, tmpdir_e2e):
    """The tutorial's incoming directory: root's, mode 603: upload yes, list no."""
    root = anon_root(tmpdir_e2e, env.ftp, upload_mode=0o603, upload_owner="root")
    srv = server(dict(anon_upload(anon_upload_enable=True), anon_root=root))
    ftp = login(srv, "anonymous")
    assert stor_code(ftp, "STOR upload/drop.txt", b"dropped\n") == 226
    with open(os.path.join(root, "upload", "drop.txt"), "rb") as f:
        assert f.read() == b"dropped\n"
    with pytest.raises(ftplib.error_perm, match="550"):
        ftp.retrlines("LIST upload", lambda line: None)
    with pytest.raises(ftplib.error_perm, match="550"):
        ftp.retrlines("NLST upload", lambda line: None)
    assert raw_cmd(ftp, "NOOP").startswith("200")
