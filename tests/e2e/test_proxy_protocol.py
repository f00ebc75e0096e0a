# SPDX-License-Identifier: GPL-2.0-or-later
"""PROXY protocol on the control connection (proxy_protocol_from=): headers v1 and v2
driven from Python, the balancer and the clients played by loopback addresses of the
test's network namespace (127.0.0.2 is the balancer, 127.0.0.5 and .6 clients), and
a real HAProxy with send-proxy-v2 in front of the server when it is installed."""
import ftplib
import os
import re
import shutil
import socket
import struct
import subprocess

import pytest

import harness
from harness import wait_for

pytestmark = pytest.mark.moatftpd_only

BALANCER = "127.0.0.2"
STRANGER = "127.0.0.3"
CLIENT = "127.0.0.5"
OTHER_CLIENT = "127.0.0.6"
TOO_MANY_FROM_IP = "421 There are too many connections from your internet address."
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def module_dir():
    return os.path.join(os.path.dirname(harness.default_binary("moatftpd")), "modules")


def v1(src, dst="127.0.0.1", sport=40000, dport=21):
    return f"PROXY TCP4 {src} {dst} {sport} {dport}\r\n".encode()


def v2(src, dst="127.0.0.1", sport=40000, dport=21, local=False, tlvs=b""):
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    body += tlvs
    return V2_SIGNATURE + bytes([0x20 if local else 0x21, 0x11]) + struct.pack("!H", len(body)) + body


class Conn(harness.Control):
    """A raw control connection from a chosen source address, header first."""

    def __init__(self, srv, source, header=b""):  # pylint: disable=super-init-not-called
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(15)
        self.sock.bind((source, 0))
        self.sock.connect(srv.address())
        if header:
            self.sock.sendall(header)
        self.file = self.sock.makefile("rb")

    def line(self):
        try:
            return self.file.readline().decode(errors="replace").rstrip("\r\n")
        except ConnectionResetError:
            return ""

    def ask(self, text):
        """One command; its reply's first line."""
        self.send(text + "\r\n")
        return self.line()


def proxied(server, **options):
    opts = {"proxy_protocol_from": BALANCER, "xferlog_enable": True, "dual_log_enable": True}
    opts.update(options)
    return server(opts)


def vsftpd_log(srv):
    path = srv.options["vsftpd_log_file"]
    return open(path).read() if os.path.exists(path) else ""


def anonymous_login(c):
    assert c.ask("USER anonymous").startswith("331")
    assert c.ask("PASS e2e@example.org").startswith("230")


@pytest.mark.parametrize("header", [v1(CLIENT), v2(CLIENT),
                                    v2(CLIENT, tlvs=b"\x04\x00\x03abc")],
                         ids=["v1", "v2", "v2-tlv"])
def test_header_names_the_real_client_in_the_log(server, header):
    srv = proxied(server)
    c = Conn(srv, BALANCER, header)
    assert c.line().startswith("220")
    anonymous_login(c)
    c.ask("QUIT")
    c.close()
    text = wait_for(lambda: "OK LOGIN" in vsftpd_log(srv) and vsftpd_log(srv))
    assert f'OK LOGIN: Client "{CLIENT}"' in text, text
    assert BALANCER not in text


def test_header_and_first_command_in_one_packet(server):
    srv = proxied(server)
    c = Conn(srv, BALANCER, v1(CLIENT) + b"USER anonymous\r\n")
    assert c.line().startswith("220")
    assert c.line().startswith("331")  # the master took the header and nothing more
    c.close()


def test_local_and_unknown_keep_the_balancer_address(server):
    srv = proxied(server)
    for header in (v2(CLIENT, local=True), b"PROXY UNKNOWN\r\n"):
        c = Conn(srv, BALANCER, header)
        assert c.line().startswith("220")
        anonymous_login(c)
        c.close()
    text = wait_for(lambda: vsftpd_log(srv).count("OK LOGIN") == 2 and vsftpd_log(srv))
    assert text.count(f'OK LOGIN: Client "{BALANCER}"') == 2, text


def test_max_per_ip_counts_the_real_client(server):
    srv = proxied(server, load_module="mod_iplimit", module_dir=module_dir(), max_per_ip=1)
    first = Conn(srv, BALANCER, v2(CLIENT))
    assert first.line().startswith("220")
    second = Conn(srv, BALANCER, v2(CLIENT, sport=40001))
    assert second.line() == TOO_MANY_FROM_IP
    other = Conn(srv, BALANCER, v1(OTHER_CLIENT))
    assert other.line().startswith("220")  # same balancer, another client: its own count
    for c in (first, second, other):
        c.close()


@pytest.mark.parametrize("header", [v1(CLIENT), v2(CLIENT)], ids=["v1", "v2"])
def test_header_from_an_untrusted_source_is_refused(server, header):
    srv = proxied(server)
    c = Conn(srv, STRANGER, header)
    assert c.line().startswith("220")  # the master reads nothing from a stranger
    assert c.closed_by_peer()
    c.close()
    assert f'Client "{CLIENT}"' not in vsftpd_log(srv)


def test_untrusted_sources_are_served_as_before(server):
    srv = proxied(server)
    c = Conn(srv, STRANGER)
    assert c.line().startswith("220")
    anonymous_login(c)
    c.close()


