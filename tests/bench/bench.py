"""Side-by-side benchmark of moatftpd and vsftpd, run by tests/bench/run inside nsrun.

Measures a 1 GiB anonymous download (curl, median of 3, servers alternating) and
anonymous logins per second (connect/USER/PASS/QUIT, 1 and 4 concurrent clients).
Figures are reported, never asserted: a baseline for performance work, not a test.
"""

import argparse
import multiprocessing
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import harness  # noqa: E402

BIG_NAME = "big.bin"
BIG_SIZE = 1 << 30
DOWNLOAD_RUNS = 3
CONCURRENCY = (1, 4)
WARMUP_LOGINS = 20
LOGIN_ROUNDS = 5
CURL_TIMEOUT = 120
LOGIN_RUN_LIMIT = 120  # seconds; a login run that takes longer stops and fails


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--build", required=True)
    p.add_argument("--vsftpd", required=True)
    p.add_argument("--vsftpd-version", default="unknown")
    p.add_argument("--servers", default="moatftpd vsftpd")
    p.add_argument("--logins", type=int, default=500)
    p.add_argument("--results")
    return p.parse_args()


# --- environment ------------------------------------------------------------------
def make_anon_root(etc, workdir):
    """The ftp user's home, root-owned and read-only, holding the 1 GiB file."""
    root = os.path.join(workdir, "anon")
    etc.add_user("ftp", None, root, shell="/usr/sbin/nologin", home_owner_root=True)
    block = os.urandom(1 << 20)
    path = os.path.join(root, BIG_NAME)
    with open(path, "wb") as f:
        for _ in range(BIG_SIZE // len(block)):
            f.write(block)
    os.chmod(path, 0o644)
    with open(os.path.join(root, "small.txt"), "w") as f:
        f.write("probe\n")
    return root


def server_options(anon_root, seccomp):
    return {
        "anonymous_enable": True,
        "local_enable": False,
        "write_enable": False,
        "anon_root": anon_root,
        "xferlog_enable": False,
        "seccomp_sandbox": seccomp,
    }


def probe(srv):
    """True when an anonymous session can list and download (vsftpd's filter may kill it)."""
    try:
        ftp = srv.connect(timeout=5)
        ftp.login("anonymous", "x")
        ftp.nlst()
        ftp.retrbinary("RETR small.txt", lambda _: None)
        ftp.quit()
        return True
    except Exception:  # noqa: BLE001 - any failure means "this sandbox does not work"
        return False


def start_server(kind, workdir, anon_root, binary, notes):
    srv = harness.Server(workdir, server_options(anon_root, True), binary=binary,
                         server=kind).start()
    if probe(srv):
        return srv
    srv.stop()
    if kind != "vsftpd":
        raise SystemExit(f"bench: {kind} failed the anonymous list/download probe:\n"
                         + srv.stderr_text())
    notes.append("vsftpd with seccomp_sandbox=YES failed the anonymous LIST/RETR probe "
                 "(its filter predates this glibc), so vsftpd runs with seccomp_sandbox=NO.")
    srv = harness.Server(workdir, server_options(anon_root, False), binary=binary,
                         server=kind).start()
    if not probe(srv):
        raise SystemExit("bench: vsftpd fails the probe even with seccomp_sandbox=NO:\n"
                         + srv.stderr_text())
    return srv


# --- measurements -----------------------------------------------------------------
def curl_argv(srv):
    return ["curl", "-sS", "--max-time", str(CURL_TIMEOUT), "-o", "/dev/null",
            "-w", "%{time_total} %{size_download}", srv.url(path="/" + BIG_NAME)]


def download_once(srv):
    out = subprocess.run(curl_argv(srv), capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"bench: curl from {srv.kind} failed: {out.stderr.strip()}")
    seconds, size = out.stdout.split()
    if int(size) != BIG_SIZE:
        raise SystemExit(f"bench: {srv.kind} sent {size} bytes, expected {BIG_SIZE}")
    return float(seconds)


def login_loop(port, count, barrier, results):
    """One client process: `count` anonymous logins back to back, each checked."""
    barrier.wait()
    start, failures, first_error = time.monotonic(), 0, None
    for done in range(count):
        if time.monotonic() - start > LOGIN_RUN_LIMIT:
            failures += count - done
            first_error = first_error or f"stopped after {LOGIN_RUN_LIMIT} s"
            break
        try:
            with harness.Control("127.0.0.1", port, timeout=10) as c:
                codes = (c.reply()[0], c.login("anonymous", "x"), c.cmd("QUIT")[0])
            if codes != (220, 230, 221):
                raise RuntimeError(f"reply codes {codes}")
        except Exception as e:  # noqa: BLE001 - counted and reported, never hidden
            failures += 1
            first_error = first_error or repr(e)
    results.put((start, time.monotonic(), failures, first_error))


def login_seconds(srv, total, clients):
    """Wall time for `total` checked logins spread over `clients` processes."""
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(clients), ctx.Queue()
    share = [total // clients + (i < total % clients) for i in range(clients)]
    procs = [ctx.Process(target=login_loop, args=(srv.port, n, barrier, results))
             for n in share]
    for p in procs:
        p.start()
    got = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    failures = sum(g[2] for g in got)
    if failures:
        errors = "; ".join(g[3] for g in got if g[3])
        raise SystemExit(f"bench: {failures} of {total} logins to {srv.kind} failed: {errors}")
    return max(g[1] for g in got) - min(g[0] for g in got)


def logins_per_second(servers, kinds, total, clients):
    """Rates per server; rounds alternate between servers so that load from anything
    else on the machine falls on both alike."""
    share = [total // LOGIN_ROUNDS + (i < total % LOGIN_ROUNDS) for i in range(LOGIN_ROUNDS)]
    seconds = {k: 0.0 for k in kinds}
    for kind in kinds:
        login_seconds(servers[kind], WARMUP_LOGINS, 1)
    for count in share:
        for kind in kinds:
            seconds[kind] += login_seconds(servers[kind], count, clients)
    return {k: total / seconds[k] for k in kinds}


# --- report -----------------------------------------------------------------------
def version_of(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def yesno(value):
    return {True: "YES", False: "NO"}.get(value, value)


def ratio(kinds, values):
    if len(kinds) < 2 or not values.get("vsftpd"):
        return "-"
    return f"{values['moatftpd'] / values['vsftpd']:.2f}"


def report(args, kinds, rows, notes, servers):
    lines = ["moatftpd vs vsftpd benchmark, " + time.strftime("%Y-%m-%d %H:%M:%S %Z"), ""]
    header = f"{'measurement':44}" + "".join(f"{k:>12}" for k in kinds)
    header += f"{'moat/vsftpd':>14}" if len(kinds) == 2 else ""
    lines += [header, "-" * len(header)]
    for label, fmt, values, better in rows:
        line = f"{label:44}" + "".join(f"{fmt.format(values[k]):>12}" for k in kinds)
        if len(kinds) == 2:
            line += f"{ratio(kinds, values):>14}"
        lines.append(line + f"  ({better})")
    lines += ["", "environment:",
              f"  kernel        {platform.release()} ({os.cpu_count()} CPUs, {cpu_model()})",
              f"  vsftpd        {args.vsftpd_version} (Debian .deb, dpkg -x, {args.vsftpd})",
              f"  moatftpd      {version_of([os.path.join(args.build, 'moatftpd'), '--version'])}"
              if "moatftpd" in kinds else "  moatftpd      not measured",
              f"  curl          {version_of(['curl', '--version'])}",
              f"  python        {platform.python_version()}",
              "commands:",
              "  make bench  ->  tests/bench/run BUILDDIR  ->  tests/e2e/nsrun python3 "
              "tests/bench/bench.py (private mount/net/pid namespaces, loopback only)"]
    for kind in kinds:
        lines.append(f"  download ({kind}): {shlex.join(curl_argv(servers[kind]))}")
    lines += [f"  logins: {args.logins} x (connect, USER anonymous, PASS x, QUIT, each reply "
              f"checked) per server and client count, split over N client processes, in "
              f"{LOGIN_ROUNDS} rounds alternating between servers",
              "  server options: " + " ".join(
                  f"{k}={yesno(v)}" for k, v in server_options("ANON", True).items()
                  if k != "seccomp_sandbox")
              + " + tests/e2e/harness.py defaults (listen=YES on 127.0.0.1)"]
    lines += ["notes:"] + [f"  {n}" for n in notes] if notes else []
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.results:
        os.makedirs(os.path.dirname(args.results), exist_ok=True)
        with open(args.results, "w") as f:
            f.write(text)
        print(f"(saved to {args.results})")


def main():
    args = parse_args()
    kinds = [k for k in ("moatftpd", "vsftpd") if k in args.servers.split()]
    binaries = {"moatftpd": os.path.join(args.build, "moatftpd"), "vsftpd": args.vsftpd}
    workdir = harness.private_workdir(prefix="moat-bench-", size="2g")
    etc = harness.FakeEtc(workdir)
    servers, notes = {}, []
    try:
        anon_root = make_anon_root(etc, workdir)
        for kind in kinds:
            servers[kind] = start_server(kind, workdir, anon_root, binaries[kind], notes)
        if "moatftpd" in servers:
            notes.append("moatftpd runs with seccomp_sandbox=YES (its default).")
        downloads = {k: [] for k in kinds}
        for _ in range(DOWNLOAD_RUNS):
            for kind in kinds:
                downloads[kind].append(download_once(servers[kind]))
        median = {k: statistics.median(v) for k, v in downloads.items()}
        rows = [(f"1 GiB download, median of {DOWNLOAD_RUNS} (s)", "{:.3f}", median,
                 "lower is better"),
                ("1 GiB download throughput (MiB/s)", "{:.0f}",
                 {k: 1024 / v for k, v in median.items()}, "higher is better")]
        for clients in CONCURRENCY:
            rates = logins_per_second(servers, kinds, args.logins, clients)
            rows.append((f"anonymous logins/s, {clients} client(s)", "{:.0f}", rates,
                         "higher is better"))
        notes.append("downloads (s): " + "; ".join(
            f"{k} " + " ".join(f"{t:.3f}" for t in v) for k, v in downloads.items()))
        report(args, kinds, rows, notes, servers)
    finally:
        for srv in servers.values():
            srv.stop()
        etc.close()
        harness.release_workdir(workdir)


if __name__ == "__main__":
    try:
        main()
    except harness.HarnessError as e:
        raise SystemExit(f"bench: {e}") from None
