# SPDX-License-Identifier: GPL-2.0-or-later
"""The bench's workloads: each runs one measured piece of work against one server and
returns a Result (work done, wall time, server CPU, client CPU), or raises BenchError.

Clients are curl for listings and the FTPS download (C, so the client is cheap next to
the server), a Python socket client that splices the plain download into /dev/null (see
download), an ftplib control connection with sendfile(2) for the upload, and small Python
processes for logins, idle sessions and the small files (see SMALL_READ). COMMANDS keeps the
exact command lines each workload ran last, for the report.
"""

import fcntl
import ftplib
import multiprocessing
import os
import socket
import struct
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
        self.softirq = sample.softirq  # seconds on (server CPU, client CPU)

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
    """One RETR of path, whose size must be `size`: plain by splice_download, FTPS by curl
    (the client has to decrypt every byte, as curl does; no kTLS here to splice it)."""
    if not tls:
        with measure.Sample(srv.proc.pid) as s:
            got = splice_download(srv, path)
        label = "download"
    else:
        argv = curl_base(tls) + ["-o", "/dev/null", "-w", "%{size_download}",
                                 srv.url(path=path)]
        label = "FTPS PROT P download"
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


# --- small files ------------------------------------------------------------------
# curl 7.88 (Debian 12) stalls a reused FTP connection for 1 s whenever the 229 to its
# EPSV arrives before curl starts to wait for it: its multi state machine then moves to
# DOING_MORE without asking to be run again and sleeps in poll(1000 ms) before opening
# the data connection (strace -f -tt of curl shows the 229 read, then that poll). The
# faster a server answers EPSV, the more 1 s stalls it collects, so curl measured its
# own timer there. These clients speak just EPSV, RETR per file and read every reply.
SMALL_READ = 1 << 16


def _reply(f):
    """(code, first line) of one reply, multi-line aware; raises on EOF."""
    first = f.readline()
    if len(first) < 4:
        raise BenchError(f"connection closed ({first!r})")
    if first[3:4] == b"-":
        end = first[:3] + b" "
        while not (line := f.readline()).startswith(end):
            if not line:
                raise BenchError("connection closed in a multi-line reply")
    return int(first[:3]), first


def _expect(f, codes):
    code, line = _reply(f)
    if code not in codes:
        raise BenchError(f"expected {codes}, got {line!r}")
    return line


def _socket(port):
    """A blocking connected socket whose reads give up after 30 s (SO_RCVTIMEO: a
    Python timeout would add a poll(2) before every read, on the client's CPU)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 30, 0))
    s.connect(("127.0.0.1", port))
    return s


def _retr(ctl, f, name, drain):
    """One file over a fresh passive data connection; returns its size, which
    drain(data socket) counts as it reads to the end."""
    ctl.sendall(b"EPSV\r\n")
    port = int(_expect(f, (229,)).split(b"|")[3])
    with _socket(port) as data:
        ctl.sendall(b"RETR " + name + b"\r\n")
        _expect(f, (125, 150))
        got = drain(data)
    _expect(f, (226,))
    return got


def _recv_all(data, buf):
    got = 0
    while n := data.recv_into(buf):
        got += n
    return got


def _anonymous_login(ctl, f):
    """Greeting, USER anonymous, PASS, TYPE I, each reply checked."""
    _expect(f, (220,))
    for line, codes in ((b"USER anonymous", (331,)), (b"PASS x", (230,)),
                        (b"TYPE I", (200,))):
        ctl.sendall(line + b"\r\n")
        _expect(f, codes)


def _quit(ctl, f):
    ctl.sendall(b"QUIT\r\n")
    _expect(f, (221,))


def _fetch_loop(port, names, barrier, results):
    """One client process: log in, fetch every name, QUIT; (sizes, error)."""
    measure.pin_clients()
    names = [n.encode() for n in names]
    buf, sizes = bytearray(SMALL_READ), []
    barrier.wait()
    try:
        with _socket(port) as ctl:
            f = ctl.makefile("rb")
            _anonymous_login(ctl, f)
            sizes = [_retr(ctl, f, n, lambda d: _recv_all(d, buf)) for n in names]
            _quit(ctl, f)
        results.put((sizes, None))
    except (OSError, ValueError, IndexError, BenchError) as e:
        results.put((sizes, repr(e)))


def small_files(srv, sessions, names, size):
    """`sessions` client processes at once, each logged in once and fetching every
    name over its control connection (EPSV and RETR per file, as curl does)."""
    COMMANDS["small files"] = [f"python3 socket clients x{sessions}: USER anonymous, "
                               f"TYPE I, then EPSV + RETR for each of {len(names)} files"]
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(sessions + 1), ctx.Queue()
    procs = [ctx.Process(target=_fetch_loop, args=(srv.port, names, barrier, results))
             for _ in range(sessions)]
    for p in procs:
        p.start()
    with measure.Sample(srv.proc.pid) as s:
        barrier.wait()
        got = [results.get(timeout=CURL_TIMEOUT) for _ in procs]
        for p in procs:
            p.join()
    whole = sum(sizes.count(size) for sizes, _ in got)
    errors = sorted({e for _, e in got if e})
    if errors or whole != sessions * len(names):
        raise BenchError(f"small files from {srv.kind}: {whole} of {sessions * len(names)} "
                         "files whole; " + "; ".join(errors[:3]))
    return Result(sessions * len(names), s)


# --- large downloads --------------------------------------------------------------
# curl spent 83-88 % of its core receiving 1 GiB at about 2.9 GB/s, for both servers:
# it copies every byte into user space and writes it to /dev/null in 16 KiB pieces, so
# the row measured curl as much as the servers. This client moves the data socket's
# pages into a pipe and from the pipe into /dev/null with splice(2): the payload is never
# copied to user space, and the client used about half of its core at 4 GB/s.
DRAIN_PIPE = 1 << 20  # pipe size, bytes per splice at most; /proc/sys/fs/pipe-max-size


def _splice_all(data):
    """Bytes read from the data socket until EOF, thrown away by splice(2)."""
    r, w = os.pipe()
    try:
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, DRAIN_PIPE)
        with open(os.devnull, "wb", buffering=0) as null:
            got = 0
            while n := os.splice(data.fileno(), w, DRAIN_PIPE):
                got += n
                while n:
                    n -= os.splice(r, null.fileno(), n)
            return got
    finally:
        os.close(r)
        os.close(w)


def splice_download(srv, path):
    """Anonymous login, TYPE I, EPSV and RETR of path; returns the bytes received."""
    COMMANDS["download"] = ["python3 socket client: USER anonymous, TYPE I, EPSV, RETR",
                            path, "(each reply checked); data: os.splice into a pipe, then "
                            f"into /dev/null, {DRAIN_PIPE >> 10} KiB at a time"]
    try:
        with _socket(srv.port) as ctl:
            f = ctl.makefile("rb")
            _anonymous_login(ctl, f)
            got = _retr(ctl, f, path.encode(), _splice_all)
            _quit(ctl, f)
            return got
    except (OSError, ValueError, IndexError) as e:
        raise BenchError(f"download from {srv.kind}: {e!r}") from None


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
