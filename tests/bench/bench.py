# SPDX-License-Identifier: GPL-2.0-or-later
"""Side-by-side benchmark of moatftpd and vsftpd, run by tests/bench/run inside nsrun.

Measures a 1 GiB anonymous download (curl, median of 3, servers alternating), plain and
over explicit FTPS with PROT P (a second pair of servers with ssl_enable=YES and
allow_anon_ssl=YES, so the plain rows and the login rows keep their TLS-free servers),
and anonymous logins per second (connect/USER/PASS/QUIT, 1 and 4 concurrent clients).
Figures are reported, never asserted: a baseline for performance work, not a test.
"""

import argparse
import multiprocessing
import os
import platform
import re
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
SMALL_NAME, SMALL_TEXT = "small.txt", "probe\n"  # for the probes
DOWNLOAD_RUNS = 3
CONCURRENCY = (1, 4)
WARMUP_LOGINS = 20
LOGIN_ROUNDS = 5
CURL_TIMEOUT = 120
LOGIN_RUN_LIMIT = 120  # seconds; a login run that takes longer stops and fails
CERT_KEY = "rsa:2048"  # openssl req -newkey: the throwaway certificate's key type
TLS_STAT = "/proc/net/tls_stat"  # kTLS counters; per network namespace, so only ours
TLS_LINE_RE = re.compile(r"^\* SSL connection using (\S+) / (\S+)", re.M)


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
    with open(os.path.join(root, SMALL_NAME), "w") as f:
        f.write(SMALL_TEXT)
    return root


def make_cert(workdir):
    """A throwaway self-signed certificate and key for both FTPS servers (openssl CLI)."""
    directory = os.path.join(workdir, "tls")
    os.makedirs(directory, mode=0o700)
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    out = subprocess.run(["openssl", "req", "-x509", "-newkey", CERT_KEY, "-nodes",
                          "-days", "1", "-subj", "/CN=localhost", "-keyout", key,
                          "-out", cert], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"bench: openssl req failed: {out.stderr.strip()}")
    os.chmod(key, 0o600)
    return cert, key


def tls_options(cert, key):
    """What the FTPS pair adds to server_options; everything else (ciphers, protocol
    versions, require_ssl_reuse) stays at each server's default."""
    return {
        "ssl_enable": True,
        "allow_anon_ssl": True,
        "rsa_cert_file": cert,
        "rsa_private_key_file": key,
    }


def server_options(anon_root, seccomp, tls=None):
    opts = {
        "anonymous_enable": True,
        "local_enable": False,
        "write_enable": False,
        "anon_root": anon_root,
        "xferlog_enable": False,
        "seccomp_sandbox": seccomp,
    }
    opts.update(tls or {})
    return opts


def probe(srv):
    """True when an anonymous session can list and download (vsftpd's filter may kill it)."""
    try:
        ftp = srv.connect(timeout=5)
        ftp.login("anonymous", "x")
        ftp.nlst()
        ftp.retrbinary("RETR " + SMALL_NAME, lambda _: None)
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


def start_tls_server(kind, workdir, anon_root, binary, seccomp, tls, notes):
    """The FTPS twin of a plain server, or None (with a note) when it will not start or
    will not serve a PROT P download: the plain rows still get measured."""
    try:
        srv = harness.Server(workdir, server_options(anon_root, seccomp, tls),
                             binary=binary, server=kind).start()
    except harness.HarnessError as e:
        notes.append(f"FTPS: {kind} with ssl_enable=YES did not start: {first_line(e)}")
        return None
    try:
        srv.tls_info = tls_probe(srv)
        return srv
    except CurlError as e:
        srv.stop()
        stderr = srv.stderr_text().strip().splitlines()
        notes.append(f"FTPS: {kind} failed the PROT P probe: {e}"
                     + (f" (its stderr ends: {stderr[-1]})" if stderr else ""))
        return None


def first_line(error):
    return (str(error).strip().splitlines() or ["?"])[0]


# --- measurements -----------------------------------------------------------------
class CurlError(Exception):
    """A curl download that failed or came back short."""


def curl_argv(srv, tls=False, path="/" + BIG_NAME, verbose=False):
    """curl sends AUTH, PBSZ 0 and PROT P itself with --ssl-reqd; -k because the
    certificate is a throwaway self-signed one."""
    argv = ["curl", "-sS", "--max-time", str(CURL_TIMEOUT), "-o", "/dev/null",
            "-w", "%{time_total} %{size_download}"]
    argv += ["--ssl-reqd", "-k"] if tls else []
    argv += ["-v"] if verbose else []
    return argv + [srv.url(path=path)]


