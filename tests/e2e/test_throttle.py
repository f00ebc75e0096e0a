# SPDX-License-Identifier: GPL-2.0-or-later
"""mod_throttle: anon_max_rate and local_max_rate (vsftpd's), per-user rates from
user_config_dir, and moatftpd's ip_max_rate and server_max_rate, through curl.

The per-session rates and user_config_dir also run against vsftpd
(MOAT_E2E_SERVER=vsftpd). Rates are measured from curl's own timers, from just before
RETR/STOR to the last byte. The single-download test and the aggregate totals hold
the issue's 5%; the others use wider bounds. A loaded machine can slow a transfer down (a worker that
wakes late loses that tick's tokens) but never speed it up: the limit itself, the
upper bound, is held as stated on any machine, and the lower bound leaves LOADED more
for lost ticks, so that the suite holds beside other work on two shared cores.
The control commands during a throttled transfer are checked by order (the reply
comes while the data is still flowing), not by wall-clock thresholds.
"""

import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

import harness
from clients import curl
from harness import Control

moatftpd_only = pytest.mark.moatftpd_only
MB = 1000 * 1000
# vsftpd sleeps to keep its average and drifts by 10% on a loaded machine; the token
# bucket does not. Against vsftpd the bounds only check that the right limit applies.
VSFTPD = harness.server_kind() == "vsftpd"
SLACK = 0.15 if VSFTPD else 0.0
LOADED = 0.10


def module_dir():
    return os.path.join(os.path.dirname(harness.default_binary("moatftpd")), "modules")


def throttle(**options):
    """Options with mod_throttle loaded (the harness drops load_module for vsftpd)."""
    return dict(options, load_module="mod_throttle", module_dir=module_dir())


def sparse_file(path, size, owner=None):
    """A file of `size` zero bytes that costs no memory on the tmpfs."""
    with open(path, "wb") as f:
        f.truncate(size)
    if owner is not None:
        os.chown(path, owner.uid, owner.gid)
    os.chmod(path, 0o644)
    return path


def anon_root_with(tmpdir, name, size):
    root = harness.make_dir(os.path.join(tmpdir, "anon"), 0o755)
    sparse_file(os.path.join(root, name), size)
    return root


CURL_TIMES = "%{size_download} %{size_upload} %{time_pretransfer} %{time_total}"


class Timed:
    """One curl run's bytes and its transfer's start and end (seconds, time.monotonic
    scale: curl's timers are offset by the moment it was launched)."""

    def __init__(self, launched, output):
        down, up, pre, total = output.split()
        self.bytes = int(float(down)) + int(float(up))
        self.start = launched + float(pre)
        self.end = launched + float(total)

    @property
    def rate(self):
        return self.bytes / (self.end - self.start)


def timed_curl(srv, user, path, *args):
    launched = time.monotonic()
    r = curl(srv, user, path, "--write-out", CURL_TIMES, *args)
    return Timed(launched, r.stdout.decode())


def parallel_curls(srv, jobs):
    """Runs curl for each (user, path, args) at once; returns their Timed results."""
    procs = []
    for user, path, args in jobs:
        argv = ["curl", "--silent", "--show-error", "--globoff", "--max-time", "60",
                "--write-out", CURL_TIMES, *args]
        if user is not None:
            argv += ["--user", f"{user.name}:{user.password}"]
        argv.append(srv.url(path=path))
        procs.append((time.monotonic(), subprocess.Popen(argv, stdout=subprocess.PIPE,
                                                         stderr=subprocess.PIPE)))
    results = []
    for launched, p in procs:
        out, err = p.communicate(timeout=90)
        assert p.returncode == 0, err.decode()
        results.append(Timed(launched, out.decode()))
    return results


def total_rate(results):
    """The rate of several transfers together, first start to last end."""
    return sum(r.bytes for r in results) / (max(r.end for r in results) -
                                           min(r.start for r in results))


def assert_near(measured, expected, tolerance):
    tolerance += SLACK
    low, high = (1 - tolerance - LOADED) * expected, (1 + tolerance) * expected
    assert low <= measured <= high, (
        f"measured {measured / MB:.3f} MB/s, expected {expected / MB:.3f} MB/s "
        f"-{tolerance + LOADED:.0%}/+{tolerance:.0%}")


# ---- per-session rates (vsftpd's options) ---------------------------------------------

