# SPDX-License-Identifier: GPL-2.0-or-later
"""vsftpd options with vsftpd's meaning: cmds_allowed, cmds_denied, download_enable,
download_file, upload_file, delete_failed_uploads, text_userdb_names, tilde_user_enable.
Every test here also passes against vsftpd 3.0.3 (MOAT_E2E_SERVER=vsftpd), which is how
"vsftpd's meaning" is checked; the moatftpd_only ones say where moatftpd differs."""

import ftplib
import io
import os
import socket
import struct
import uuid

import pytest

from clients import curl
from conftest import ANON_TEXT, is_vsftpd, login
from harness import code, raw_cmd


# --- cmds_allowed / cmds_denied ------------------------------------------------------
def test_cmds_allowed_refuses_every_other_command_after_login(server, env):
    srv = server({"cmds_allowed": "PASV,RETR,TYPE,QUIT"})
    ftp = login(srv, "anonymous")  # USER and PASS are always allowed before login
    buf = io.BytesIO()
    ftp.retrbinary("RETR pub/hello.txt", buf.write)
    assert buf.getvalue() == ANON_TEXT
    for line in ("PWD", "CWD pub", "SIZE pub/hello.txt", "NOOP", "XYZZY"):
        assert raw_cmd(ftp, line).startswith("550 "), line
    assert code(ftp.quit()) == 221


def test_cmds_allowed_names_upper_case_verbs_as_vsftpd(server, env):
    """The client's verb is case-insensitive, the list is not: "syst" allows nothing."""
    srv = server({"cmds_allowed": "PWD,syst,QUIT"})
    ftp = login(srv, "anonymous")
    assert code(raw_cmd(ftp, "pwd")) == 257
    assert code(raw_cmd(ftp, "SYST")) == 550
    assert code(raw_cmd(ftp, "syst")) == 550
    ftp.quit()


def test_cmds_denied_refuses_listed_commands_only(server, env):
    srv = server({"cmds_denied": "NLST,LIST,SIZE"})
    ftp = login(srv, "anonymous")
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.nlst()
    assert code(raw_cmd(ftp, "SIZE pub/hello.txt")) == 550
    assert code(raw_cmd(ftp, "PWD")) == 257
    r = curl(srv, None, "/pub/", check=False)  # curl lists with LIST
    assert r.returncode != 0 and r.stdout == b""
    ftp.quit()


def test_cmds_denied_wins_over_cmds_allowed(server, env):
    srv = server({"cmds_allowed": "PWD,CWD,QUIT", "cmds_denied": "CWD"})
    ftp = login(srv, "anonymous")
    assert code(raw_cmd(ftp, "CWD pub")) == 550
    assert code(raw_cmd(ftp, "PWD")) == 257
    ftp.quit()


# --- download_enable ----------------------------------------------------------------
def test_download_enable_no_refuses_retr(server, env, tmp_path):
    srv = server({"download_enable": False})
    ftp = login(srv, "anonymous")
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.retrbinary("RETR pub/hello.txt", lambda b: None)
    assert "hello.txt" in " ".join(ftp.nlst("pub"))  # listings still work
    ftp.quit()
    r = curl(srv, None, "/pub/hello.txt", check=False)
    assert r.returncode != 0 and r.stdout == b""


def test_download_enable_default_allows_retr(server, env):
    srv = server()
    assert curl(srv, None, "/pub/hello.txt").stdout == ANON_TEXT


# --- download_file / upload_file ----------------------------------------------------
def test_download_file_allows_only_matching_names(server, env):
    srv = server({"download_file": "{*.txt,README}"})
    assert curl(srv, None, "/pub/hello.txt").stdout == ANON_TEXT
    r = curl(srv, None, "/pub/data.bin", check=False)
    assert r.returncode != 0 and r.stdout == b""


def test_upload_file_allows_only_matching_names(server, env, tmp_path):
    srv = server({"upload_file": "*.txt"})
    local = tmp_path / "up"
    local.write_bytes(b"upload\n")
    base = "up-" + uuid.uuid4().hex[:8]
    curl(srv, env.alice, "/" + base + ".txt", "-T", str(local))
    assert open(os.path.join(env.alice.home, base + ".txt"), "rb").read() == b"upload\n"
    r = curl(srv, env.alice, "/" + base + ".bin", "-T", str(local), check=False)
    assert r.returncode != 0
    assert not os.path.exists(os.path.join(env.alice.home, base + ".bin"))
    os.unlink(os.path.join(env.alice.home, base + ".txt"))


# --- delete_failed_uploads ------------------------------------------------------------
def reset_upload(srv, env, name):
    """alice's STOR of `name` whose data connection is reset half-way: 426."""
    ftp = login(srv, env.alice)
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd(f"STOR {name}")
    conn.sendall(b"x" * 65536)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
    reply = ftp.getmultiline()
    ftp.close()
    return reply