@pytest.mark.parametrize("garbage", [b"USER anonymous\r\n", b"PROXY TCP4 1.2.3.4 x 1 2\r\n",
                                     V2_SIGNATURE + b"\x21\x12\x00\x0c" + bytes(12)],
                         ids=["ftp", "bad-v1", "v2-udp"])
def test_trusted_source_without_valid_header_is_closed(server, garbage):
    srv = proxied(server)
    c = Conn(srv, BALANCER, garbage)
    assert c.closed_by_peer()
    c.close()
    assert srv.wait_stderr(rf"connection from {re.escape(BALANCER)} closed: ")


def test_partial_header_times_out_without_holding_a_slot(server):
    srv = proxied(server, load_module="mod_iplimit", module_dir=module_dir(), max_clients=1)
    slow = Conn(srv, BALANCER, b"PROXY TCP4 127.0.0.5 ")
    # The master's loop goes on and the waiting connection holds no session slot.
    other = Conn(srv, STRANGER)
    assert other.line().startswith("220")
    other.close()
    assert slow.closed_by_peer()
    slow.close()
    assert srv.wait_stderr(r"closed: no complete PROXY header within 5 s")


def passive_data_from(c, source):
    """PASV on connection c, then a data connection from `source`; the reply to LIST."""
    reply = c.ask("PASV")
    assert reply.startswith("227"), reply
    nums = [int(n) for n in re.search(r"\((\d+(?:,\d+){5})\)", reply).group(1).split(",")]
    data = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    data.settimeout(15)
    data.bind((source, 0))
    data.connect(("127.0.0.1", nums[4] * 256 + nums[5]))
    first = c.ask("LIST")
    listing = b""
    while chunk := data.recv(4096):
        listing += chunk
    data.close()
    return first, c.line() if first.startswith("150") else ""


def test_data_connection_must_come_from_the_real_client(server):
    srv = proxied(server)
    c = Conn(srv, BALANCER, v2(CLIENT))
    assert c.line().startswith("220")
    anonymous_login(c)
    first, _ = passive_data_from(c, CLIENT)
    assert first.startswith("150"), first
    first, _ = passive_data_from(c, BALANCER)
    assert first.startswith("425"), first
    c.close()


def test_data_from_balancer_when_it_balances_the_passive_ports(server):
    srv = proxied(server, proxy_data_from_balancer=True)
    c = Conn(srv, BALANCER, v2(CLIENT))
    assert c.line().startswith("220")
    anonymous_login(c)
    first, end = passive_data_from(c, BALANCER)
    assert first.startswith("150") and end.startswith("226"), (first, end)
    first, _ = passive_data_from(c, STRANGER)
    assert first.startswith("425"), first
    c.close()


# ---- a real balancer: HAProxy with send-proxy-v2 (skipped when it is not installed) ----

# The balancer's control port; test_cluster.py adds its own backend lines.
# One thread, as contrib/haproxy.cfg says (BEHIND-HAPROXY.md: empty uploads); the log,
# one line per connection with its termination state, goes to HAProxy's stdout.
HAPROXY_FRONTEND = """global
    maxconn 100
    nbthread 1
    log stdout format raw local0
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend ftp
    bind {balancer}:{port}
    default_backend nodes
backend nodes
    source {balancer}
"""
HAPROXY_CFG = HAPROXY_FRONTEND + """    server node1 127.0.0.1:{node_port} send-proxy-v2
"""


def free_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def accepts(host, port):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture
def haproxy(tmpdir_e2e):
    """start(node_port) -> the balancer's port; HAProxy runs in the foreground and is
    killed at the end."""
    binary = shutil.which("haproxy")
    if not binary:
        pytest.skip("haproxy not installed (contrib/install-deps.sh installs it)")
    procs = []

    def start(node_port):
        port = free_port(BALANCER)
        cfg = os.path.join(tmpdir_e2e, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY_CFG.format(balancer=BALANCER, port=port, node_port=node_port))
        procs.append(subprocess.Popen([binary, "-db", "-f", cfg], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE))
        assert wait_for(lambda: accepts(BALANCER, port), timeout=10), "haproxy did not start"
        return port

    yield start
    for p in procs:
        p.kill()
        p.wait()


def ftp_through(port):
    ftp = ftplib.FTP()
    ftp.source_address = (CLIENT, 0)
    ftp.trust_server_pasv_ipv4_address = True  # the node's address, not the balancer's
    ftp.connect(BALANCER, port, timeout=15, source_address=(CLIENT, 0))
    return ftp


def test_haproxy_client_logs_in_under_its_own_address(server, haproxy):
    srv = proxied(server, load_module="mod_iplimit", module_dir=module_dir(), max_per_ip=1)
    port = haproxy(srv.port)
    ftp = ftp_through(port)
    ftp.login("anonymous", "e2e@example.org")
    assert ftp.nlst()  # the passive data connection comes straight from the client
    with pytest.raises(ftplib.error_temp, match="too many connections from your"):
        ftp_through(port)  # max_per_ip counts 127.0.0.5, not the balancer
    ftp.quit()
    text = wait_for(lambda: "OK LOGIN" in vsftpd_log(srv) and vsftpd_log(srv))
    assert f'OK LOGIN: Client "{CLIENT}"' in text, text
