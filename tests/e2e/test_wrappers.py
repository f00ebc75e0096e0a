# SPDX-License-Identifier: GPL-2.0-or-later
"""tcp_wrappers (tcp_wrappers=YES): rules by address and by name, UNKNOWN and PARANOID,
option fields, and the confinement of the two children that decide (issue 11, point 9).

Names come from the namespace's own /etc/hosts and from FakeDns, a name server on
127.0.0.1:53 of the test's private network namespace that answers from a table, so a
test can play an attacker who controls the PTR record of its address. Rules name both
daemons so that the same files serve against vsftpd."""

import os
import re
import select
import signal
import socket
import struct
import subprocess
import threading

import pytest

from harness import proc_status, proc_uids, wait_for
from test_access import connect_from, welcome_code
from test_helper_table import inject_syscall, one, tracing  # noqa: F401 (a fixture)

PTR, A = 12, 1


def encode_name(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.split(".") if l) + b"\0"


def reverse_name(address):
    return ".".join(reversed(address.split("."))) + ".in-addr.arpa"


class FakeDns:
    """A name server answering from `records` {(name, type): [value]} (PTR values are
    names, A values addresses); a name without records is NXDOMAIN. Queries for a name
    in `stall` are never answered. Records each query and the uid owning its socket."""

    def __init__(self, records=(), stall=()):
        self.records = {(n.lower(), t): v for (n, t), v in dict(records).items()}
        self.stall = {n.lower() for n in stall}
        self.queries = []
        self.uids = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 53))
        self.sock.settimeout(0.2)
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @staticmethod
    def owner(port):
        for table in ("/proc/net/udp", "/proc/net/udp6"):
            with open(table) as f:
                for row in list(f)[1:]:
                    r = row.split()
                    if int(r[1].split(":")[1], 16) == port:
                        return int(r[7])
        return None

    @staticmethod
    def parse_question(query):
        labels, i = [], 12
        while query[i]:
            labels.append(query[i + 1:i + 1 + query[i]].decode())
            i += 1 + query[i]
        qtype = struct.unpack(">H", query[i + 1:i + 3])[0]
        return ".".join(labels).lower(), qtype, query[12:i + 5]

    def answer(self, query):
        name, qtype, question = self.parse_question(query)
        self.queries.append((name, qtype))
        if name in self.stall:
            return None
        values = self.records.get((name, qtype), [])
        known = any(n == name for n, _ in self.records)
        rcode = 0 if known else 3  # NOERROR (maybe no data), NXDOMAIN
        answers = b""
        for v in values:
            rdata = encode_name(v) if qtype == PTR else socket.inet_aton(v)
            answers += struct.pack(">HHHIH", 0xC00C, qtype, 1, 60, len(rdata)) + rdata
        header = query[:2] + struct.pack(">HHHHH", 0x8180 | rcode, 1, len(values), 0, 0)
        return header + question + answers

    def serve(self):
        while not self.stop:
            try:
                query, source = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            self.uids.append(self.owner(source[1]))
            reply = self.answer(query)
            if reply is not None:
                self.sock.sendto(reply, source)

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


@pytest.fixture
def wrappers(server, env):
    """wrappers(allow, deny, records, stall, hosts) -> a server with tcp_wrappers=YES
    whose clients' names come from `hosts` (/etc/hosts lines) and a FakeDns."""
    added, dns = [], []

    def start(allow="", deny="", records=(), stall=(), hosts="", resolver_timeout=2,
              start=True):
        added.extend(env.etc.add_file(path, text) for path, text in (
            ("/etc/hosts", "127.0.0.1 localhost\n" + hosts),
            ("/etc/resolv.conf",
             f"nameserver 127.0.0.1\noptions timeout:{resolver_timeout} attempts:1\n"),
            ("/etc/hosts.allow", allow), ("/etc/hosts.deny", deny)))
        dns.append(FakeDns(records, stall))
        srv = server({"tcp_wrappers": True}, start=start)
        srv.dns = dns[-1]
        return srv

    yield start
    for d in dns:
        d.close()
    for path in added:
        env.etc.remove_file(path)


def greeted(srv, source):
    with connect_from(srv, source, timeout=20) as s:
        return welcome_code(s, timeout=20)[0] == 220