def test_anon_max_rate_20mb_download_within_5_percent(server, tmpdir_e2e):
    """The issue's measurement: a 20 MB download at 5 MB/s (about 4 s)."""
    root = anon_root_with(tmpdir_e2e, "big.bin", 20 * MB)
    srv = server(throttle(anon_max_rate=5 * MB, anon_root=root))
    out = os.path.join(tmpdir_e2e, "big.out")
    t = timed_curl(srv, None, "/big.bin", "-o", out)
    assert t.bytes == 20 * MB and os.path.getsize(out) == 20 * MB
    print(f"measured {t.rate / MB:.3f} MB/s for 5.000 MB/s")
    assert_near(t.rate, 5 * MB, 0.05)



@moatftpd_only
def test_a_rate_below_ten_bytes_a_second_is_that_rate(server, env, tmpdir_e2e):
    """vsftpd accepts local_max_rate=5. The token bucket refills once a second below 10
    bytes/s (every 100 ms above), so a 15-byte upload takes about 3 s, not the 1.5 s
    that one byte per 100 ms would give. Only the lower bound is checked: load can slow
    the transfer, never speed it up. (An upload, because reads obey the bucket byte by
    byte, while a download goes out in pieces of at least 4 KiB.)"""
    src = os.path.join(tmpdir_e2e, "tiny.bin")
    with open(src, "wb") as f:
        f.write(b"fifteen bytes!\n")
    name = f"tiny-{os.getpid()}.bin"
    srv = server(throttle(local_max_rate=5))
    try:
        t = timed_curl(srv, env.alice, "/" + name, "-T", src)
        with open(os.path.join(env.alice.home, name), "rb") as f:
            assert f.read() == b"fifteen bytes!\n"
    finally:
        os.unlink(os.path.join(env.alice.home, name))
    assert t.bytes == 15
    assert t.end - t.start >= 2.5, f"15 bytes in {t.end - t.start:.2f} s at 5 bytes/s"

def test_local_max_rate_applies_to_local_users_only(server, env, tmpdir_e2e):
    name = f"local-{os.getpid()}.bin"
    sparse_file(os.path.join(env.alice.home, name), 8 * MB, env.alice)
    root = anon_root_with(tmpdir_e2e, "big.bin", 8 * MB)
    srv = server(throttle(local_max_rate=2 * MB, anon_max_rate=8 * MB, anon_root=root))
    try:
        local = timed_curl(srv, env.alice, "/" + name, "-o", os.devnull)
        anon = timed_curl(srv, None, "/big.bin", "-o", os.devnull)
    finally:
        os.unlink(os.path.join(env.alice.home, name))
    assert local.bytes == 8 * MB and anon.bytes == 8 * MB
    assert_near(local.rate, 2 * MB, 0.15)
    assert_near(anon.rate, 8 * MB, 0.25)


def test_local_max_rate_limits_uploads(server, env, tmpdir_e2e):
    src = sparse_file(os.path.join(tmpdir_e2e, "up.bin"), 6 * MB)
    name = f"up-{os.getpid()}.bin"
    srv = server(throttle(local_max_rate=2 * MB))
    try:
        t = timed_curl(srv, env.alice, "/" + name, "-T", src)
        assert os.path.getsize(os.path.join(env.alice.home, name)) == 6 * MB
    finally:
        os.unlink(os.path.join(env.alice.home, name))
    assert t.bytes == 6 * MB
    assert_near(t.rate, 2 * MB, 0.15)


def test_user_config_dir_sets_a_per_user_rate(server, env, tmpdir_e2e):
    """alice's file lowers her local_max_rate; bob, without a file, keeps ftpd.conf's."""
    conf_dir = harness.make_dir(os.path.join(tmpdir_e2e, "users"), 0o755)
    with open(os.path.join(conf_dir, env.alice.name), "w") as f:
        f.write("local_max_rate=1500000\n")
    names = {}
    for user in (env.alice, env.bob):
        names[user.name] = f"peruser-{os.getpid()}.bin"
        sparse_file(os.path.join(user.home, names[user.name]), 6 * MB, user)
    srv = server(throttle(local_max_rate=6 * MB, user_config_dir=conf_dir))
    try:
        alice = timed_curl(srv, env.alice, "/" + names["alice"], "-o", os.devnull)
        bob = timed_curl(srv, env.bob, "/" + names["bob"], "-o", os.devnull)
    finally:
        for user in (env.alice, env.bob):
            os.unlink(os.path.join(user.home, names[user.name]))
    assert_near(alice.rate, 1.5 * MB, 0.15)
    assert_near(bob.rate, 6 * MB, 0.25)


# ---- the control connection during a throttled transfer -------------------------------