def run_curl(srv, tls, path, size, verbose=False):
    """(seconds, curl's stderr) for one checked download of `size` bytes."""
    out = subprocess.run(curl_argv(srv, tls, path, verbose), capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        raise CurlError(f"curl from {srv.kind} failed: " + (
            out.stderr.strip().splitlines() or ["?"])[-1])
    seconds, got = out.stdout.split()
    if int(got) != size:
        raise CurlError(f"{srv.kind} sent {got} bytes, expected {size}")
    return float(seconds), out.stderr


def tls_probe(srv):
    """Download small.txt with curl -v over FTPS and read what was negotiated: the
    "SSL connection using" lines are the control connection, then the data one."""
    _, log = run_curl(srv, True, "/" + SMALL_NAME, len(SMALL_TEXT), verbose=True)
    if "> PROT P" not in log:
        raise CurlError(f"curl did not send PROT P to {srv.kind}")
    found = TLS_LINE_RE.findall(log)
    if len(found) < 2:
        raise CurlError(f"expected TLS on control and data connections, curl saw {found}")
    return {"control": found[0], "data": found[1],
            "reused": "SSL re-using session ID" in log}


def tls_summary(info):
    control = " ".join(info["control"])
    data = "same" if info["data"] == info["control"] else " ".join(info["data"])
    reuse = "session resumed" if info["reused"] else "full handshake"
    return f"control {control}, data {data} ({reuse})"


def ktls_tx_sessions():
    """Kernel TLS transmit sessions opened so far in this namespace, or None without
    CONFIG_TLS (then no server can use kTLS here)."""
    try:
        with open(TLS_STAT) as f:
            fields = dict(line.split() for line in f if line.strip())
    except OSError:
        return None
    return int(fields.get("TlsTxSw", 0)) + int(fields.get("TlsTxDevice", 0))


def timed_downloads(servers, tls, notes):
    """DOWNLOAD_RUNS downloads per server, alternating between servers, and the kTLS
    transmit sessions each server opened (None when the kernel has no kTLS). A failed
    plain download ends the bench; a failed FTPS one leaves that server out of the
    FTPS rows, with a note."""
    times = {k: [] for k in servers}
    ktls = {k: 0 for k in servers}
    for _ in range(DOWNLOAD_RUNS):
        for kind, srv in servers.items():
            if kind not in times:
                continue
            before = ktls_tx_sessions()
            try:
                times[kind].append(run_curl(srv, tls, "/" + BIG_NAME, BIG_SIZE)[0])
            except CurlError as e:
                if not tls:
                    raise SystemExit(f"bench: {e}") from None
                notes.append(f"FTPS: 1 GiB PROT P download failed: {e}")
                del times[kind]
                continue
            after = ktls_tx_sessions()
            ktls[kind] = None if before is None else ktls[kind] + after - before
    return times, ktls


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
    if len(kinds) < 2 or not values.get("vsftpd") or values.get("moatftpd") is None:
        return "-"
    return f"{values['moatftpd'] / values['vsftpd']:.2f}"


def cell(fmt, value):
    """A table cell; None is a server that could not be measured (see the notes)."""
    return "failed" if value is None else fmt.format(value)


def report(args, kinds, rows, notes, servers, tls_servers):
    lines = ["moatftpd vs vsftpd benchmark, " + time.strftime("%Y-%m-%d %H:%M:%S %Z"), ""]
    header = f"{'measurement':44}" + "".join(f"{k:>12}" for k in kinds)
    header += f"{'moat/vsftpd':>14}" if len(kinds) == 2 else ""
    lines += [header, "-" * len(header)]
    for label, fmt, values, better in rows:
        line = f"{label:44}" + "".join(f"{cell(fmt, values.get(k)):>12}" for k in kinds)
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
    for kind, srv in tls_servers.items():
        lines.append(f"  FTPS download ({kind}): {shlex.join(curl_argv(srv, True))}")
    lines += [f"  logins: {args.logins} x (connect, USER anonymous, PASS x, QUIT, each reply "
              f"checked) per server and client count, split over N client processes, in "
              f"{LOGIN_ROUNDS} rounds alternating between servers",
              "  server options: " + " ".join(
                  f"{k}={yesno(v)}" for k, v in server_options("ANON", True).items()
                  if k != "seccomp_sandbox")
              + " + tests/e2e/harness.py defaults (listen=YES on 127.0.0.1)",
              "  FTPS servers: the same + " + " ".join(
                  f"{k}={yesno(v)}" for k, v in tls_options("CERT", "KEY").items())
              + f" (self-signed, openssl req -x509 -newkey {CERT_KEY}); ciphers, TLS "
              "versions and require_ssl_reuse at each server's default"]
    lines += ["notes:"] + [f"  {n}" for n in notes] if notes else []
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.results:
        os.makedirs(os.path.dirname(args.results), exist_ok=True)
        with open(args.results, "w") as f:
            f.write(text)
        print(f"(saved to {args.results})")


def download_rows(downloads, tls_downloads, tls_servers):
    median = {k: statistics.median(v) for k, v in downloads.items()}
    tls_median = {k: statistics.median(v) for k, v in tls_downloads.items()}
    ciphers = sorted({" ".join(info["data"]) for info in
                      (s.tls_info for s in tls_servers.values())})
    return [
        (f"1 GiB download, median of {DOWNLOAD_RUNS} (s)", "{:.3f}", median,
         "lower is better"),
        ("1 GiB download throughput (MiB/s)", "{:.0f}",
         {k: 1024 / v for k, v in median.items()}, "higher is better"),
        (f"1 GiB FTPS PROT P download, median of {DOWNLOAD_RUNS} (s)", "{:.3f}",
         tls_median, "lower is better; " + ("/".join(ciphers) or "no TLS server")),
        ("1 GiB FTPS PROT P throughput (MiB/s)", "{:.0f}",
         {k: 1024 / v for k, v in tls_median.items()}, "higher is better"),
        ("FTPS PROT P time / plain time", "{:.2f}",
         {k: tls_median[k] / median[k] for k in tls_median}, "lower is better"),
    ]


def download_notes(downloads, tls_downloads, tls_servers, ktls):
    notes = ["downloads (s): " + "; ".join(
        f"{k} " + " ".join(f"{t:.3f}" for t in v) for k, v in downloads.items())]
    if tls_downloads:
        notes.append("FTPS downloads (s): " + "; ".join(
            f"{k} " + " ".join(f"{t:.3f}" for t in v) for k, v in tls_downloads.items()))
    for kind, srv in tls_servers.items():
        notes.append(f"TLS negotiated with {kind} (curl -v, {SMALL_NAME}): "
                     + tls_summary(srv.tls_info))
    ktls = {k: ktls[k] for k in tls_downloads}
    if tls_downloads and all(v is None for v in ktls.values()):
        notes.append(f"kTLS: {TLS_STAT} absent (kernel without CONFIG_TLS): "
                     "TLS ran in user space.")
    elif tls_downloads:
        notes.append("kTLS transmit sessions opened during the FTPS downloads "
                     f"({TLS_STAT} TlsTxSw+TlsTxDevice): "
                     + ", ".join(f"{k} {v}" for k, v in ktls.items()))
    return notes


def main():
    args = parse_args()
    kinds = [k for k in ("moatftpd", "vsftpd") if k in args.servers.split()]
    binaries = {"moatftpd": os.path.join(args.build, "moatftpd"), "vsftpd": args.vsftpd}
    workdir = harness.private_workdir(prefix="moat-bench-", size="2g")
    etc = harness.FakeEtc(workdir)
    servers, tls_servers, notes = {}, {}, []
    try:
        anon_root = make_anon_root(etc, workdir)
        tls = tls_options(*make_cert(workdir))
        for kind in kinds:
            servers[kind] = start_server(kind, workdir, anon_root, binaries[kind], notes)
        if "moatftpd" in servers:
            notes.append("moatftpd runs with seccomp_sandbox=YES (its default).")
        for kind in kinds:
            srv = start_tls_server(kind, workdir, anon_root, binaries[kind],
                                   servers[kind].options["seccomp_sandbox"], tls, notes)
            if srv:
                tls_servers[kind] = srv
        downloads, _ = timed_downloads(servers, False, notes)
        tls_downloads, ktls = timed_downloads(tls_servers, True, notes)
        rows = download_rows(downloads, tls_downloads, tls_servers)
        for clients in CONCURRENCY:
            rates = logins_per_second(servers, kinds, args.logins, clients)
            rows.append((f"anonymous logins/s, {clients} client(s)", "{:.0f}", rates,
                         "higher is better"))
        notes += download_notes(downloads, tls_downloads, tls_servers, ktls)
        report(args, kinds, rows, notes, servers, tls_servers)
    finally:
        for srv in list(servers.values()) + list(tls_servers.values()):
            srv.stop()
        etc.close()
        harness.release_workdir(workdir)


if __name__ == "__main__":
    try:
        main()
    except harness.HarnessError as e:
        raise SystemExit(f"bench: {e}") from None
