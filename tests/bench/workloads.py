# SPDX-License-Identifier: GPL-2.0-or-later
"""The bench's workloads: each runs one measured piece of work against one server and
returns a Result (work done, wall time, server CPU, client CPU), or raises BenchError.

Clients are curl for downloads and listings (C, so the client is cheap next to the
server), an ftplib control connection with sendfile(2) for the upload, and small Python
processes for logins and idle sessions. COMMANDS keeps the
exact command lines each workload ran last, for the report.
"""

import ftplib
import multiprocessing
import os
import subprocess
import time

import harness
import measure

CURL_TIMEOUT = 600
RUN_LIMIT = 300  # seconds; a login run that takes longer stops and fails
COMMANDS = {}  # workload -> an argv it ran (the last one), for the report


class BenchError(Exception):
    """A workload that failed: wrong size, refused login, a session that died."""


class Result:
    def __init__(self, work, sample):
        self.work = work  # bytes, files, listings, logins
        self.wall, self.server, self.client = sample.wall, sample.server, sample.client

    def rate(self):
        return self.work / self.wall

    def server_per(self, unit=1):
        return self.server / self.work * unit

    def client_share(self):
        """The clients' CPU as a fraction of their one core over the run."""
        return self.client / self.wall


def _curl(argv, label):
    COMMANDS[label] = argv
    out = subprocess.run(argv, capture_output=True, text=True, check=False,
                         timeout=CURL_TIMEOUT + 30)
    if out.returncode != 0:
        raise BenchError(f"{label}: curl failed: "
                         + (out.stderr.strip().splitlines() or ["?"])[-1])
    return out.stdout


def curl_base(tls=False):
    argv = ["curl", "-sS", "--max-time", str(CURL_TIMEOUT)]
    return argv + (["--ssl-reqd", "-k"] if tls else [])


def download(srv, path, size, tls=False):
    argv = curl_base(tls) + ["-o", "/dev/null", "-w", "%{size_download}", srv.url(path=path)]
    label = "FTPS PROT P download" if tls else "download"
    with measure.Sample(srv.proc.pid) as s:
        got = int(_curl(argv, label))
    if got != size:
        raise BenchError(f"{label} from {srv.kind}: {got} bytes, expected {size}")
    return Result(size, s)


def upload(srv, user, password, source, dest_dir, size):
    """STOR of source into the local user's home; the copy is removed afterwards.
    The client sends with sendfile(2) straight from the page cache, in large pieces,
    so it costs a fraction of the server's work (curl -T reads and sends 64 KiB at a
    time and was the limit of this row)."""
    name = "upload.bin"
    COMMANDS["upload"] = ["python3 ftplib: USER, PASS, TYPE I, PASV, STOR", "/" + name,
                          "data: os.sendfile from", source]
    with measure.Sample(srv.proc.pid) as s:
        _send_file(srv, user, password, source, name, size)
    dest = os.path.join(dest_dir, name)
    got = os.path.getsize(dest) if os.path.exists(dest) else -1
    if os.path.exists(dest):
        os.unlink(dest)
    if got != size:
        raise BenchError(f"upload to {srv.kind}: {got} bytes stored, expected {size}")
    return Result(size, s)


def _send_file(srv, user, password, source, name, size):
    ftp = srv.connect(timeout=CURL_TIMEOUT)
    try:
        ftp.login(user, password)
        ftp.voidcmd("TYPE I")
        data = ftp.transfercmd("STOR " + name)
        with data, open(source, "rb") as f:
            sent = data.sendfile(f)  # os.sendfile in pieces of up to 1 GiB
        if sent != size:
            raise BenchError(f"upload to {srv.kind}: sendfile stopped after {sent} bytes")
        ftp.voidresp()
        ftp.quit()
    except ftplib.all_errors as e:
        raise BenchError(f"upload to {srv.kind}: {e!r}") from None
    finally:
        ftp.close()


