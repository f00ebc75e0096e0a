# SPDX-License-Identifier: GPL-2.0-or-later
"""Data connections: PASV/EPSV ranges and pasv_address, PORT/EPRT (IPv4, IPv6), RFC 2428
errors, EPSV ALL, and the rule that data goes only to or from the control peer."""

import ftplib
import os
import re
import socket

import pytest

from clients import curl
from conftest import ANON_README, login
from harness import code, raw_cmd

RANGE = {"pasv_min_port": 50000, "pasv_max_port": 50010}


def pasv_port(reply):
    m = re.search(r"\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)", reply)
    assert m, reply
    nums = [int(x) for x in m.groups()]
    return ".".join(map(str, nums[:4])), nums[4] * 256 + nums[5]


def epsv_port(reply):
    m = re.search(r"\(\|\|\|(\d+)\|\)", reply)
    assert reply.startswith("229") and m, reply
    return int(m.group(1))


def fetch_passive(ftp, host, port, name="README", source=None):
    """RETR over a passive connection to host:port; returns (data, final reply)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        if source:
            s.bind((source, 0))
        s.connect((host, port))
        first = raw_cmd(ftp, "RETR " + name)
        if not first.startswith("150"):
            return None, first
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data, ftp.getmultiline()


def fetch_active(ftp, port_line, listener, name="README"):
    """Send PORT/EPRT port_line, RETR, accept on listener; returns (data, replies)."""
    first = raw_cmd(ftp, port_line)
    if not first.startswith("200"):
        return None, [first]
    second = raw_cmd(ftp, "RETR " + name)
    if not second.startswith("150"):
        return None, [first, second]
    listener.settimeout(10)
    conn, _ = listener.accept()
    with conn:
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    return data, [first, second, ftp.getmultiline()]


def basenames(names):
    return [n.rsplit("/", 1)[-1] for n in names]  # NLST DIR may prefix DIR/ (vsftpd does)


def listener(host):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind((host, 0))
    s.listen(1)
    return s


def port_cmd(host, port):
    return "PORT " + ",".join(host.split(".") + [str(port >> 8), str(port & 255)])


@pytest.fixture
def anon(server):
    return login(server(), "anonymous")


# --- passive ------------------------------------------------------------------------
def test_pasv_advertises_pasv_address_and_range(server):
    ftp = login(server(dict(RANGE, pasv_address="203.0.113.10")), "anonymous")
    for _ in range(3):
        reply = raw_cmd(ftp, "PASV")
        assert reply.startswith("227")
        host, port = pasv_port(reply)
        assert host == "203.0.113.10"
        assert 50000 <= port <= 50010


def test_pasv_range_transfers(server):
    ftp = login(server(RANGE), "anonymous")
    for _ in range(5):
        host, port = pasv_port(raw_cmd(ftp, "PASV"))
        assert host == "127.0.0.1" and 50000 <= port <= 50010
        data, final = fetch_passive(ftp, host, port)
        assert data == ANON_README and final.startswith("226")


PORT_RANGE_SYSCTL = "/proc/sys/net/ipv4/ip_local_port_range"  # this test's netns only


def test_passive_ports_outlast_time_wait_without_a_range(server):
    """Without pasv_min_port/pasv_max_port, passive ports do not come from bind(0).
    Each transfer leaves its port in TIME_WAIT (the server closes first) for a minute,
    and bind(0) only takes a port that no socket, TIME_WAIT included, holds
    (net.ipv4.ip_autobind_reuse=0): searching for one is what made a session's small
    files cost ten times the CPU once thousands had been sent, and with the 20
    ephemeral ports set here the server's TIME_WAIT sockets held them all within 20
    transfers (PASV, or the client's connect, found none). The range is narrowed in
    the test's own network namespace after the server has read it."""
    assert os.environ.get("MOAT_NSRUN") == "1"  # the sysctl must be the namespace's own
    ftp = login(server(), "anonymous")
    with open(PORT_RANGE_SYSCTL) as f:
        saved = f.read().strip()
    try:
        with open(PORT_RANGE_SYSCTL, "w") as f:
            f.write("40000 40019")
        for i in range(45):
            host, port = pasv_port(raw_cmd(ftp, "PASV"))
            data, final = fetch_passive(ftp, host, port)
            assert data == ANON_README and final.startswith("226"), (i, final)
    finally:
        with open(PORT_RANGE_SYSCTL, "w") as f:
            f.write(saved)


def test_epsv(server):
    ftp = login(server(RANGE), "anonymous")
    port = epsv_port(raw_cmd(ftp, "EPSV"))
    assert 50000 <= port <= 50010
    data, final = fetch_passive(ftp, "127.0.0.1", port)
    assert data == ANON_README and final.startswith("226")
    port = epsv_port(raw_cmd(ftp, "EPSV 1"))
    data, final = fetch_passive(ftp, "127.0.0.1", port)
    assert data == ANON_README


def test_pasv_refuses_other_peer(anon):
    _, port = pasv_port(raw_cmd(anon, "PASV"))
    data, final = fetch_passive(anon, "127.0.0.1", port, source="127.0.0.2")
    assert not data
    assert code(final) == 425, final
    assert anon.voidcmd("NOOP").startswith("200")


def test_pasv_disabled(server):
    ftp = login(server({"pasv_enable": False}), "anonymous")
    assert 500 <= code(raw_cmd(ftp, "PASV")) <= 599
    assert 500 <= code(raw_cmd(ftp, "EPSV")) <= 599


# --- active -------------------------------------------------------------------------
def test_port_to_peer(anon):
    with listener("127.0.0.1") as ls:
        data, replies = fetch_active(anon, port_cmd("127.0.0.1", ls.getsockname()[1]), ls)
    assert data == ANON_README, replies
    assert replies[-1].startswith("226")


def test_eprt_ipv4(anon):
    with listener("127.0.0.1") as ls:
        line = f"EPRT |1|127.0.0.1|{ls.getsockname()[1]}|"
        data, replies = fetch_active(anon, line, ls)
    assert data == ANON_README, replies


@pytest.fixture
def anon6(server):
    srv = server({"listen_ipv6": True, "listen_address6": "::1"})
    return login(srv, "anonymous", ipv6=True)


def test_eprt_ipv6(anon6):
    with listener("::1") as ls:
        data, replies = fetch_active(anon6, f"EPRT |2|::1|{ls.getsockname()[1]}|", ls)
    assert data == ANON_README, replies
    assert replies[-1].startswith("226")


def test_epsv_ipv6(anon6):
    port = epsv_port(raw_cmd(anon6, "EPSV"))
    data, final = fetch_passive(anon6, "::1", port)
    assert data == ANON_README and final.startswith("226")
    assert sorted(basenames(anon6.nlst("pub"))) == ["data.bin", "hello.txt"]


def test_curl_ipv6_passive_and_active(server, env):
    srv = server({"listen_ipv6": True, "listen_address6": "::1"})
    assert curl(srv, None, "/README", ipv6=True).stdout == ANON_README
    assert curl(srv, None, "/README", "-P", "::1", ipv6=True).stdout == ANON_README
    names = curl(srv, env.alice, "/", "--list-only", ipv6=True).stdout.decode().split()
    assert "notes.txt" in names


@pytest.mark.moatftpd_only
def test_ipv4_and_ipv6_from_one_master(server):
    srv = server({"listen_ipv6": True, "listen_address6": "::1"})
    assert srv.port and srv.port6
    assert "README" in login(srv, "anonymous").nlst()
    assert "README" in login(srv, "anonymous", ipv6=True).nlst()


@pytest.mark.moatftpd_only
def test_eprt_unsupported_protocol(anon):
    assert raw_cmd(anon, "EPRT |3|127.0.0.1|5000|") == \
        "522 Network protocol not supported, use (1,2)"


@pytest.mark.moatftpd_only
def test_epsv_unsupported_protocol(anon):
    assert raw_cmd(anon, "EPSV 3") == "522 Network protocol not supported, use (1,2)"


@pytest.mark.parametrize("line", ["EPRT", "EPRT |1|127.0.0.1|", "EPRT |1|not-an-ip|5000|",
                                  "EPRT |1|127.0.0.1|99999|", "PORT 1,2,3", "PORT a,b,c,d,e,f",
                                  "PORT 127,0,0,1,300,1"])
def test_bad_port_syntax(anon, line):
    assert code(raw_cmd(anon, line)) in (500, 501), line


def epsv_all_refuses(ftp, lines):
    assert code(raw_cmd(ftp, "EPSV ALL")) == 200
    with listener("127.0.0.1") as ls:
        port = ls.getsockname()[1]
        for line in lines:
            line = line.format(port=port, port_cmd=port_cmd("127.0.0.1", port))
            reply = raw_cmd(ftp, line)
            assert 500 <= code(reply) <= 599, (line, reply)
    port = epsv_port(raw_cmd(ftp, "EPSV"))
    data, _ = fetch_passive(ftp, "127.0.0.1", port)
    assert data == ANON_README


def test_epsv_all_refuses_port_pasv(anon):
    epsv_all_refuses(anon, ["{port_cmd}", "PASV"])


@pytest.mark.moatftpd_only  # vsftpd 3.0.3 still accepts EPRT after EPSV ALL
def test_epsv_all_refuses_eprt(anon):
    epsv_all_refuses(anon, ["EPRT |1|127.0.0.1|{port}|", "{port_cmd}", "PASV"])


def test_port_to_third_host_refused(anon):
    with listener("127.0.0.2") as ls:
        reply = raw_cmd(anon, port_cmd("127.0.0.2", ls.getsockname()[1]))
        assert 500 <= code(reply) <= 599, reply
        reply = raw_cmd(anon, f"EPRT |1|127.0.0.2|{ls.getsockname()[1]}|")
        assert 500 <= code(reply) <= 599, reply
        # Whatever was answered, RETR must not reach the third host.
        ls.settimeout(0.5)
        raw_cmd(anon, "RETR README")
        with pytest.raises(socket.timeout):
            ls.accept()


def test_port_privileged_refused(anon):
    assert 500 <= code(raw_cmd(anon, port_cmd("127.0.0.1", 1023))) <= 599
    assert 500 <= code(raw_cmd(anon, "EPRT |1|127.0.0.1|21|")) <= 599


def test_port_promiscuous_allows_third_host(server):
    ftp = login(server({"port_promiscuous": True}), "anonymous")
    with listener("127.0.0.2") as ls:
        data, replies = fetch_active(ftp, port_cmd("127.0.0.2", ls.getsockname()[1]), ls)
    assert data == ANON_README, replies


def test_port_disabled(server):
    ftp = login(server({"port_enable": False}), "anonymous")
    with listener("127.0.0.1") as ls:
        port = ls.getsockname()[1]
        assert 500 <= code(raw_cmd(ftp, port_cmd("127.0.0.1", port))) <= 599
        assert 500 <= code(raw_cmd(ftp, f"EPRT |1|127.0.0.1|{port}|")) <= 599
    # Passive still works.
    assert ftp.nlst() and "README" in ftp.nlst()


def test_ftplib_active_mode_works(anon):
    anon.set_pasv(False)
    assert sorted(basenames(anon.nlst("pub"))) == ["data.bin", "hello.txt"]
    with pytest.raises(ftplib.error_perm):
        anon.retrbinary("RETR nothing", print)
