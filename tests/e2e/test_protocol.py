# SPDX-License-Identifier: GPL-2.0-or-later
"""Protocol details: FEAT, OPTS, SYST, TYPE/MODE/STRU, HELP, STAT, verbs, error codes,
long lines, the xferlog line, SIGHUP reload and SIGTERM with a session running."""

import io
import os
import re
import socket

import pytest

from conftest import ANON_README, login
from harness import Control, code, raw_cmd, wait_for

COMMON_FEATURES = {"EPRT", "EPSV", "MDTM", "PASV", "REST STREAM", "SIZE"}


@pytest.fixture
def anon(server):
    return login(server(), "anonymous")


def test_feat_well_formed(server):
    srv = server()
    with Control(*srv.address()) as c:
        c.reply()
        for when in ("before login", "after login"):
            status, lines = c.cmd("FEAT")
            assert status == 211, when
            assert lines[0].startswith("211-")
            assert lines[-1].startswith("211 ")
            assert all(l.startswith(" ") for l in lines[1:-1]), lines
            features = {l.strip() for l in lines[1:-1]}
            assert COMMON_FEATURES <= features, f"{when}: {sorted(features)}"
            if srv.kind == "moatftpd":
                assert any(f.startswith("MLST ") for f in features), features
                assert "UTF8" in features  # vsftpd lists it only with utf8_filesystem
            if when == "before login":
                assert c.login("anonymous", "x@y") == 230


def test_opts_utf8(anon):
    assert code(raw_cmd(anon, "OPTS UTF8 ON")) == 200
    assert 500 <= code(raw_cmd(anon, "OPTS NOSUCHOPTION ON")) <= 599


def test_syst(anon):
    assert raw_cmd(anon, "SYST") == "215 UNIX Type: L8"


@pytest.mark.parametrize("line,good", [
    ("TYPE A", True), ("TYPE I", True), ("TYPE L 8", True), ("TYPE A N", True),
    ("type i", True), ("TYPE X", False), ("TYPE E", False),
    ("MODE S", True), ("MODE B", False), ("MODE Z", False),
    ("STRU F", True), ("STRU R", False), ("STRU Q", False),
])
def test_type_mode_stru(anon, line, good):
    c = code(raw_cmd(anon, line))
    assert (c == 200) if good else (500 <= c <= 599), (line, c)


def test_help(anon):
    reply = raw_cmd(anon, "HELP")
    assert reply.startswith("214-") and reply.splitlines()[-1].startswith("214 ")
    assert "RETR" in reply and "STOR" in reply


def test_stat(anon):
    reply = raw_cmd(anon, "STAT")
    lines = reply.splitlines()
    assert lines[0].startswith("211-") and lines[-1].startswith("211 ")


def test_noop_and_case_insensitive_verbs(anon):
    for verb in ("NOOP", "noop", "NoOp"):
        assert code(raw_cmd(anon, verb)) == 200
    assert raw_cmd(anon, "syst") == "215 UNIX Type: L8"
    assert raw_cmd(anon, "pWd").startswith('257 "/"')


def test_unknown_command_after_login(server, anon):
    reply = raw_cmd(anon, "XYZZY foo")
    if os.environ.get("MOAT_E2E_SERVER", "moatftpd") == "vsftpd":
        assert code(reply) == 500  # vsftpd answers "500 Unknown command."
    else:
        assert code(reply) == 502, reply
    assert code(raw_cmd(anon, "NOOP")) == 200


@pytest.mark.moatftpd_only
@pytest.mark.parametrize("line", ["MKD", "RNFR", "DELE", "SIZE", "RETR", "REST abc",
                                  "REST -5", "PORT 1,2,3", "MODE", "TYPE", "STRU"])
def test_syntax_errors_501(server, env, line):
    ftp = login(server(), env.alice)
    reply = raw_cmd(ftp, line)
    assert code(reply) == 501, (line, reply)
    assert code(raw_cmd(ftp, "NOOP")) == 200


def test_long_line(server):
    srv = server()
    with Control(*srv.address()) as c:
        c.reply()
        assert c.login("anonymous", "x@y") == 230
        c.send("NOOP " + "x" * 20000 + "\r\nNOOP\r\n")
        for _ in range(12):
            status, lines = c.reply()
            if status is None or status == 200:
                break
            assert 500 <= status <= 599, lines
        assert status in (None, 200), "no answer to the NOOP after a long line"
    # The server is still there for others.
    assert code(raw_cmd(login(srv, "anonymous"), "NOOP")) == 200


XFERLOG_RE = re.compile(
    r"^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"[ \d]\d \d\d:\d\d:\d\d \d{4} (\d+) 127\.0\.0\.1 (\d+) (\S+) ([ab]) _ ([oi]) ([agr]) "
    r"(\S+) ftp 0 \* ([ci])$")


def test_xferlog_std_format(server, env):
    srv = server({"xferlog_enable": True, "xferlog_std_format": True})
    anon = login(srv, "anonymous")
    out = io.BytesIO()
    anon.retrbinary("RETR README", out.write)
    assert out.getvalue() == ANON_README
    alice = login(srv, env.alice)
    alice.storbinary("STOR xfer-upload.bin", io.BytesIO(b"u" * 1234))
    try:
        lines = wait_for(lambda: len(srv.xferlog().splitlines()) >= 2 and
                         srv.xferlog().splitlines())
        assert lines and len(lines) == 2, srv.xferlog()
        down, up = (XFERLOG_RE.match(l) for l in lines)
        assert down and up, lines
        assert down.group(2) == str(len(ANON_README))
        assert down.group(3).endswith("/README")
        assert down.group(4, 5, 6, 7, 8) == ("b", "o", "a", "e2e@example.org", "c")
        assert up.group(2) == "1234"
        assert up.group(3) == os.path.join(env.alice.home, "xfer-upload.bin")
        assert up.group(4, 5, 6, 7, 8) == ("b", "i", "r", env.alice.name, "c")
    finally:
        os.unlink(os.path.join(env.alice.home, "xfer-upload.bin"))


def banner(srv):
    try:
        return srv.connect().getwelcome()
    except OSError:
        return None


def test_sighup_reload(server):
    srv = server({"ftpd_banner": "first banner"})
    old = login(srv, "anonymous")
    assert banner(srv) == "220 first banner"
    srv.options["ftpd_banner"] = "second banner"
    srv.write_config()
    srv.reload()
    assert wait_for(lambda: banner(srv) == "220 second banner"), banner(srv)
    assert srv.proc.poll() is None
    assert code(raw_cmd(old, "NOOP")) == 200
    out = io.BytesIO()
    old.retrbinary("RETR README", out.write)
    assert out.getvalue() == ANON_README


def test_sigterm_keeps_running_session(server, env):
    srv = server()
    ftp = login(srv, "anonymous")
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("RETR pub/data.bin")
    first = conn.recv(1000)
    srv.terminate()
    srv.proc.wait(10)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(srv.address(), timeout=5)
    data = first
    while chunk := conn.recv(65536):
        data += chunk
    conn.close()
    assert ftp.voidresp().startswith("226")
    with open(os.path.join(env.anon_root, "pub", "data.bin"), "rb") as f:
        assert data == f.read()
    assert sorted(n.rsplit("/", 1)[-1] for n in ftp.nlst("pub")) == ["data.bin", "hello.txt"]
    assert ftp.quit().startswith("221")
