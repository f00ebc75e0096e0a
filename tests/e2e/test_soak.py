# SPDX-License-Identifier: GPL-2.0-or-later
"""A soak (issue 10): many sessions on the seed configuration cloud-passive.conf, with
its 11-port passive range, mixing anonymous and local (PAM) logins, LIST, MLSD and
NLST, uploads and downloads of varied sizes, through ftplib, curl and lftp. Every byte
is checked (sha256), and at the end the server is as it was after the warm-up: no
session process left, the same descriptors in the master, its memory flat.

The short run (200 sessions, 24 at a time) is part of `make check`. A long one runs
on demand, outside CTest's 600 s limit:
    MOAT_SOAK_SECONDS=600 tests/e2e/run build tests/e2e/test_soak.py -s
keeps starting sessions for that long (the first 32 are the warm-up).

test_soak_through_tcp_wrappers runs the same soak (48 sessions by default) with
tcp_wrappers=YES: the clients are admitted by their name from /etc/hosts alone, every
other loopback address is refused by address, and a denied address keeps knocking
throughout; no judge or resolver child may be left behind. Against vsftpd, whose
Debian build has libwrap, the same rule files name both daemons.
"""

import concurrent.futures
import contextlib
import ftplib
import hashlib
import io
import os
import random
import subprocess
import threading
import time

import pytest

import harness
from conftest import is_vsftpd
from harness import pattern_chunks, sha256_file, wait_for
from test_access import connect_from, welcome_code

SEED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "seed-configs",
                    "cloud-passive.conf")
SESSIONS = 200
WARM_UP = 32
CONCURRENCY = 24
LONG_RUN = float(os.environ.get("MOAT_SOAK_SECONDS", "0"))
SIZES = [0, 1, 1000, 64 * 1024, 256 * 1024 + 7, 1 << 20, 3 * (1 << 20) + 1]
RSS_SLACK_KIB = 256  # glibc grows the heap in 128 KiB steps; a leak per session shows above
PASV_RETRIES = 20  # 24 sessions, 11 ports: a PASV may find none free (425), then retry
VSFTPD_PASV_BIND = ("vsftpd 3.0.3 ends a session with '500 OOPS: vsf_sysutil_bind' when "
                    "its PASV finds the 11 ports taken")


def seed_options(env):
    """The seed file as options, adapted only where a test must: the address and port
    it listens on, the PAM service and log paths (the harness sets those), and
    anonymous logins on (the soak mixes them in)."""
    opts = {}
    with open(SEED) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                name, value = line.split("=", 1)
                opts[name] = value
    for name in ("listen_port", "pam_service_name", "xferlog_file"):
        del opts[name]
    opts.update(anonymous_enable="YES", ftp_username=env.ftp.name)
    return opts


def data(size, seed):
    return b"".join(pattern_chunks(size, seed=seed))


def sha(blob):
    return hashlib.sha256(blob).hexdigest()