DNS = {(reverse_name("127.0.0.4"), PTR): ["dns.example"], ("dns.example", A): ["127.0.0.4"],
       # 127.0.0.6's owner claims trusted.example, which is not 127.0.0.6.
       (reverse_name("127.0.0.6"), PTR): ["trusted.example"],
       ("trusted.example", A): ["192.0.2.10"],
       # Several addresses: getaddrinfo sorts them (RFC 6724), probing routes.
       (reverse_name("127.0.0.8"), PTR): ["multi.example"],
       ("multi.example", A): ["192.0.2.8", "127.0.0.8", "198.51.100.8"],
       # A PTR record pointing to a name that does not exist.
       (reverse_name("127.0.0.7"), PTR): ["gone.example"]}
HOSTS = "127.0.0.2 files.example\n"


# ---- rules by address -------------------------------------------------------------------

@pytest.mark.parametrize("pattern", ["127.0.0.2", "127.0.0.0/255.255.255.252", "127.0.0.2 127.0.1."])
def test_deny_by_address(wrappers, pattern):
    srv = wrappers(deny=f"moatftpd vsftpd: {pattern}\n")
    assert not greeted(srv, "127.0.0.2")
    assert greeted(srv, "127.0.0.5")


def test_allow_by_address_before_deny_all(wrappers):
    srv = wrappers(allow="moatftpd vsftpd: 127.0.0.3 127.0.0.5\n", deny="ALL: ALL\n")
    assert greeted(srv, "127.0.0.3")
    assert not greeted(srv, "127.0.0.4")


def test_except_in_a_client_list(wrappers):
    srv = wrappers(deny="moatftpd vsftpd: 127.0.0. EXCEPT 127.0.0.3\n")
    assert greeted(srv, "127.0.0.3")
    assert not greeted(srv, "127.0.0.4")


@pytest.mark.parametrize("server_address,refused", [("127.0.0.1", True), ("127.0.0.9", False)])
def test_daemon_at_the_address_it_was_reached_on(wrappers, server_address, refused):
    srv = wrappers(deny=f"moatftpd@{server_address} vsftpd@{server_address}: 127.0.0.2\n")
    assert greeted(srv, "127.0.0.2") != refused


# ---- rules by name ----------------------------------------------------------------------

def test_deny_by_name_from_etc_hosts(wrappers):
    srv = wrappers(deny="moatftpd vsftpd: files.example\n", records=DNS, hosts=HOSTS)
    assert not greeted(srv, "127.0.0.2")
    assert greeted(srv, "127.0.0.4")  # dns.example


def test_deny_by_domain_from_dns(wrappers):
    srv = wrappers(deny="moatftpd vsftpd: .example EXCEPT files.example\n", records=DNS,
                   hosts=HOSTS)
    assert not greeted(srv, "127.0.0.4")  # dns.example, confirmed by its A record
    assert not greeted(srv, "127.0.0.8")  # multi.example, one of its three addresses
    assert greeted(srv, "127.0.0.2")      # the exception
    assert greeted(srv, "127.0.0.5")      # no name at all


def test_a_claimed_name_is_not_believed(wrappers):
    # The attacker at 127.0.0.6 controls its PTR record and claims trusted.example; the
    # forward lookup gives another address, so the name rule does not admit it.
    srv = wrappers(allow="moatftpd vsftpd: trusted.example dns.example\n", deny="ALL: ALL\n",
                   records=DNS, hosts=HOSTS)
    assert not greeted(srv, "127.0.0.6")
    assert greeted(srv, "127.0.0.4")


# ---- UNKNOWN, KNOWN and PARANOID --------------------------------------------------------

def test_unknown_is_a_client_without_a_name(wrappers):
    srv = wrappers(deny="moatftpd vsftpd: UNKNOWN\n", records=DNS, hosts=HOSTS)
    assert not greeted(srv, "127.0.0.5")  # NXDOMAIN
    assert greeted(srv, "127.0.0.2")
    assert greeted(srv, "127.0.0.4")


@pytest.mark.parametrize("source,paranoid", [("127.0.0.6", True), ("127.0.0.7", True),
                                             ("127.0.0.4", False), ("127.0.0.5", False)])
def test_paranoid_is_a_name_that_does_not_map_back(wrappers, source, paranoid):
    srv = wrappers(deny="moatftpd vsftpd: PARANOID\n", records=DNS, hosts=HOSTS)
    assert greeted(srv, source) != paranoid