class Download:
    """A passive RETR on a raw control connection; a thread drains the data socket."""

    def __init__(self, srv, path):
        self.ctl = Control(*srv.address())
        assert self.ctl.reply()[0] == 220
        assert self.ctl.login("anonymous", "e2e@example.org") == 230
        assert self.ctl.cmd("TYPE I")[0] == 200
        code, lines = self.ctl.cmd("PASV")
        assert code == 227, lines
        nums = [int(n) for n in re.search(r"\((\d+(?:,\d+){5})\)", lines[0]).group(1).split(",")]
        self.data = socket.create_connection((".".join(map(str, nums[:4])),
                                              nums[4] * 256 + nums[5]), timeout=30)
        self.received = 0
        self.finished = threading.Event()  # the server closed the data connection
        threading.Thread(target=self._drain, daemon=True).start()
        code, lines = self.ctl.cmd("RETR " + path)
        assert code == 150, lines

    def _drain(self):
        try:
            while True:
                chunk = self.data.recv(65536)
                if not chunk:
                    break
                self.received += len(chunk)
        except OSError:
            pass
        self.finished.set()

    def wait_for_bytes(self, n):
        assert harness.wait_for(lambda: self.received >= n or self.finished.is_set(), 30)
        assert not self.finished.is_set(), "the transfer ended before the test could start"

    def close(self):
        self.data.close()
        self.ctl.close()


@moatftpd_only
def test_noop_stat_and_abor_answer_while_the_transfer_runs(server, tmpdir_e2e):
    size = 20 * MB  # 20 s at 1 MB/s: every reply below comes long before the end
    root = anon_root_with(tmpdir_e2e, "big.bin", size)
    srv = server(throttle(anon_max_rate=1 * MB, anon_root=root))
    dl = Download(srv, "/big.bin")
    try:
        dl.wait_for_bytes(100 * 1000)
        code, lines = dl.ctl.cmd("NOOP")
        assert code == 200, lines
        assert not dl.finished.is_set()
        code, lines = dl.ctl.cmd("STAT")
        assert code == 211, lines
        assert any("in progress" in line for line in lines), lines
        assert not dl.finished.is_set()
        mark = dl.received
        dl.wait_for_bytes(mark + 100 * 1000)  # still flowing after the replies
        code, lines = dl.ctl.cmd("ABOR")
        assert code == 426, lines
        assert dl.ctl.reply()[0] == 226
        assert dl.finished.wait(10), "ABOR did not close the data connection"
        assert dl.received < size / 2
        assert dl.ctl.cmd("NOOP")[0] == 200  # the session goes on
    finally:
        dl.close()


# ---- aggregate rates (moatftpd's own options) -----------------------------------------

@moatftpd_only
def test_ip_max_rate_is_shared_by_transfers_from_one_address(server, env, tmpdir_e2e):
    """Two downloads from 127.0.0.1, the second started while the first runs: together
    they keep to ip_max_rate (the first slows down when the second starts and speeds
    up again when it is alone). Shares change at the next heartbeat (0.5 s, later on a
    loaded machine), so the transfers last 9 s for the two changes to weigh little."""
    root = anon_root_with(tmpdir_e2e, "a.bin", 24 * MB)
    sparse_file(os.path.join(root, "b.bin"), 12 * MB)
    srv = server(throttle(ip_max_rate=4 * MB, anon_root=root))
    out_a = os.path.join(tmpdir_e2e, "a.out")
    first = parallel_curls_async(srv, [(None, "/a.bin", ["-o", out_a])])
    assert harness.wait_for(lambda: os.path.exists(out_a) and os.path.getsize(out_a) > 2 * MB,
                            30)
    second = parallel_curls(srv, [(None, "/b.bin", ["-o", os.devnull])])
    results = first() + second
    assert [r.bytes for r in results] == [24 * MB, 12 * MB]
    assert_near(total_rate(results), 4 * MB, 0.05)
    # While both ran, the second got about half (not all) of ip_max_rate.
    assert_near(results[1].rate, 2 * MB, 0.30)


@moatftpd_only
def test_ip_max_rate_is_per_address(server, env, tmpdir_e2e):
    root = anon_root_with(tmpdir_e2e, "big.bin", 8 * MB)
    srv = server(throttle(ip_max_rate=2 * MB, anon_root=root))
    results = parallel_curls(srv, [(None, "/big.bin", ["-o", os.devnull]),
                                   (None, "/big.bin", ["-o", os.devnull,
                                                       "--interface", "127.0.0.2"])])
    for r in results:
        assert_near(r.rate, 2 * MB, 0.15)


