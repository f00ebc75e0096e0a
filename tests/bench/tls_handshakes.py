# SPDX-License-Identifier: GPL-2.0-or-later
"""TLS control handshakes per second: connect, AUTH TLS, a full handshake (no
resumption), QUIT over TLS, each checked. It measures what the private key's move out
of the workers costs (the helper forks a key holder per TLS session, which reads the
key and signs over IPC), RSA-2048 and ECDSA P-256, one or more moatftpd builds side by
side in alternating rounds.

    tests/e2e/nsrun /usr/bin/python3 tests/bench/tls_handshakes.py \\
        --build ../main/build --build build [--count 300] [--clients 1]

tls_handshakes_per_second(srv, cafile, total, clients) is the row for bench.py."""

import argparse
import multiprocessing
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import harness  # noqa: E402

ROUNDS = 5
WARMUP = 20
KEYS = {"RSA-2048": ["-newkey", "rsa:2048"],
        "ECDSA P-256": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]}


def handshake_loop(port, cafile, count, barrier, results):
    """One client process: `count` full handshakes back to back."""
    ctx = harness.tls_client_context(cafile=cafile)
    barrier.wait()
    start, failures, error = time.monotonic(), 0, None
    for _ in range(count):
        try:
            with harness.Control("127.0.0.1", port, timeout=10) as c:
                assert c.reply()[0] == 220
                assert c.cmd("AUTH TLS")[0] == 234
                c.start_tls(ctx, server_hostname="localhost")
                assert c.cmd("QUIT")[0] == 221
        except Exception as e:  # noqa: BLE001 - counted and reported
            failures += 1
            error = error or repr(e)
    results.put((start, time.monotonic(), failures, error))


def tls_handshakes_per_second(srv, cafile, total, clients=1):
    """Checked full control handshakes per second over `clients` processes."""
    mp = multiprocessing.get_context("fork")
    barrier, results = mp.Barrier(clients), mp.Queue()
    share = [total // clients + (i < total % clients) for i in range(clients)]
    procs = [mp.Process(target=handshake_loop, args=(srv.port, cafile, n, barrier, results))
             for n in share]
    for p in procs:
        p.start()
    got = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    if sum(g[2] for g in got):
        raise SystemExit(f"bench: failed handshakes: {[g[3] for g in got if g[3]]}")
    return total / (max(g[1] for g in got) - min(g[0] for g in got))


def make_cert(directory, key_args):
    os.makedirs(directory, mode=0o700)
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", *key_args, "-nodes", "-days", "1", "-subj",
                    "/CN=localhost", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    return cert, key


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--build", action="append", required=True)
    p.add_argument("--count", type=int, default=300)
    p.add_argument("--clients", type=int, default=1)
    args = p.parse_args()
    workdir = harness.private_workdir(prefix="moat-tlsbench-", size="64m")
    etc = harness.FakeEtc(workdir)
    servers = []
    try:
        for name, key_args in KEYS.items():
            cert, key = make_cert(os.path.join(workdir, name.split()[0]), key_args)
            opts = {"ssl_enable": True, "rsa_cert_file": cert, "rsa_private_key_file": key,
                    "xferlog_enable": False, "anonymous_enable": True}
            row = [harness.Server(workdir, opts, binary=os.path.join(b, "moatftpd")).start()
                   for b in args.build]
            servers += row
            seconds = [0.0] * len(row)
            for srv in row:
                tls_handshakes_per_second(srv, cert, WARMUP, 1)
            for _ in range(ROUNDS):
                for i, srv in enumerate(row):
                    n = args.count // ROUNDS
                    seconds[i] += n / tls_handshakes_per_second(srv, cert, n, args.clients)
            for build, secs in zip(args.build, seconds):
                rate = (args.count // ROUNDS) * ROUNDS / secs
                print(f"{name:12s} {args.clients} client(s)  {rate:7.1f} handshakes/s  {build}")
    finally:
        for srv in servers:
            srv.stop()
        etc.close()
        harness.release_workdir(workdir)


if __name__ == "__main__":
    main()
