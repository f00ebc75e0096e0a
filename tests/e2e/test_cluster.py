# SPDX-License-Identifier: GPL-2.0-or-later
"""moatftpd behind a balancer, beyond one node: a real HAProxy (send-proxy-v2) in front
of two moatftpd nodes that share bans and per-address counts through a real Redis
(iplimit_backend=redis), all started here in the test's network namespace. Loopback
addresses play the machines: 127.0.0.2 the balancer, .11 and .12 the nodes, .5 and .6
clients, .3 a stranger, .7 an attacker (127.0.0.1: test_soak's clients). Each node announces the balancer's address for passive mode and
its own port range, which HAProxy forwards to it; thousands of empty uploads through
it end in 226 (HAProxy on one thread: contrib/BEHIND-HAPROXY.md). Also: bans of a single node
(iplimit_backend=local) kept in ban_file= across a restart, and moatftpd --bans/--unban.
The sustained-traffic test runs 60 sessions by default; MOAT_SOAK_SECONDS=N runs it N s."""
import concurrent.futures
import ftplib
import io
import os
import re
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

import harness
from harness import wait_for
from test_proxy_protocol import HAPROXY_FRONTEND, accepts, module_dir, vsftpd_log
from test_soak import LONG_RUN, Background, Soak, Tally, retry_pasv

pytestmark = pytest.mark.moatftpd_only

BALANCER = "127.0.0.2"
STRANGER = "127.0.0.3"
CLIENT = "127.0.0.5"
OTHER_CLIENT = "127.0.0.6"
NODES = ("127.0.0.11", "127.0.0.12")
# Fixed ports are safe here: the network namespace is the test's own.
PASV_RANGES = ((41000, 41009), (41010, 41019))
REDIS_PORT = 6390
FAILURES_TO_BAN = 3
BANNED = "Too many failed logins"
TOO_MANY_FROM_IP = "too many connections from your internet address"


def moatftpd(*args):
    """The moatftpd command line (as an operator runs it); (exit status, stdout)."""
    r = subprocess.run([harness.default_binary("moatftpd"), *args], capture_output=True,
                       text=True, timeout=30, check=False)
    return r.returncode, r.stdout


class Redis:
    """redis-server in the foreground on 127.0.0.1:REDIS_PORT, without persistence."""

    def __init__(self, binary, workdir):
        self.binary, self.workdir, self.proc = binary, workdir, None

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(REDIS_PORT), "--save", "",
             "--appendonly", "no", "--dir", self.workdir, "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_for(lambda: accepts("127.0.0.1", REDIS_PORT), timeout=10), "no redis"

    def kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


HAPROXY_CFG = HAPROXY_FRONTEND + """    balance roundrobin
    server node1 {node1}:{port1} send-proxy-v2
    server node2 {node2}:{port2} send-proxy-v2
frontend pasv1
    bind {balancer}:{pasv1[0]}-{pasv1[1]}
    default_backend data1
backend data1
    source {balancer}
    server node1 {node1}
frontend pasv2
    bind {balancer}:{pasv2[0]}-{pasv2[1]}
    default_backend data2
backend data2
    source {balancer}
    server node2 {node2}
"""


class Cluster:
    def __init__(self, nodes, port, redis, haproxy_log):
        self.nodes, self.port, self.redis, self.haproxy_log = nodes, port, redis, haproxy_log

    def balancer_log(self):
        """HAProxy's log: one line per connection, with its termination state."""
        with open(self.haproxy_log, errors="replace") as f:
            return f.read()

    def connect(self, source=CLIENT):
        ftp = ftplib.FTP()
        ftp.connect(BALANCER, self.port, timeout=15, source_address=(source, 0))
        return ftp

    def node_of_pasv(self, ftp):
        """Which node this session is on, from the port its PASV announced."""
        host, port = ftplib.parse227(ftp.sendcmd("PASV"))
        assert host == BALANCER
        return next(i for i, (lo, hi) in enumerate(PASV_RANGES) if lo <= port <= hi)

    def wait_all(self, pattern, count=1):
        for srv in self.nodes:
            assert wait_for(lambda s=srv: len(re.findall(pattern, s.stderr_text())) >= count,
                            timeout=15), (pattern, srv.stderr_text())