class Tally:
    """What the clients did, counted across threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}

    def add(self, what, n=1):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + n


def fetch(ftp, path):
    h = hashlib.sha256()
    ftp.retrbinary(f"RETR {path}", h.update)
    return h.hexdigest()


def retry_pasv(call, tally):
    """A transfer again when its PASV found no free port (425, the session goes on)."""
    for attempt in range(PASV_RETRIES):
        try:
            return call()
        except ftplib.error_temp as e:
            if not str(e).startswith("425") or attempt == PASV_RETRIES - 1:
                raise
            tally.add("425 retries")
            time.sleep(0.05 * (attempt + 1))


class Soak:
    """Sessions of the three clients against srv: anything with connect(timeout),
    address(), url(path=) and port, as harness.Server has."""

    def __init__(self, srv, env, workdir):
        self.srv, self.env, self.workdir = srv, env, workdir
        self.tally = Tally()
        self.failures = []  # (session, reason): the soak runs on, then reports them all
        self.shared = {}  # anonymous downloads: name -> sha256
        self.concurrency = CONCURRENCY
        for size in SIZES:
            name = f"soak-{size}.bin"
            harness.put_file(os.path.join(env.anon_root, "pub", name),
                             data(size, name.encode()), env.ftp)
            self.shared[name] = sha(data(size, name.encode()))

    # ---- one session of each kind ------------------------------------------------
    def ftplib_session(self, i, rng):
        user = rng.choice(["anonymous", self.env.alice, self.env.bob])
        ftp = self.srv.connect(timeout=60)
        if user == "anonymous":
            ftp.login("anonymous", "soak@example.org")
        else:
            ftp.login(user.name, user.password)
        self.listings(ftp, user, rng)
        for name in rng.sample(sorted(self.shared), 2):
            self.download(ftp, "/pub/" + name if user == "anonymous" else None, name)
        if user != "anonymous":
            self.upload_and_back(ftp, user, i, rng)
        ftp.quit()
        self.tally.add("ftplib sessions")

    def listings(self, ftp, user, rng):
        path = "/pub" if user == "anonymous" else "."
        lines = []
        retry_pasv(lambda: ftp.retrlines(f"LIST {path}", lines.append), self.tally)
        names = retry_pasv(lambda: ftp.nlst(path), self.tally)
        if user == "anonymous":
            assert any(n.endswith("soak-0.bin") for n in names), names
        if not is_vsftpd() and rng.random() < 0.5:  # vsftpd has no MLSD
            facts = retry_pasv(lambda: list(ftp.mlsd(path)), self.tally)
            assert facts
        self.tally.add("listings")

    def download(self, ftp, path, name):
        if path is None:  # a local user: the shared file through its absolute path
            path = os.path.join(self.env.anon_root, "pub", name)
        digest = retry_pasv(lambda: fetch(ftp, path), self.tally)
        assert digest == self.shared[name], f"RETR {path}: wrong bytes"
        self.tally.add("downloads")

    def upload_and_back(self, ftp, user, i, rng):
        name = f"up-{i}.bin"
        blob = data(rng.choice(SIZES), name.encode())
        retry_pasv(lambda: ftp.storbinary(f"STOR {name}", io.BytesIO(blob)), self.tally)
        assert retry_pasv(lambda: fetch(ftp, name), self.tally) == sha(blob), \
            f"{name}: read back wrong"
        assert sha256_file(os.path.join(user.home, name)) == sha(blob), f"{name}: stored wrong"
        ftp.delete(name)
        self.tally.add("uploads")

    def curl_session(self, i, rng):
        user = rng.choice([None, self.env.alice])
        name = rng.choice(sorted(self.shared))
        # A local user's path is absolute: "//" in the URL makes curl start at "/".
        path = "/pub/" + name if user is None else "/" + os.path.join(self.env.anon_root,
                                                                       "pub", name)
        out = self.run(self.curl_argv(user, path, "-o", "-"), capture=True)
        assert sha(out) == self.shared[name], f"curl {path}: wrong bytes"
        self.tally.add("downloads")
        if user is not None:
            up = f"curl-{i}.bin"
            src = os.path.join(self.workdir, up)
            blob = data(rng.choice(SIZES), up.encode())
            with open(src, "wb") as f:
                f.write(blob)
            self.run(self.curl_argv(user, "/" + up, "-T", src))
            stored = os.path.join(user.home, up)
            assert sha256_file(stored) == sha(blob), f"curl -T {up}: stored wrong"
            os.unlink(stored)
            os.unlink(src)
            self.tally.add("uploads")
        self.tally.add("curl sessions")

    def curl_argv(self, user, path, *args):
        argv = ["curl", "--silent", "--show-error", "--globoff", "--max-time", "60",
                "--ftp-skip-pasv-ip", *args]
        if user is not None:
            argv += ["--user", f"{user.name}:{user.password}"]
        return argv + [self.srv.url(path=path)]

    def lftp_session(self, i, rng):
        user = rng.choice([self.env.alice, self.env.bob])
        up = f"lftp-{i}.bin"
        src = os.path.join(self.workdir, up)
        back = src + ".back"
        blob = data(rng.choice(SIZES), up.encode())
        with open(src, "wb") as f:
            f.write(blob)
        script = (f"set ftp:ssl-allow no; set ftp:ignore-pasv-address yes; "
                  f"set net:max-retries {PASV_RETRIES}; set net:reconnect-interval-base 1; "
                  f"set net:timeout 30; set cmd:fail-exit yes; set xfer:clobber yes; "
                  f"cls -l; put {src} -o {up}; get {up} -o {back}; rm {up}; bye")
        self.run(["lftp", "-u", f"{user.name},{user.password}", "-p", str(self.srv.port),
                  "-e", script, self.srv.address()[0]])
        assert sha256_file(back) == sha(blob), f"lftp {up}: wrong bytes back"
        os.unlink(src)
        os.unlink(back)
        self.tally.add("uploads")
        self.tally.add("downloads")
        self.tally.add("lftp sessions")

    def run(self, argv, capture=False):
        """A client process; curl is tried again when its PASV found no free port."""
        for attempt in range(PASV_RETRIES):
            r = subprocess.run(argv, capture_output=True, timeout=120,
                               stdin=subprocess.DEVNULL)
            if r.returncode == 0:
                return r.stdout if capture else None
            if argv[0] != "curl" or b"425" not in r.stderr + r.stdout:
                break
            self.tally.add("425 retries")
            time.sleep(0.05 * (attempt + 1))
        raise AssertionError(f"{argv[0]} exit {r.returncode}: {r.stderr.decode()[-2000:]}")

    # ---- driving it --------------------------------------------------------------
    def session(self, i):
        rng = random.Random(i)
        kind = rng.choices([self.ftplib_session, self.curl_session, self.lftp_session],
                           weights=[6, 3, 1])[0]
        kind(i, rng)

    def run_sessions(self, first, count=None, until=None):
        """Sessions first, first+1, ...: count of them, or as many as start before
        `until` (time.monotonic()); returns how many ran."""
        done = first

        def more():
            return done - first < count if until is None else time.monotonic() < until

        with concurrent.futures.ThreadPoolExecutor(self.concurrency) as pool:
            running = set()
            while True:
                while more() and len(running) < self.concurrency:
                    running.add(pool.submit(self.session, done))
                    done += 1
                if not running:
                    return done - first
                finished, running = concurrent.futures.wait(
                    running, return_when=concurrent.futures.FIRST_COMPLETED)
                for f in finished:
                    if f.exception() is not None:
                        self.failures.append(f"{type(f.exception()).__name__}: "
                                             f"{str(f.exception())[:300]}")


def master_state(srv):
    """After every session has ended: the master's descriptors and resident memory."""
    assert wait_for(lambda: not srv.descendants(), 30), srv.descendants()
    pid = srv.proc.pid
    assert wait_for(lambda: not any(int(harness.proc_status(p).get("PPid", 0)) == pid
                                    for p in harness.all_pids()), 30), "a child unreaped"
    fds = sorted(os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd"))
    rss = int(harness.proc_status(pid)["VmRSS"].split()[0])
    return fds, rss


def soak_run(srv, soak, sessions, warm_up, during=None):
    """The warm-up, then `sessions` more (or MOAT_SOAK_SECONDS of them) with `during`
    (a context manager, or None) around them; returns the figures to assert on."""
    start = time.monotonic()
    soak.run_sessions(0, warm_up)
    fds_before, rss_before = master_state(srv)
    with during or contextlib.nullcontext():
        if LONG_RUN:
            ran = soak.run_sessions(warm_up, until=start + LONG_RUN)
        else:
            ran = soak.run_sessions(warm_up, sessions - warm_up)
    fds_after, rss_after = master_state(srv)
    print(f"\nsoak against {srv.kind}: {warm_up + ran} sessions in "
          f"{time.monotonic() - start:.1f} s, {CONCURRENCY} at a time; "
          f"{dict(sorted(soak.tally.counts.items()))}; "
          f"master: {len(fds_after)} fds (after warm-up {len(fds_before)}), "
          f"RSS {rss_after} KiB (after warm-up {rss_before} KiB); "
          f"{len(soak.failures)} sessions failed {soak.failures[:3]}")
    return fds_before, rss_before, fds_after, rss_after


def assert_flat(srv, soak, figures):
    fds_before, rss_before, fds_after, rss_after = figures
    assert not soak.failures
    assert srv.proc.poll() is None
    assert fds_after == fds_before
    assert rss_after - rss_before <= RSS_SLACK_KIB
    assert soak.tally.counts.get("uploads", 0) > 0 and soak.tally.counts.get("downloads", 0) > 0


@pytest.mark.xfail(is_vsftpd(), reason=VSFTPD_PASV_BIND)
def test_soak(server, env, tmpdir_e2e):
    srv = server(seed_options(env))
    soak = Soak(srv, env, tmpdir_e2e)
    assert_flat(srv, soak, soak_run(srv, soak, SESSIONS, WARM_UP))


# ---- the same soak through tcp_wrappers --------------------------------------------------

DENIED = "127.0.0.3"
WRAPPERS_SESSIONS = 48  # a short run: each session forks a judge and a resolver
WRAPPERS_WARM_UP = 16
WRAPPERS_FILES = {
    "/etc/hosts": "127.0.0.1 soak.example localhost\n127.0.0.3 denied.example\n",
    # Every name is in /etc/hosts: no query may leave the namespace for the host's server.
    "/etc/resolv.conf": "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
    # The clients (127.0.0.1) are admitted by their name alone, so every session needs
    # the resolver's answer; every other loopback address is refused by address.
    "/etc/hosts.allow": "moatftpd vsftpd: soak.example\n",
    "/etc/hosts.deny": "moatftpd vsftpd: 127.0.0.0/255.255.255.0\n",
}
WRAPPERS_CHILDREN = ("moat-wrappers", "moat-resolver")


@pytest.fixture
def wrapped_etc(env):
    added = [env.etc.add_file(path, text) for path, text in WRAPPERS_FILES.items()]
    yield
    for path in added:
        env.etc.remove_file(path)


class Background:
    """Calls self.once() every 0.1 s in a thread of its own, from the start of a `with`
    block to its end: bounded, one attempt at a time."""

    def __init__(self):
        self.stop = threading.Event()
        self.errors = []
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        while not self.stop.wait(0.1):
            self.once()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


class DeniedProbe(Background):
    """Connects from DENIED while the soak runs; any greeting (220) is an admission."""

    def __init__(self, srv):
        super().__init__()
        self.srv, self.refused, self.admitted, self.said = srv, 0, 0, b""

    def once(self):
        try:
            with connect_from(self.srv, DENIED, timeout=30) as s:
                code, said = welcome_code(s, timeout=30)
        except ConnectionResetError:
            code, said = None, b"(reset)"
        except OSError as e:
            self.errors.append(repr(e))
            return
        if code == 220:
            self.admitted += 1
        else:
            self.refused += 1
            self.said = said


def test_soak_through_tcp_wrappers(server, env, tmpdir_e2e, wrapped_etc):
    srv = server({**seed_options(env), "tcp_wrappers": True})
    soak = Soak(srv, env, tmpdir_e2e)
    probe = DeniedProbe(srv)
    figures = soak_run(srv, soak, WRAPPERS_SESSIONS, WRAPPERS_WARM_UP, probe)
    print(f"{DENIED}: {probe.refused} connections refused ({probe.said!r}), "
          f"{probe.admitted} admitted, {len(probe.errors)} errors {probe.errors[:3]}")
    assert probe.admitted == 0 and probe.refused > 0 and not probe.errors
    left = [(c, srv.pids(c, anywhere=True)) for c in WRAPPERS_CHILDREN]
    assert not [pids for _, pids in left if pids], left
    # vsftpd's sessions that its PASV ended with "500 OOPS: vsf_sysutil_bind" (curl: "Bad
    # PASV/EPSV response: 500"); any other failure fails the test.
    if is_vsftpd() and soak.failures and all("500" in f for f in soak.failures):
        pytest.xfail(VSFTPD_PASV_BIND)
    assert_flat(srv, soak, figures)