def test_known_needs_a_confirmed_name(wrappers):
    srv = wrappers(allow="moatftpd vsftpd: KNOWN\n", deny="ALL: ALL\n", records=DNS, hosts=HOSTS)
    assert greeted(srv, "127.0.0.4")
    assert not greeted(srv, "127.0.0.6")  # paranoid
    assert not greeted(srv, "127.0.0.5")  # unknown


def test_address_rules_look_no_name_up(wrappers):
    srv = wrappers(deny="moatftpd vsftpd: 127.0.0.9\n", records=DNS)
    assert greeted(srv, "127.0.0.4")
    assert not greeted(srv, "127.0.0.9")
    assert srv.dns.queries == []


def test_a_slow_lookup_does_not_stall_other_clients(wrappers):
    # The name server never answers for 127.0.0.2 (resolv.conf: 6 s, one attempt): that
    # client waits for its check, in its own session process, while another client,
    # whose name is looked up too (NXDOMAIN at once), is greeted. Only the order of
    # events is checked.
    srv = wrappers(deny="moatftpd vsftpd: .invalid\n", stall=[reverse_name("127.0.0.2")],
                   resolver_timeout=6)
    slow = connect_from(srv, "127.0.0.2", timeout=30)
    try:
        wait_for(lambda: (reverse_name("127.0.0.2"), PTR) in srv.dns.queries)
        assert greeted(srv, "127.0.0.3")
        assert not select.select([slow], [], [], 0)[0], "the slow client was not held up"
        assert welcome_code(slow, timeout=30)[0] == 220  # no name: the rule does not match
    finally:
        slow.close()


# ---- option fields (hosts_options(5)) ------------------------------------------------------

def test_allow_and_deny_options_decide(wrappers):
    srv = wrappers(allow="moatftpd vsftpd: 127.0.0.2 : DENY\n", deny="moatftpd vsftpd: ALL : allow\n")
    assert not greeted(srv, "127.0.0.2")
    assert greeted(srv, "127.0.0.3")


@pytest.mark.moatftpd_only
@pytest.mark.parametrize("option", ["spawn /bin/touch {mark}", "twist /bin/touch {mark}",
                                    "setenv X 1 : allow", "banners /etc"])
def test_other_options_refuse_the_client_they_match(wrappers, tmpdir_e2e, option):
    mark = os.path.join(tmpdir_e2e, "ran")
    srv = wrappers(allow=f"moatftpd: 127.0.0.2 : {option.format(mark=mark)}\n")
    keyword = option.split()[0]
    assert not greeted(srv, "127.0.0.2")
    assert srv.wait_stderr(rf'tcp_wrappers: the matching rule has the option "{keyword}"')
    assert greeted(srv, "127.0.0.3")  # the rule does not match it
    assert not os.path.exists(mark), "the option's command ran"