@pytest.mark.parametrize("delete", [True, False])
def test_delete_failed_uploads(server, env, delete):
    """The 426 comes after the file was dealt with (vsftpd deletes it before replying)."""
    opts = {"delete_failed_uploads": delete, "chroot_local_user": False}
    if not is_vsftpd():
        opts["atomic_uploads"] = False  # moatftpd's own: write in place, as vsftpd
    srv = server(opts)
    name = f"failed-{uuid.uuid4().hex[:8]}.bin"
    assert code(reset_upload(srv, env, name)) == 426
    assert os.path.exists(os.path.join(env.alice.home, name)) != delete


# --- text_userdb_names ---------------------------------------------------------------
def owner_group(ftp, name):
    """The owner and group fields of `name`'s LIST line."""
    lines = []
    ftp.retrlines("LIST", lines.append)
    fields = next(l.split() for l in lines if l.endswith(" " + name))
    return fields[2], fields[3]


LOCAL = {"local_enable": True, "allow_writeable_chroot": True}


@pytest.mark.parametrize("names", [True, False])
def test_text_userdb_names_for_a_local_user(server, env, names):
    srv = server(dict(LOCAL, text_userdb_names=names))
    ftp = login(srv, env.alice)
    want = ("alice", "alice") if names else (str(env.alice.uid), str(env.alice.gid))
    assert owner_group(ftp, "notes.txt") == want
    ftp.quit()


@pytest.mark.parametrize("names", [True, False])
def test_text_userdb_names_for_anonymous(server, env, names):
    srv = server({"text_userdb_names": names})
    ftp = login(srv, "anonymous")
    assert owner_group(ftp, "README") == (("root", "root") if names else ("0", "0"))
    ftp.quit()


def test_text_userdb_names_keeps_unnamed_ids_numeric(server, env):
    path = os.path.join(env.alice.home, "orphan.txt")
    open(path, "w").close()
    os.chown(path, 54321, 54322)
    try:
        srv = server(dict(LOCAL, text_userdb_names=True))
        ftp = login(srv, env.alice)
        assert owner_group(ftp, "orphan.txt") == ("54321", "54322")
        ftp.quit()
    finally:
        os.unlink(path)


@pytest.mark.moatftpd_only
def test_text_userdb_names_in_a_chroot(server, env):
    """The names are read before the chroot, so a chrooted session shows them too
    (vsftpd 3.0.3 shows 20000-style ids there: its lookups see no /etc/passwd)."""
    srv = server(dict(LOCAL, text_userdb_names=True, chroot_local_user=True))
    ftp = login(srv, env.alice)
    assert owner_group(ftp, "notes.txt") == ("alice", "alice")
    ftp.quit()


# --- tilde_user_enable -----------------------------------------------------------------
def test_tilde_user_enable_resolves_another_users_home(server, env):
    srv = server(dict(LOCAL, tilde_user_enable=True))
    ftp = login(srv, env.alice)
    assert code(raw_cmd(ftp, "CWD ~bob")) == 250
    assert ftp.pwd() == env.bob.home
    assert raw_cmd(ftp, "SIZE ~alice/notes.txt").startswith("213 14")
    assert code(raw_cmd(ftp, "CWD ~bob/")) == 250
    assert code(raw_cmd(ftp, "CWD ~nosuchuser")) == 550
    # vsftpd expands only some commands' arguments; MDTM's is taken literally.
    assert code(raw_cmd(ftp, "MDTM ~alice/notes.txt")) == 550
    ftp.quit()


@pytest.mark.parametrize("options", [{"tilde_user_enable": False},
                                     {"tilde_user_enable": True, "chroot_local_user": True}])
def test_tilde_user_stays_literal_when_off_or_chrooted(server, env, options):
    srv = server(dict(LOCAL, **options))
    ftp = login(srv, env.alice)
    start = ftp.pwd()
    assert code(raw_cmd(ftp, "CWD ~bob")) == 550
    assert code(raw_cmd(ftp, "SIZE ~alice/notes.txt")) == 550
    assert ftp.pwd() == start
    ftp.quit()


@pytest.mark.parametrize("chroot", [False, True])
def test_tilde_alone_is_the_login_directory(server, env, chroot):
    srv = server(dict(LOCAL, chroot_local_user=chroot))
    ftp = login(srv, env.alice)
    start = ftp.pwd()
    ftp.cwd("/")
    assert code(raw_cmd(ftp, "CWD ~")) == 250
    assert ftp.pwd() == start
    assert raw_cmd(ftp, "SIZE ~/notes.txt").startswith("213 14")
    ftp.quit()