def small_files(srv, sessions, names, size):
    """`sessions` curl processes at once, each fetching every name over one control
    connection (curl reuses it; --ftp-method nocwd: one RETR per file, no CWD)."""
    argvs = []
    for _ in range(sessions):
        argv = curl_base() + ["--ftp-method", "nocwd", "-w", "%{size_download}\\n"]
        for n in names:
            argv += ["-o", "/dev/null", srv.url(path="/" + n)]
        argvs.append(argv)
    COMMANDS["small files"] = argvs[0][:8] + ["...", f"({len(names)} URLs, x{sessions})"]
    with measure.Sample(srv.proc.pid) as s:
        procs = [subprocess.Popen(a, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for a in argvs]
        outs = [p.communicate(timeout=CURL_TIMEOUT) for p in procs]
    sizes = [int(x) for out, _ in outs for x in out.split()]
    bad = [p.returncode for p in procs if p.returncode != 0]
    if bad or sizes.count(size) != sessions * len(names):
        errors = {e.strip().splitlines()[-1] for _, e in outs if e.strip()}
        raise BenchError(f"small files from {srv.kind}: {len(bad)} curl failures, "
                         f"{sizes.count(size)} of {sessions * len(names)} files whole; "
                         + "; ".join(sorted(errors)[:3]))
    return Result(sessions * len(names), s)


def listing(srv, path, entries, repeat, command=None):
    """`repeat` listings of one directory over one control connection: LIST, or
    curl -X MLSD. Each must be at least one line per entry."""
    argv = curl_base() + ["-w", "%{size_download}\\n"] + (["-X", command] if command else [])
    for _ in range(repeat):
        argv += ["-o", "/dev/null", srv.url(path=path)]
    label = (command or "LIST") + f" of {entries} entries"
    with measure.Sample(srv.proc.pid) as s:
        out = _curl(argv, label)
    COMMANDS[label] = argv[:argv.index("-o") + 3] + [f"(URL x{repeat})"]
    sizes = [int(x) for x in out.split()]
    if len(sizes) != repeat or min(sizes) < entries * 10:
        raise BenchError(f"{label} from {srv.kind}: listings of {sizes[:3]}... bytes")
    return Result(repeat, s)


def feat_has(srv, word):
    """Whether FEAT lists `word` (MLST: the server has MLSD)."""
    with harness.Control("127.0.0.1", srv.port) as c:
        c.reply()
        _, lines = c.cmd("FEAT")
    return any(line.strip().upper().startswith(word) for line in lines[1:])


# --- logins ---------------------------------------------------------------------
def _login_loop(port, user, password, count, barrier, results):
    """One client process: `count` logins back to back, each checked."""
    measure.pin_clients()
    barrier.wait()
    start, failures, first_error = time.monotonic(), 0, None
    for done in range(count):
        if time.monotonic() - start > RUN_LIMIT:
            failures += count - done
            first_error = first_error or f"stopped after {RUN_LIMIT} s"
            break
        try:
            with harness.Control("127.0.0.1", port, timeout=30) as c:
                codes = (c.reply()[0], c.login(user, password), c.cmd("QUIT")[0])
            if codes != (220, 230, 221):
                raise RuntimeError(f"reply codes {codes}")
        except Exception as e:  # noqa: BLE001 - counted and reported, never hidden
            failures += 1
            first_error = first_error or repr(e)
    results.put((failures, first_error))


def logins(srv, user, password, total, clients):
    """`total` checked logins (connect, USER, PASS, QUIT) over `clients` processes."""
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(clients + 1), ctx.Queue()
    share = [total // clients + (i < total % clients) for i in range(clients)]
    procs = [ctx.Process(target=_login_loop, args=(srv.port, user, password, n, barrier,
                                                   results)) for n in share]
    for p in procs:
        p.start()
    with measure.Sample(srv.proc.pid) as s:
        barrier.wait()
        got = [results.get(timeout=RUN_LIMIT + 60) for _ in procs]
        for p in procs:
            p.join()
    failures = sum(g[0] for g in got)
    if failures:
        errors = "; ".join(g[1] for g in got if g[1])
        raise BenchError(f"{failures} of {total} logins as {user} to {srv.kind} failed: "
                         + errors)
    return Result(total, s)


# --- idle sessions ----------------------------------------------------------------
class IdleSessions:
    """`count` anonymous sessions logged in and left idle; close() ends them all."""

    def __init__(self, srv, count):
        self.srv, self.count, self.conns, self.failures = srv, count, [], []

    def open(self):
        for i in range(self.count):
            try:
                c = harness.Control("127.0.0.1", self.srv.port, timeout=30)
                self.conns.append(c)
                code = c.reply()[0]
                if code != 220 or c.login("anonymous", "x") != 230:
                    raise RuntimeError(f"greeting {code} or login refused")
            except Exception as e:  # noqa: BLE001 - counted, and the first one named
                self.failures.append(f"session {i + 1}: {e!r}")
                if len(self.failures) >= 20:
                    break
        return self

    def answering(self):
        """How many sessions answer NOOP with 200 now."""
        ok = 0
        for c in self.conns:
            try:
                code, lines = c.cmd("NOOP")
                if code != 200:
                    raise RuntimeError(lines[:1] or "connection closed")
                ok += 1
            except Exception as e:  # noqa: BLE001
                self.failures.append(f"NOOP: {e!r}")
        return ok

    def close(self):
        for c in self.conns:
            c.close()
        self.conns = []
        wait_drained(self.srv)


def settled_processes(pid, timeout=60):
    """The number of processes below pid once it has stopped changing (the pre-login
    workers exit after the hand-over, some time after the 230)."""
    last, since, deadline = None, time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = len(measure.tree(pid)) - 1
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since > 0.5:
            return n
        time.sleep(0.1)
    return last


def wait_drained(srv, timeout=120):
    """Until every session process of srv has gone, so one measurement does not carry
    the tail of the last one."""
    deadline = time.monotonic() + timeout
    while len(measure.tree(srv.proc.pid)) > 1 and time.monotonic() < deadline:
        time.sleep(0.05)


def idle_memory(srv, count):
    """{comm: [processes, Pss KiB, Private_Dirty KiB]} with `count` idle sessions."""
    s = IdleSessions(srv, count).open()
    try:
        if s.failures:
            raise BenchError(f"idle sessions on {srv.kind}: {s.failures[0]}")
        if s.answering() != count:
            raise BenchError(f"idle sessions on {srv.kind}: {s.failures[:1]}")
        settled_processes(srv.proc.pid)
        return measure.session_memory(srv.proc.pid)
    finally:
        s.close()


def concurrent(srv, count):
    """(sessions logged in and answering NOOP, first failure or None, seconds)."""
    start = time.monotonic()
    s = IdleSessions(srv, count).open()
    try:
        ok = s.answering()
        return ok, (s.failures[0] if s.failures else None), time.monotonic() - start
    finally:
        s.close()