@pytest.mark.moatftpd_only
def test_check_warns_about_option_fields(wrappers):
    srv = wrappers(allow="sshd: ALL : spawn /bin/true\nmoatftpd: 10.0.0.0/8 : \\\n  spawn /bin/true\n",
                   deny="ALL: ALL : severity auth.info\n")
    binary = os.path.join(os.environ["MOAT_BUILDDIR"], "moatftpd")
    out = subprocess.run([binary, "-t", srv.config_path], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    warnings = [l for l in out.stdout.splitlines() if "warning" in l]
    assert len(warnings) == 2, out.stdout
    assert warnings[0].startswith("/etc/hosts.allow:3: warning:") and '"spawn"' in warnings[0]
    assert warnings[1].startswith("/etc/hosts.deny:1: warning:") and '"severity"' in warnings[1]


# ---- the children's confinement -------------------------------------------------------------

@pytest.fixture
def stalled_check(wrappers):
    """A server whose check for 127.0.0.2 waits on a name server that never answers: the
    judge waits for the resolver, which waits in poll (resolv.conf: 25 s)."""
    srv = wrappers(deny="moatftpd: .invalid\n", stall=[reverse_name("127.0.0.2")],
                   resolver_timeout=25)
    client = connect_from(srv, "127.0.0.2", timeout=30)
    wait_for(lambda: (reverse_name("127.0.0.2"), PTR) in srv.dns.queries)
    yield srv, client
    client.close()


def idle(srv, comm):
    pid = one(srv, comm)
    wait_for(lambda: proc_status(pid).get("State", "").startswith("S"))
    return pid


NR = {"execve": 59, "openat": 257, "socket": 41, "connect": 42, "setuid": 105, "ptrace": 101,
      "getpid": 39}
AT_FDCWD, O_WRONLY_CREAT = -100, 0o101
AF_INET, AF_UNIX, AF_PACKET, SOCK_STREAM, SOCK_RAW = 2, 1, 17, 1, 3

JUDGE_FORBIDDEN = [("execve", (0, 0, 0)), ("openat", (AT_FDCWD, 0, O_WRONLY_CREAT, 0o644)),
                   ("socket", (AF_INET, SOCK_STREAM, 0)), ("connect", (0, 0, 0)),
                   ("ptrace", (0, 0, 0, 0))]
RESOLVER_FORBIDDEN = [("execve", (0, 0, 0)), ("openat", (AT_FDCWD, 0, O_WRONLY_CREAT, 0o644)),
                      ("socket", (AF_PACKET, SOCK_RAW, 0)), ("socket", (AF_INET, SOCK_RAW, 1)),
                      ("setuid", (0,))]


@pytest.mark.moatftpd_only
def test_children_run_as_nopriv_user_under_their_filters(stalled_check):
    srv, client = stalled_check
    for pid in (idle(srv, "moat-wrappers"), idle(srv, "moat-resolver")):
        assert proc_uids(pid)[0] == 65534, pid  # nopriv_user=nobody
        assert proc_status(pid)["Seccomp"].strip() == "2", pid
        assert proc_status(pid)["NoNewPrivs"].strip() == "1", pid


@pytest.mark.moatftpd_only
@pytest.mark.parametrize("name,args", JUDGE_FORBIDDEN, ids=[n for n, _ in JUDGE_FORBIDDEN])
def test_the_judge_cannot(stalled_check, tracing, name, args):
    srv, client = stalled_check
    assert inject_syscall(idle(srv, "moat-wrappers"), NR[name], *args) == ("killed", signal.SIGSYS)
    c, data = welcome_code(client, timeout=20)
    assert c == 421, data  # no verdict: refused
    assert srv.wait_stderr(r"refused by tcp_wrappers: no verdict: moat-wrappers killed by "
                           r"signal 31 \(seccomp\)")


@pytest.mark.moatftpd_only
@pytest.mark.parametrize("name,args", RESOLVER_FORBIDDEN,
                         ids=[f"{n}{a[0]}" for n, a in RESOLVER_FORBIDDEN])
def test_the_resolver_cannot(stalled_check, tracing, name, args):
    srv, client = stalled_check
    assert inject_syscall(idle(srv, "moat-resolver"), NR[name], *args) == ("killed", signal.SIGSYS)
    c, data = welcome_code(client, timeout=20)
    assert c == 421, data  # a resolver that dies gives no name, and no verdict
    assert srv.wait_stderr(r"refused by tcp_wrappers: no verdict: moat-resolver killed by "
                           r"signal 31 \(seccomp\)")


@pytest.mark.moatftpd_only
def test_the_resolver_is_refused_unix_sockets_without_dying(stalled_check, tracing):
    srv, client = stalled_check
    resolver = idle(srv, "moat-resolver")
    assert inject_syscall(resolver, NR["socket"], AF_UNIX, SOCK_STREAM, 0) == ("returned", -13)
    assert proc_status(resolver).get("State", "").startswith(("S", "R", "t"))


@pytest.mark.moatftpd_only
@pytest.mark.parametrize("comm", ["moat-wrappers", "moat-resolver"])
def test_a_child_cannot_forge_a_helper_line(stalled_check, tracing, comm):
    from test_log_forgery import FORGED, FORGED_STDERR, write_from_worker
    srv, client = stalled_check
    pid = idle(srv, comm)
    data = FORGED_STDERR.encode()
    assert write_from_worker(pid, 2, data) == ("returned", len(data))
    os.kill(pid, signal.SIGKILL)  # ends the check: the helper relays what it wrote
    assert welcome_code(client, timeout=20)[0] == 421
    prefix = rf"^moatftpd: session 127\.0\.0\.2: worker {pid}: "
    assert srv.wait_stderr(prefix + rf"moatftpd: session {re.escape(FORGED)}: login failed")
    lines = srv.stderr_text().splitlines()
    assert not [line for line in lines if line.startswith(f"moatftpd: session {FORGED}")]
    assert not [line for line in lines if "\x1b" in line]
