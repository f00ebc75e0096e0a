# SPDX-License-Identifier: GPL-2.0-or-later
"""Logins: local users through real pam_unix, anonymous, refusals, limits, QUIT, REIN."""

import ftplib
import re

import pytest

from conftest import login
from harness import Control, code, raw_cmd


def test_greeting_hides_version(server):
    srv = server()
    ftp = srv.connect()
    welcome = ftp.getwelcome()
    assert welcome.startswith("220")
    if srv.kind == "moatftpd":
        assert welcome == "220 FTP server ready."
        assert "moatftpd" not in welcome.lower()
        assert not re.search(r"\d+\.\d+", welcome)


def test_ftpd_banner_is_used(server):
    srv = server({"ftpd_banner": "Welcome to the e2e FTP service."})
    assert srv.connect().getwelcome() == "220 Welcome to the e2e FTP service."


def test_local_user_good_password(server, env):
    ftp = server().connect()
    assert code(raw_cmd(ftp, "USER " + env.alice.name)) == 331
    reply = raw_cmd(ftp, "PASS " + env.alice.password)
    assert reply == "230 Login successful."
    pwd = ftp.pwd()
    assert pwd == env.alice.home
    assert "notes.txt" in ftp.nlst()


def test_user_reply_text(server, env):
    ftp = server().connect()
    assert raw_cmd(ftp, "USER " + env.alice.name) == "331 Please specify the password."


def test_local_user_bad_password(server, env):
    ftp = server().connect()
    raw_cmd(ftp, "USER " + env.alice.name)
    assert raw_cmd(ftp, "PASS wrong-" + env.alice.password) == "530 Login incorrect."


def test_unknown_user_same_text(server):
    ftp = server().connect()
    assert code(raw_cmd(ftp, "USER nosuchuser")) == 331
    assert raw_cmd(ftp, "PASS whatever") == "530 Login incorrect."


def test_other_user_password_does_not_work(server, env):
    ftp = server().connect()
    raw_cmd(ftp, "USER " + env.alice.name)
    assert code(raw_cmd(ftp, "PASS " + env.bob.password)) == 530


@pytest.mark.parametrize("name", ["anonymous", "ftp", "ANONYMOUS"])
@pytest.mark.parametrize("password", ["someone@example.org", "x"])
def test_anonymous_any_password(server, name, password):
    ftp = server().connect()
    assert code(raw_cmd(ftp, "USER " + name)) == 331
    assert raw_cmd(ftp, "PASS " + password) == "230 Login successful."
    assert ftp.pwd() == "/"
    names = ftp.nlst()
    assert "README" in names and "pub" in names


def test_anonymous_is_read_only(server):
    srv = server({"write_enable": True})
    ftp = login(srv, "anonymous")
    with pytest.raises(ftplib.error_perm) as exc:
        ftp.mkd("newdir")
    assert str(exc.value).startswith("550")
    reply = raw_cmd(ftp, "DELE README")
    assert reply.startswith("550")


def test_anonymous_disabled(server):
    ftp = server({"anonymous_enable": False}).connect()
    reply = raw_cmd(ftp, "USER anonymous")
    if code(reply) == 331:
        reply = raw_cmd(ftp, "PASS a@b.c")
    assert code(reply) == 530
    assert code(raw_cmd(ftp, "PWD")) == 530


def test_local_disabled(server, env):
    ftp = server({"local_enable": False}).connect()
    reply = raw_cmd(ftp, "USER " + env.alice.name)
    if code(reply) == 331:
        reply = raw_cmd(ftp, "PASS " + env.alice.password)
    assert code(reply) == 530
    assert code(raw_cmd(ftp, "PWD")) == 530


@pytest.mark.parametrize("line", ["PWD", "CWD /", "LIST", "RETR README", "STOR x",
                                  "MKD d", "PASV", "SIZE README", "DELE README"])
def test_commands_before_login(server, line):
    ftp = server().connect()
    assert raw_cmd(ftp, line) == "530 Please login with USER and PASS."


def test_pass_without_user(server):
    ftp = server().connect()
    assert code(raw_cmd(ftp, "PASS secret")) in (503, 530)


def test_max_login_fails_closes_session(server, env):
    srv = server({"max_login_fails": 3, "delay_failed_login": 0})
    for attempt in range(20):  # many sessions: a reply lost to a hasty close shows up
        with Control(*srv.address()) as c:
            assert c.reply()[0] == 220
            for n in range(1, 4):
                assert c.login(env.alice.name, "bad") == 530, f"session {attempt} fail {n}"
            assert c.closed_by_peer()


def test_two_fails_then_success(server, env):
    srv = server({"max_login_fails": 3, "delay_failed_login": 0})
    with Control(*srv.address()) as c:
        c.reply()
        for _ in range(2):
            assert c.login(env.alice.name, "bad") == 530
        assert c.login(env.alice.name, env.alice.password) == 230


def test_quit(server, env):
    ftp = login(server(), env.alice)
    assert ftp.quit().startswith("221")


def test_quit_before_login(server):
    ftp = server().connect()
    assert ftp.quit().startswith("221")


@pytest.mark.moatftpd_only
def test_rein(server, env):
    srv = server()
    with Control(*srv.address()) as c:
        c.reply()
        assert c.login(env.alice.name, env.alice.password) == 230
        assert c.cmd("REIN")[0] == 220
        assert c.cmd("PWD")[0] == 530
        assert c.login(env.bob.name, env.bob.password) == 230
        code_, lines = c.cmd("PWD")
        assert code_ == 257 and env.bob.home in lines[0]


def test_chroot_local_user(server, env):
    srv = server({"chroot_local_user": True, "allow_writeable_chroot": True})
    ftp = login(srv, env.alice)
    assert ftp.pwd() == "/"
    assert "notes.txt" in ftp.nlst()


def test_chroot_writable_home_refused_with_advice(server, env):
    srv = server({"chroot_local_user": True})
    ftp = srv.connect()
    raw_cmd(ftp, "USER " + env.alice.name)
    reply = raw_cmd(ftp, "PASS " + env.alice.password)
    assert code(reply) in (500, 530), reply
    if srv.kind == "moatftpd":
        assert "allow_writeable_chroot" in reply
    else:
        assert "writable root" in reply


def test_anonymous_uses_anon_root(server, env, tmpdir_e2e):
    import os
    root = os.path.join(tmpdir_e2e, "anon")
    os.makedirs(root)
    with open(os.path.join(root, "only-here.txt"), "w") as f:
        f.write("x\n")
    ftp = login(server({"anon_root": root}), "anonymous")
    assert ftp.nlst() == ["only-here.txt"]