@pytest.fixture
def cluster(request, server, tmpdir_e2e):
    """Redis, two nodes and HAProxy; a test's indirect parameter adds node options."""
    redis_bin, haproxy_bin = shutil.which("redis-server"), shutil.which("haproxy")
    if not redis_bin or not haproxy_bin:
        pytest.skip("redis-server or haproxy not installed (contrib/install-deps.sh installs them)")
    redis = Redis(redis_bin, tmpdir_e2e)
    redis.start()
    nodes = []
    for address, (lo, hi) in zip(NODES, PASV_RANGES):
        nodes.append(server({
            "listen_address": address, "proxy_protocol_from": BALANCER,
            "proxy_data_from_balancer": True, "pasv_address": BALANCER,
            "pasv_min_port": lo, "pasv_max_port": hi,
            "load_module": "mod_iplimit", "module_dir": module_dir(),
            "iplimit_backend": "redis", "iplimit_redis_address": f"127.0.0.1:{REDIS_PORT}",
            "max_login_failures_per_ip": FAILURES_TO_BAN,
            "xferlog_enable": True, "dual_log_enable": True,
            "control_socket": os.path.join(tmpdir_e2e, f"{address}.sock"),
            **getattr(request, "param", {})}))
    for srv in nodes:
        assert srv.wait_stderr(r"redis 127\.0\.0\.1:\d+ reachable"), srv.stderr_text()
    port = harness.free_port(socket.AF_INET, BALANCER)
    cfg = os.path.join(tmpdir_e2e, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(HAPROXY_CFG.format(balancer=BALANCER, port=port, node1=NODES[0],
                                   node2=NODES[1], port1=nodes[0].port, port2=nodes[1].port,
                                   pasv1=PASV_RANGES[0], pasv2=PASV_RANGES[1]))
    haproxy_log = os.path.join(tmpdir_e2e, "haproxy.log")
    with open(haproxy_log, "wb") as log:
        haproxy = subprocess.Popen([haproxy_bin, "-db", "-f", cfg], stdout=log, stderr=log)
    try:
        assert wait_for(lambda: accepts(BALANCER, port), timeout=10), "haproxy did not start"
        yield Cluster(nodes, port, redis, haproxy_log)
    finally:
        haproxy.kill()
        haproxy.wait()
        redis.kill()


def log_in_on_each_node(cluster, source):
    """Sessions through the balancer until both nodes served one, each listing over
    passive data through the balancer; returns the nodes in the order they served."""
    served = []
    for _ in range(4):
        ftp = cluster.connect(source)
        ftp.login("anonymous", "e2e@example.org")
        served.append(cluster.node_of_pasv(ftp))
        assert ftp.nlst() is not None  # PASV again: the data comes through HAProxy
        ftp.quit()
        if set(served) == {0, 1}:
            return served
    pytest.fail(f"the balancer sent every session to one node: {served}")


def assert_refused(cluster, source, text):
    with pytest.raises(ftplib.error_temp, match=text):
        cluster.connect(source)


def test_two_nodes_share_bans_and_survive_losing_redis(cluster, env):
    # Both nodes log the client's own address; passive data goes through the balancer
    # to the node that announced the port (its own range).
    log_in_on_each_node(cluster, CLIENT)
    for srv in cluster.nodes:
        assert wait_for(lambda s=srv: f'OK LOGIN: Client "{CLIENT}"' in vsftpd_log(s))
        assert BALANCER not in vsftpd_log(srv)

    # A PROXY header from anyone but the balancer is refused.
    stranger = socket.create_connection((NODES[0], cluster.nodes[0].port), timeout=15,
                                        source_address=(STRANGER, 0))
    body = socket.inet_aton(CLIENT) + socket.inet_aton(NODES[0]) + struct.pack("!HH", 1, 21)
    stranger.sendall(b"\r\n\r\n\x00\r\nQUIT\n\x21\x11" + struct.pack("!H", len(body)) + body)
    stranger.settimeout(15)
    said = b""
    while chunk := stranger.recv(4096):  # the node reads the header as FTP, up to "QUIT"
        said += chunk
    stranger.close()
    assert said.startswith(b"220") and said.endswith(b"221 Goodbye.\r\n"), said
    assert wait_for(lambda: f'CONNECT: Client "{STRANGER}"' in vsftpd_log(cluster.nodes[0]))

    # Failed logins spread over both nodes ban the address on both: no node alone
    # saw FAILURES_TO_BAN of them.
    for _ in range(FAILURES_TO_BAN):
        ftp = cluster.connect(CLIENT)
        with pytest.raises(ftplib.error_perm):
            ftp.login(env.alice.name, "wrong password")
        ftp.close()
    cluster.wait_all(r"redis: 127\.0\.0\.5 banned on all nodes")
    fails = [vsftpd_log(s).count(f'FAIL LOGIN: Client "{CLIENT}"') for s in cluster.nodes]
    assert sum(fails) == FAILURES_TO_BAN and max(fails) < FAILURES_TO_BAN, fails
    for _ in cluster.nodes:
        assert_refused(cluster, CLIENT, BANNED)
    for srv in cluster.nodes:
        assert wait_for(lambda s=srv: f'REFUSED CONNECT: Client "{CLIENT}", "421 {BANNED}'
                        in vsftpd_log(s)), vsftpd_log(srv)

    # Redis dies: each node says it falls back, keeps the ban, and goes on serving.
    cluster.redis.kill()
    cluster.wait_all(r"redis .* unreachable .*falling back to this node's table")
    for _ in cluster.nodes:
        assert_refused(cluster, CLIENT, BANNED)
    log_in_on_each_node(cluster, OTHER_CLIENT)
    for srv in cluster.nodes:  # the master says it too, in the log files (not only stderr)
        assert wait_for(lambda s=srv: "redis unreachable: this node's table decides"
                        in vsftpd_log(s)), vsftpd_log(srv)

    # Redis is back: the nodes say so, and an operator's unban on one node holds on both.
    cluster.redis.start()
    cluster.wait_all(r"redis 127\.0\.0\.1:\d+ reachable again: sharing bans")
    status, out = moatftpd("--bans", "-c", cluster.nodes[1].config_path)
    assert status == 0 and out.startswith(f"{CLIENT} "), out
    status, out = moatftpd("--unban", CLIENT, "-c", cluster.nodes[0].config_path)
    assert status == 0 and out == f"OK {CLIENT} unbanned\n", out
    cluster.wait_all(r"redis: 127\.0\.0\.5 unbanned on all nodes")
    log_in_on_each_node(cluster, CLIENT)
    for srv in cluster.nodes:
        assert "redis reachable again: sharing bans" in vsftpd_log(srv), vsftpd_log(srv)
    assert moatftpd("--bans", "-c", cluster.nodes[1].config_path) == (0, "no bans\n")


@pytest.mark.parametrize("cluster", [{"max_per_ip": 1}], indirect=True)
def test_max_per_ip_counts_sessions_on_every_node(cluster):
    held = cluster.connect(CLIENT)
    held.login("anonymous", "e2e@example.org")
    other = cluster.nodes[1 - cluster.node_of_pasv(held)]
    expected = f'REFUSED CONNECT: Client "{CLIENT}", "421 There are {TOO_MANY_FROM_IP}'

    # The other node hears of the held session through Redis soon, not at once: ask it
    # directly until it refuses; a session it admits meanwhile is ended and reaped
    # first (moatftpd --who), so that only the held session on the first node counts.
    def refused_by_other():
        ftp = ftplib.FTP()
        try:
            ftp.connect(other.options["listen_address"], other.port, timeout=15,
                        source_address=(CLIENT, 0))
        except ftplib.error_temp:
            return expected in vsftpd_log(other)
        ftp.quit()
        assert wait_for(lambda: CLIENT not in moatftpd("--who", "-c", other.config_path)[1])
        return False

    assert wait_for(refused_by_other, timeout=15), vsftpd_log(other)
    held.quit()


EMPTY_UPLOADS = 4000  # HAProxy with two threads failed 1 to 19 in 1000 of them (426)
EMPTY_UPLOAD_SESSIONS = 8


def aborted_connections(cluster):
    """The balancer's log lines of connections that did not end normally: "CC" is a
    client that closed while HAProxy was still connecting to the node."""
    return [line for line in cluster.balancer_log().splitlines()
            if (m := re.search(r" \d+ (\S\S) \d+/\d+/\d+/\d+/\d+ ", line)) and m[1] != "--"]


def test_empty_uploads_through_the_balancer_end_in_226(cluster, env):
    # An empty upload's client closes its data connection as soon as the 150 arrives,
    # which can be before HAProxy has noticed that its own connection to the node is
    # up. HAProxy takes a close with nothing to forward during its connect for an abort
    # and resets the node's side: the node cannot tell that from a client's abort and
    # answers 426. One HAProxy thread (contrib/haproxy.cfg) handles the node's 150 and
    # its own connect in order, so every one of them must end in 226.
    retries = Tally()  # a PASV that found its node's 10 ports taken (425) is tried again

    def uploads(k, count, replies):
        ftp = cluster.connect(CLIENT)
        ftp.login(env.alice.name, env.alice.password)
        for i in range(count):
            try:
                replies.append(retry_pasv(lambda i=i: ftp.storbinary(
                    f"STOR empty-{k}-{i}", io.BytesIO(b"")), retries)[:3])
            except ftplib.error_temp as e:
                replies.append(str(e)[:3])
        ftp.quit()

    replies = []
    per_session = EMPTY_UPLOADS // EMPTY_UPLOAD_SESSIONS
    with concurrent.futures.ThreadPoolExecutor(EMPTY_UPLOAD_SESSIONS) as pool:
        for f in [pool.submit(uploads, k, per_session, replies)
                  for k in range(EMPTY_UPLOAD_SESSIONS)]:
            f.result()
    assert replies == ["226"] * EMPTY_UPLOADS, (
        [r for r in replies if r != "226"], failed_transfers(cluster),
        aborted_connections(cluster))
    stored = [n for n in os.listdir(env.alice.home) if n.startswith("empty-")]
    assert len(stored) == EMPTY_UPLOADS
    assert all(os.path.getsize(os.path.join(env.alice.home, n)) == 0 for n in stored)
    for n in stored:
        os.unlink(os.path.join(env.alice.home, n))


# ---- one node, iplimit_backend=local ----------------------------------------------------


def test_bans_outlive_a_restart_and_an_operator_lifts_them(server, env, tmpdir_e2e):
    ban_file = os.path.join(tmpdir_e2e, "bans")
    opts = {"load_module": "mod_iplimit", "module_dir": module_dir(),
            "max_login_failures_per_ip": 1, "ban_file": ban_file, "xferlog_enable": True,
            "dual_log_enable": True, "control_socket": os.path.join(tmpdir_e2e, "ctl")}
    srv = server(opts)
    ftp = srv.connect()
    with pytest.raises(ftplib.error_perm):
        ftp.login(env.alice.name, "wrong password")
    ftp.close()
    assert srv.wait_stderr(r"mod_iplimit: banned 127\.0\.0\.1 ")
    srv.stop()
    assert open(ban_file).read().startswith("127.0.0.1 ")

    again = server(opts)
    assert again.wait_stderr(r"mod_iplimit: 1 bans restored from ")
    with pytest.raises(ftplib.error_temp, match=BANNED):
        again.connect()
    assert wait_for(lambda: 'REFUSED CONNECT: Client "127.0.0.1"' in vsftpd_log(again))
    status, out = moatftpd("--bans", "-c", again.config_path)
    assert status == 0 and out.startswith("127.0.0.1 "), out
    assert moatftpd("--unban", "127.0.0.2", "-c", again.config_path)[0] == 1
    assert moatftpd("--unban", "127.0.0.1", "-c", again.config_path) == (
        0, "OK 127.0.0.1 unbanned\n")
    again.connect().login("anonymous", "e2e@example.org")
    assert open(ban_file).read() == ""


# ---- sustained traffic through the balancer ---------------------------------------------

ATTACKER = "127.0.0.7"
CLUSTER_SESSIONS = 60  # the short run of make check; MOAT_SOAK_SECONDS for a long one
CLUSTER_WARM_UP = 12
CLUSTER_CONCURRENCY = 8  # 10 passive ports a node


class Balanced:
    """The balancer as test_soak's clients see a server (they connect from 127.0.0.1)."""

    kind = "moatftpd x2 behind haproxy"

    def __init__(self, cluster):
        self.port = cluster.port

    def address(self):
        return BALANCER, self.port

    def connect(self, timeout=60):
        ftp = ftplib.FTP(timeout=timeout)
        ftp.connect(BALANCER, self.port)
        return ftp

    def url(self, path="/"):
        return f"ftp://{BALANCER}:{self.port}{path}"


class Attacker(Background):
    """Wrong passwords from ATTACKER through the balancer while traffic runs: failed
    logins until it is banned, then refusals."""

    def __init__(self, cluster, user):
        super().__init__()
        self.cluster, self.user, self.failed, self.refused = cluster, user, 0, 0

    def once(self):
        try:
            ftp = self.cluster.connect(ATTACKER)
        except ftplib.error_temp as e:
            if BANNED in str(e):
                self.refused += 1
            else:
                self.errors.append(str(e))
            return
        except OSError as e:
            self.errors.append(repr(e))
            return
        try:
            ftp.login(self.user.name, "wrong password")
            self.errors.append("logged in with a wrong password")
        except ftplib.error_perm:
            self.failed += 1
        except (ftplib.Error, OSError) as e:
            self.errors.append(repr(e))
        ftp.close()


def node_state(srv):
    """After the sessions have ended: only the Redis child left below the master, and
    the master's descriptors and resident memory."""
    assert wait_for(lambda: all(c == "moat-iplimit" for _, c in srv.descendants()),
                    timeout=30), srv.descendants()
    pid = srv.proc.pid
    fds = sorted(os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd"))
    return fds, int(harness.proc_status(pid)["VmRSS"].split()[0])


def failed_transfers(cluster):
    """What each node logged of failed transfers, for a failure's message."""
    return [(srv.options["listen_address"], line) for srv in cluster.nodes
            for line in vsftpd_log(srv).splitlines() + srv.stderr_text().splitlines()
            if re.search(r"FAIL (UP|DOWN)LOAD|\b426\b", line)][-20:]


def sessions_done(soak):
    return sum(n for k, n in soak.tally.counts.items() if k.endswith(" sessions"))


def refusals(srv, source):
    return vsftpd_log(srv).count(f'REFUSED CONNECT: Client "{source}", "421 {BANNED}')


def test_sustained_traffic_while_an_address_is_banned_and_redis_restarts(cluster, env,
                                                                          tmpdir_e2e):
    soak = Soak(Balanced(cluster), env, tmpdir_e2e)
    soak.concurrency = CLUSTER_CONCURRENCY
    start = time.monotonic()
    soak.run_sessions(0, CLUSTER_WARM_UP)
    before = [node_state(srv) for srv in cluster.nodes]
    with Attacker(cluster, env.alice) as attacker:
        traffic = threading.Thread(target=lambda: soak.run_sessions(
            CLUSTER_WARM_UP, **({"until": start + LONG_RUN} if LONG_RUN else
                                {"count": CLUSTER_SESSIONS - CLUSTER_WARM_UP})))
        traffic.start()
        cluster.wait_all(rf"redis: {re.escape(ATTACKER)} banned on all nodes")
        assert wait_for(lambda: attacker.refused > 0, timeout=30)
        # Redis dies a third of the way through, and comes back at two thirds.
        third = (lambda: time.monotonic() - start >= LONG_RUN / 3) if LONG_RUN else \
            (lambda: sessions_done(soak) >= CLUSTER_SESSIONS / 3)
        assert wait_for(third, timeout=max(LONG_RUN, 120)) or not traffic.is_alive()
        cluster.redis.kill()
        cluster.wait_all(r"redis .* unreachable .*falling back to this node's table")
        refused = attacker.refused  # the ban holds in the nodes' own tables
        assert wait_for(lambda: attacker.refused > refused, timeout=30)
        two_thirds = (lambda: time.monotonic() - start >= 2 * LONG_RUN / 3) if LONG_RUN else \
            (lambda: sessions_done(soak) >= 2 * CLUSTER_SESSIONS / 3)
        assert wait_for(two_thirds, timeout=max(LONG_RUN, 120)) or not traffic.is_alive()
        cluster.redis.start()
        cluster.wait_all(r"redis 127\.0\.0\.1:\d+ reachable again: sharing bans")
        traffic.join()
    # A connection the balancer was still handing over when the traffic ended is held
    # for a moment (PROXY header, a ban's 421): wait for the descriptors to settle, so
    # that only one that stays (a leak) fails the comparison below.
    for srv, b in zip(cluster.nodes, before):
        wait_for(lambda s=srv, b=b: node_state(s)[0] == b[0], timeout=15)
    after = [node_state(srv) for srv in cluster.nodes]
    logins = [vsftpd_log(srv).count('OK LOGIN: Client "127.0.0.1"') for srv in cluster.nodes]
    print(f"\ncluster soak: {sessions_done(soak)} "
          f"sessions in {time.monotonic() - start:.1f} s, {soak.concurrency} at a time; "
          f"{dict(sorted(soak.tally.counts.items()))}; logins per node {logins}; "
          f"{len(soak.failures)} sessions failed {soak.failures[:3]}; {ATTACKER}: "
          f"{attacker.failed} failed logins, {attacker.refused} refused, errors "
          f"{attacker.errors[:3]}; masters: fds {[len(b[0]) for b in before]} -> "
          f"{[len(a[0]) for a in after]}, RSS KiB {[b[1] for b in before]} -> "
          f"{[a[1] for a in after]}")
    assert not soak.failures, (failed_transfers(cluster), aborted_connections(cluster))
    assert not attacker.errors and attacker.refused > 0
    assert attacker.failed >= FAILURES_TO_BAN
    assert all(n > 0 for n in logins), logins  # both nodes served, data through HAProxy
    # The ban holds on both nodes at the end: the balancer takes turns.
    refused_before = [refusals(srv, ATTACKER) for srv in cluster.nodes]
    for _ in range(2 * len(cluster.nodes)):
        assert_refused(cluster, ATTACKER, BANNED)
    for srv, n in zip(cluster.nodes, refused_before):
        assert wait_for(lambda s=srv, n=n: refusals(s, ATTACKER) > n), vsftpd_log(srv)
    assert all(srv.proc.poll() is None for srv in cluster.nodes)
    assert [a[0] for a in after] == [b[0] for b in before]