@moatftpd_only
def test_server_max_rate_is_shared_by_every_transfer(server, env, tmpdir_e2e):
    """Two addresses and two kinds of session: together they keep to server_max_rate
    (over 8 s, so that the shares' first heartbeat weighs little)."""
    root = anon_root_with(tmpdir_e2e, "big.bin", 16 * MB)
    name = f"srv-{os.getpid()}.bin"
    sparse_file(os.path.join(env.alice.home, name), 16 * MB, env.alice)
    srv = server(throttle(server_max_rate=4 * MB, anon_root=root))
    try:
        results = parallel_curls(srv, [(None, "/big.bin", ["-o", os.devnull]),
                                       (env.alice, "/" + name,
                                        ["-o", os.devnull, "--interface", "127.0.0.2"])])
    finally:
        os.unlink(os.path.join(env.alice.home, name))
    assert [r.bytes for r in results] == [16 * MB, 16 * MB]
    assert_near(total_rate(results), 4 * MB, 0.05)


@moatftpd_only
def test_a_killed_session_stops_counting(server, env, tmpdir_e2e):
    """A worker SIGKILLed mid-transfer never says transfer_end: its share of
    ip_max_rate comes back once its heartbeat is 5 s old."""
    root = anon_root_with(tmpdir_e2e, "big.bin", 20 * MB)
    srv = server(throttle(ip_max_rate=4 * MB, anon_root=root))
    dl = Download(srv, "/big.bin")
    try:
        dl.wait_for_bytes(1 * MB)
        workers = srv.pids("moat-session")
        assert len(workers) == 1, srv.descendants()
        os.kill(workers[0], signal.SIGKILL)
        assert dl.finished.wait(10)
    finally:
        dl.close()
    time.sleep(5.5)  # the heartbeat timeout: not an assertion on timing
    t = timed_curl(srv, None, "/big.bin", "-o", os.devnull, "--range", "0-7999999")
    assert t.bytes == 8 * MB
    assert_near(t.rate, 4 * MB, 0.15)  # all of it, not half


def parallel_curls_async(srv, jobs):
    """parallel_curls, started now; the returned function waits and gives the results."""
    box = {}
    worker = threading.Thread(target=lambda: box.setdefault("r", parallel_curls(srv, jobs)))
    worker.start()

    def join():
        worker.join(90)
        assert "r" in box, "curl did not finish"
        return box["r"]
    return join


# ---- configuration ------------------------------------------------------------------

def moatftpd(*args):
    return subprocess.run([harness.default_binary("moatftpd"), *args],
                          capture_output=True, text=True, timeout=30)


@moatftpd_only
@pytest.mark.parametrize("option", ["anon_max_rate", "local_max_rate"])
def test_vsftpd_rate_options_load_mod_throttle(tmpdir_e2e, option):
    srv = harness.Server(tmpdir_e2e, {option: 1000})
    conf = srv.write_config()
    lineno = open(conf).read().splitlines().index(f"{option}=1000") + 1
    r = moatftpd("-t", conf, "-o", f"module_dir={module_dir()}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == f"{conf}:{lineno}: note: {option} loads mod_throttle"


@moatftpd_only
@pytest.mark.parametrize("option", ["ip_max_rate", "server_max_rate"])
def test_rate_options_need_mod_throttle(tmpdir_e2e, option):
    srv = harness.Server(tmpdir_e2e, {option: 1000})
    conf = srv.write_config()
    lineno = open(conf).read().splitlines().index(f"{option}=1000") + 1
    r = moatftpd("-t", conf)
    assert r.returncode == 1
    assert r.stderr.strip() == f"{conf}:{lineno}: {option} requires load_module=mod_throttle"
    r = moatftpd("-t", conf, "-o", "load_module=mod_throttle", "-o", f"module_dir={module_dir()}")
    assert r.returncode == 0, r.stderr


@moatftpd_only
def test_user_file_cannot_load_modules_or_move_listeners(server, env, tmpdir_e2e):
    """A per-user file with a master-only option: alice's login fails, bob's works."""
    conf_dir = harness.make_dir(os.path.join(tmpdir_e2e, "users"), 0o755)
    with open(os.path.join(conf_dir, env.alice.name), "w") as f:
        f.write("local_max_rate=1000\nlisten_port=2121\n")
    srv = server(throttle(user_config_dir=conf_dir))
    ctl = Control(*srv.address())
    assert ctl.reply()[0] == 220
    assert ctl.login(env.alice.name, env.alice.password) != 230
    ctl.close()
    assert srv.wait_stderr(re.escape(f"{conf_dir}/{env.alice.name}:2: listen_port "
                                     "cannot be set per user"))
    ok = Control(*srv.address())
    assert ok.reply()[0] == 220
    assert ok.login(env.bob.name, env.bob.password) == 230
    ok.close()
