# SPDX-License-Identifier: GPL-2.0-or-later
"""Data connections go only to and from the control peer (issue 3, invariant 4): PORT and
EPRT to a third host or a privileged port are refused (FTP bounce); a passive connection
from another address is refused and the session is told (data-connection stealing);
pasv_promiscuous and port_promiscuous lift each check, as in vsftpd. Other hosts are
other loopback addresses (127.0.0.2) in the test's private network namespace."""

import socket

import pytest

from conftest import ANON_README, login
from harness import code, raw_cmd, wait_for

THIEF = "127.0.0.2"


def passive(ftp, verb):
    reply = raw_cmd(ftp, verb)
    if verb == "EPSV":
        assert reply.startswith("229"), reply
        return int(reply.split("|||")[1].split("|")[0])
    assert reply.startswith("227"), reply
    nums = reply[reply.index("(") + 1:reply.index(")")].split(",")
    return int(nums[4]) * 256 + int(nums[5])


def connect_from(source, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_all(s):
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    return data


def listener(host, port=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(1)
    s.settimeout(10)
    return s


def port_cmd(host, port):
    return "PORT " + ",".join(host.split(".") + [str(port >> 8), str(port & 255)])


# ---- data-connection stealing --------------------------------------------------------------

@pytest.mark.parametrize("verb", ["PASV", "EPSV"])
def test_thief_connecting_first_is_refused_and_the_session_told(server, verb):
    srv = server({"xferlog_enable": True})
    ftp = login(srv, "anonymous")
    port = passive(ftp, verb)
    thief = connect_from(THIEF, port)  # the thief races the client to the port
    reply = raw_cmd(ftp, "RETR README")
    if reply.startswith("150"):
        reply = ftp.getmultiline()
    assert reply == "425 Security: Bad IP connecting.", reply
    assert read_all(thief) == b"", "the thief got data"
    thief.close()
    # The session goes on, and an honest data connection works.
    out = []
    ftp.retrbinary("RETR README", out.append)
    assert b"".join(out) == ANON_README
    if srv.kind == "moatftpd":
        assert wait_for(lambda: "data connection from 127.0.0.2 refused" in
                        open(srv.options["vsftpd_log_file"]).read())


@pytest.mark.parametrize("verb", ["PASV", "EPSV"])
def test_thief_after_the_client_gets_nothing(server, verb):
    ftp = login(server(), "anonymous")
    port = passive(ftp, verb)
    mine = connect_from("127.0.0.1", port)
    assert raw_cmd(ftp, "RETR README").startswith("150")
    assert read_all(mine) == ANON_README
    assert ftp.getmultiline().startswith("226")
    try:  # the passive port is closed once the client is connected
        late = connect_from(THIEF, port)
        assert read_all(late) == b""
        late.close()
    except OSError:
        pass


def test_pasv_promiscuous_accepts_another_address(server):
    ftp = login(server({"pasv_promiscuous": True}), "anonymous")
    port = passive(ftp, "PASV")
    other = connect_from(THIEF, port)
    assert raw_cmd(ftp, "RETR README").startswith("150")
    assert read_all(other) == ANON_README
    assert ftp.getmultiline().startswith("226")


# ---- FTP bounce ----------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["127.0.0.2", "10.0.0.1", "0.0.0.0", "255.255.255.255"])
def test_port_and_eprt_to_another_host_refused(server, target):
    srv = server()
    ftp = login(srv, "anonymous")
    for line in (port_cmd(target, 5000), f"EPRT |1|{target}|5000|"):
        reply = raw_cmd(ftp, line)
        assert 500 <= code(reply) <= 599, (line, reply)
    # No data connection set up: RETR asks for one.
    assert 400 <= code(raw_cmd(ftp, "RETR README")) <= 599
    assert ftp.voidcmd("NOOP").startswith("200")


@pytest.mark.parametrize("port", [0, 1, 7, 19, 20, 21, 22, 25, 80, 1023])
def test_privileged_ports_refused(server, port):
    ftp = login(server(), "anonymous")
    for line in (port_cmd("127.0.0.1", port), f"EPRT |1|127.0.0.1|{port}|"):
        assert 500 <= code(raw_cmd(ftp, line)) <= 599, line


def test_bounce_attempt_reaches_nobody(server):
    """A refused PORT leaves nothing behind: the next RETR connects nowhere."""
    ftp = login(server(), "anonymous")
    with listener(THIEF) as third:
        raw_cmd(ftp, port_cmd(THIEF, third.getsockname()[1]))
        raw_cmd(ftp, "RETR README")
        third.settimeout(1)
        with pytest.raises(socket.timeout):
            third.accept()


@pytest.mark.moatftpd_only  # vsftpd with listen_ipv6 answers EPRT |1| with 500 as well
def test_eprt_other_family_refused(server):
    srv = server({"listen_ipv6": True, "listen_address6": "::1"})
    ftp6 = login(srv, "anonymous", ipv6=True)
    with listener("127.0.0.1") as ls:
        reply = raw_cmd(ftp6, f"EPRT |1|127.0.0.1|{ls.getsockname()[1]}|")
        assert 500 <= code(reply) <= 599, reply
    ftp4 = login(srv, "anonymous")
    assert 500 <= code(raw_cmd(ftp4, "EPRT |2|::1|5000|")) <= 599


# vsftpd 3.0.3 accepts the PORT but then ends the session at RETR ("500 OOPS: Illegal
# port request"); moatftpd lets port_promiscuous lift the port check as its text says.
@pytest.mark.moatftpd_only
def test_port_promiscuous_allows_a_privileged_port(server):
    ftp = login(server({"port_promiscuous": True}), "anonymous")
    with listener("127.0.0.1", 1000) as ls:
        assert raw_cmd(ftp, port_cmd("127.0.0.1", 1000)).startswith("200")
        assert raw_cmd(ftp, "RETR README").startswith("150")
        conn, _ = ls.accept()
        with conn:
            assert read_all(conn) == ANON_README
    assert ftp.getmultiline().startswith("226")
