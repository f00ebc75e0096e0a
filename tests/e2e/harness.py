# SPDX-License-Identifier: GPL-2.0-or-later
"""End-to-end harness: temporary users in a private /etc and a real server on port 0.

Everything here must run inside tests/e2e/nsrun (private mount, network and pid
namespaces): the bind mounts over /etc and the tmpfs work directory then vanish with
the namespace, and so does every process a test starts.  Imported by the pytest files
in this directory and by tests/bench.

API (kept stable for tests/bench):
    private_workdir()                 tmpfs-backed 0755 directory, private to the namespace
    FakeEtc(tmpdir)                   add_user(), add_pam_service(), add_file(),
                                      remove_file(), close()
    Server(tmpdir, options, binary=None, server=None)
                                      start(), stop(), reload(), terminate(), port, port6,
                                      config_path, pids(), connect(ipv6=False)
    raw_cmd(ftp, line)                send one command, return the reply text, never raise
    Control(host, port)               raw control connection for pipelining tests
                                      (.start_tls() for FTPS)
    self_signed_cert(dir)             throwaway certificate + key for ssl_enable
    tls_client_context()              strict client SSLContext for FTPS tests
    proc_* helpers                    read /proc for the process-model tests
"""

import ftplib
import grp
import hashlib
import os
import secrets
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

DEFAULT_PAM_SERVICE = "moatftpd-test"
DEFAULT_PAM_TEXT = (
    "# PAM service for the moatftpd end-to-end tests (private mount namespace only).\n"
    "auth     required pam_unix.so nodelay\n"
    "account  required pam_unix.so\n"
    "session  required pam_permit.so\n"
)
# Where tests/run-suite.sh and `make bench` unpack Debian's vsftpd (tests/fetch-vsftpd.sh).
VSFTPD_DEFAULT_BINARY = os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "bench", "vsftpd",
    "root", "usr", "sbin", "vsftpd"))
READY_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
LISTEN_RE = re.compile(r"^moatftpd: listening on (\S+) port (\d+)( \(implicit TLS\))?$")
ETC_FILES = ("passwd", "shadow", "group", "gshadow")


class HarnessError(RuntimeError):
    """A test environment problem (not a server bug): setup could not be done."""


def in_private_namespace():
    return os.getpid() == 1 or os.environ.get("MOAT_NSRUN") == "1"


def require_private_namespace():
    if not in_private_namespace():
        raise HarnessError(
            "refusing to touch /etc outside a private mount namespace: "
            "run under tests/e2e/nsrun (it sets MOAT_NSRUN=1)")


def server_kind():
    """Which server the suite runs against: env MOAT_E2E_SERVER, default moatftpd."""
    return os.environ.get("MOAT_E2E_SERVER", "moatftpd")


def default_binary(kind=None):
    kind = kind or server_kind()
    if kind == "vsftpd":
        return os.environ.get("MOAT_VSFTPD", VSFTPD_DEFAULT_BINARY)
    builddir = os.environ.get("MOAT_BUILDDIR")
    if not builddir:
        here = os.path.dirname(os.path.abspath(__file__))
        builddir = os.path.normpath(os.path.join(here, "..", ".."))
    return os.path.join(builddir, "moatftpd")


def _run(argv, **kw):
    return subprocess.run(argv, check=True, **kw)


WORK_MOUNT = os.path.join(tempfile.gettempdir(), "moat-e2e.d")


def private_workdir(prefix="moat-e2e-", size="6g"):
    """A fresh 0755 directory on a tmpfs that exists only in this mount namespace.

    Users' homes live here, so every parent is traversable by them (pytest's own tmp
    directories are 0700), and nothing written reaches the host: all namespaces mount
    their own tmpfs on the same (empty, reused) host directory."""
    require_private_namespace()
    os.makedirs(WORK_MOUNT, mode=0o755, exist_ok=True)
    if not os.path.ismount(WORK_MOUNT):
        _run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=" + size, "moat-e2e", WORK_MOUNT])
    path = tempfile.mkdtemp(prefix=prefix, dir=WORK_MOUNT)
    os.chmod(path, 0o755)
    return path


def release_workdir(path):
    shutil.rmtree(path, ignore_errors=True)


def make_dir(path, mode=0o755, uid=0, gid=0):
    os.makedirs(path, exist_ok=True)
    os.chown(path, uid, gid)
    os.chmod(path, mode)
    return path


def put_file(path, data, owner):
    """Writes data to path and gives it to owner (anything with uid and gid)."""
    with open(path, "wb") as f:
        f.write(data)
    os.chown(path, owner.uid, owner.gid)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def user_workspace(user, prefix):
    """A fresh directory (name, path) in user's home, owned by them."""
    name = prefix + secrets.token_hex(4)
    return name, make_dir(os.path.join(user.home, name), 0o755, user.uid, user.gid)


def _days_since_epoch():
    return int(time.time() // 86400)


def hash_password(password):
    """SHA-512 crypt via openssl; the password goes through stdin, never argv."""
    out = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password + "\n",
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


class FakeEtc:
    """Temp copies of passwd/shadow/group/gshadow and pam.d bind-mounted over /etc."""

    def __init__(self, tmpdir):
        require_private_namespace()
        self.dir = make_dir(os.path.join(tmpdir, "fake-etc"), 0o755)
        self.mounted = []
        for name in ETC_FILES:
            self._shadow_copy("/etc/" + name, os.path.join(self.dir, name))
        self.pam_dir = os.path.join(self.dir, "pam.d")
        shutil.copytree("/etc/pam.d", self.pam_dir, symlinks=True)
        self._bind(self.pam_dir, "/etc/pam.d")
        self.add_pam_service(DEFAULT_PAM_SERVICE, DEFAULT_PAM_TEXT)

    def _shadow_copy(self, original, copy):
        if not os.path.exists(original):
            return
        shutil.copy2(original, copy)
        st = os.stat(original)
        os.chown(copy, st.st_uid, st.st_gid)
        self._bind(copy, original)

    def _bind(self, src, dst):
        _run(["mount", "--bind", src, dst])
        self.mounted.append(dst)

    def _append(self, name, line):
        # In place: renaming over a bind-mounted file would break the mount.
        path = "/etc/" + name
        if not os.path.exists(path):
            return
        # The host replacing /etc/NAME (useradd renames a new file over it) silently
        # detaches our bind mount; writing then would change the host's file.
        if not os.path.samefile(path, os.path.join(self.dir, name)):
            raise HarnessError(f"{path} is no longer this test's copy (the host "
                               "replaced it while the test ran): not writing to it")
        with open(path, "a") as f:
            f.write(line + "\n")

    def _free_id(self, start=20000):
        uid = start
        while True:
            try:
                pwd.getpwuid(uid)
            except KeyError:
                try:
                    grp.getgrgid(uid)
                except KeyError:
                    return uid
            uid += 1

    def add_user(self, name, password, home, uid=None, shell="/bin/bash",
                 home_mode=0o755, home_owner_root=False):
        """Add a user (and a group of the same name); create home. Returns (uid, gid).

        password None locks the account (for the anonymous ftp_username account)."""
        for lookup in (pwd.getpwnam, grp.getgrnam):
            try:
                lookup(name)
                raise HarnessError(f"{name} already exists in /etc: pick another name")
            except KeyError:
                pass
        uid = self._free_id() if uid is None else uid
        gid = uid
        hashed = hash_password(password) if password is not None else "!"
        self._append("passwd", f"{name}:x:{uid}:{gid}:{name} (e2e):{home}:{shell}")
        self._append("shadow", f"{name}:{hashed}:{_days_since_epoch()}:0:99999:7:::")
        self._append("group", f"{name}:x:{gid}:")
        self._append("gshadow", f"{name}:!::")
        owner = (0, 0) if home_owner_root else (uid, gid)
        make_dir(home, home_mode, *owner)
        return uid, gid

    def add_pam_service(self, name, text):
        with open(os.path.join(self.pam_dir, name), "w") as f:
            f.write(text)

    def add_file(self, path, text):
        """Show `text` at an existing /etc file (hosts.allow, hosts.deny...) through a
        bind-mounted temp copy; again for the same path rewrites the copy in place.
        The host's file is never written; a path that does not exist cannot be
        shadowed (that would mean creating it on the host)."""
        require_private_namespace()
        copy = os.path.join(self.dir, "files", path.strip("/").replace("/", "%"))
        if path not in self.mounted:
            if not os.path.isfile(path):
                raise HarnessError(f"{path} does not exist on this host: cannot shadow it")
            os.makedirs(os.path.dirname(copy), exist_ok=True)
            shutil.copy2(path, copy)
            self._bind(copy, path)
        with open(copy, "w") as f:
            f.write(text)
        return path

    def remove_file(self, path):
        """Undo add_file: the host's own file shows again."""
        if path in self.mounted:
            subprocess.run(["umount", "-l", path], check=False)
            self.mounted.remove(path)

    def close(self):
        for dst in reversed(self.mounted):
            subprocess.run(["umount", "-l", dst], check=False)
        self.mounted = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _yesno(value):
    if value is True:
        return "YES"
    if value is False:
        return "NO"
    return str(value)


def _is_yes(value):
    return _yesno(value).upper() == "YES"


class Server:
    """One moatftpd (or vsftpd) process with its own config in tmpdir."""

    _counter = 0

    def __init__(self, tmpdir, options=None, binary=None, server=None, args=()):
        self.kind = server or server_kind()
        self.binary = binary or default_binary(self.kind)
        Server._counter += 1
        self.dir = make_dir(os.path.join(tmpdir, f"server{Server._counter}"), 0o755)
        self.secure_chroot_dir = make_dir(os.path.join(self.dir, "empty"), 0o755)
        self.options = self._default_options()
        self.options.update(options or {})
        self.args = list(args)
        self.config_path = os.path.join(self.dir, "ftpd.conf")
        self.stdout_path = os.path.join(self.dir, "stdout")
        self.proc = None
        self.port = None
        self.port6 = None
        self.implicit_port = None  # the listener when implicit_ssl=YES makes it implicit
        self._listeners_implicit = False
        self._vsftpd_port = None
        self._stderr_lines = []
        self._stderr_cond = threading.Condition()
        self._stderr_done = False

    def _default_options(self):
        return {
            "listen": True,
            "listen_address": "127.0.0.1",
            "listen_port": 0,
            "nopriv_user": "nobody",
            "secure_chroot_dir": self.secure_chroot_dir,
            "pam_service_name": DEFAULT_PAM_SERVICE,
            "xferlog_file": os.path.join(self.dir, "xferlog"),
            "vsftpd_log_file": os.path.join(self.dir, "vsftpd.log"),
        }

    # --- config ---------------------------------------------------------------
    def effective_options(self):
        opts = dict(self.options)
        if self.kind == "vsftpd":
            self._adapt_for_vsftpd(opts)
        return opts

    def _adapt_for_vsftpd(self, opts):
        # vsftpd cannot bind port 0 nor serve IPv4 and IPv6 from one process, and its
        # seccomp filter predates Debian 12's glibc.
        opts.pop("load_module", None)
        opts.pop("module_dir", None)
        opts.setdefault("seccomp_sandbox", False)
        if _is_yes(opts.get("listen", False)) and _is_yes(opts.get("listen_ipv6", False)):
            opts["listen"] = False
        if _is_yes(opts.get("listen_ipv6", False)) and not _is_yes(opts.get("listen", False)):
            opts.pop("listen_address", None)
        if int(opts.get("listen_port", 21)) == 0:
            if self._vsftpd_port is None:
                v4 = _is_yes(opts.get("listen", False))
                self._vsftpd_port = free_port() if v4 else free_port(socket.AF_INET6, "::1")
            opts["listen_port"] = self._vsftpd_port

    def write_config(self, extra_text=""):
        lines = [f"{k}={_yesno(v)}" for k, v in self.effective_options().items()]
        with open(self.config_path, "w") as f:
            f.write("# written by tests/e2e/harness.py\n" + "\n".join(lines) + "\n" + extra_text)
        return self.config_path

    def expected_listeners(self):
        opts = self.effective_options()
        return int(_is_yes(opts.get("listen", False))) + int(_is_yes(opts.get("listen_ipv6", False)))

    # --- life cycle -----------------------------------------------------------
    def start(self, timeout=READY_TIMEOUT):
        self.write_config()
        opts = self.effective_options()
        argv = [self.binary, self.config_path] + self.args
        self._stdout = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._stdout,
                                     stderr=subprocess.PIPE, start_new_session=True)
        threading.Thread(target=self._read_stderr, daemon=True).start()
        if self.kind == "vsftpd":
            self._wait_vsftpd_listening(opts, timeout)
        else:
            self._wait_listening_lines(timeout)
        self._find_implicit_listener(opts, timeout)
        return self

    def _find_implicit_listener(self, opts, timeout):
        """implicit_ssl=YES makes the listener itself implicit (both servers)."""
        if not _is_yes(opts.get("implicit_ssl", False)):
            return
        if self.kind != "vsftpd" and not self._listeners_implicit:
            self._fail_start("implicit_ssl=YES but no 'listening on ... (implicit TLS)' line")
        self.implicit_port = self.port if self.port is not None else self.port6

    def _read_stderr(self):
        for raw in iter(self.proc.stderr.readline, b""):
            with self._stderr_cond:
                self._stderr_lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._stderr_cond.notify_all()
        with self._stderr_cond:
            self._stderr_done = True
            self._stderr_cond.notify_all()

    def stderr_text(self):
        with self._stderr_cond:
            return "\n".join(self._stderr_lines)

    def wait_stderr(self, pattern, timeout=10.0):
        """Wait for a stderr line matching regex pattern; return the match or None."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._stderr_cond:
            while True:
                for line in self._stderr_lines:
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or self._stderr_done:
                    return None
                self._stderr_cond.wait(left)

    def _fail_start(self, why):
        stderr = self.stderr_text()
        self.stop()
        raise HarnessError(f"{self.kind} did not start: {why}\n--- stderr so far ---\n{stderr}")

    def _wait_listening_lines(self, timeout):
        want = self.expected_listeners()
        deadline = time.monotonic() + timeout
        with self._stderr_cond:
            while True:
                found = [LISTEN_RE.match(l) for l in self._stderr_lines]
                found = [m for m in found if m]
                if len(found) >= want:
                    break
                left = deadline - time.monotonic()
                if self._stderr_done or left <= 0:
                    break
                self._stderr_cond.wait(left)
        if len(found) < want:
            self._fail_start(f"expected {want} 'listening on' line(s), got {len(found)}"
                             f" (exit status {self.proc.poll()})")
        for m in found:
            if ":" in m.group(1):
                self.port6 = int(m.group(2))
            else:
                self.port = int(m.group(2))
        self._listeners_implicit = all(m.group(3) for m in found)

    def _wait_vsftpd_listening(self, opts, timeout):
        # vsftpd prints nothing when ready: watch /proc/net/tcp{,6} for its LISTEN socket.
        port = int(opts["listen_port"])
        v6 = not _is_yes(opts.get("listen", False))
        deadline = time.monotonic() + timeout
        while not tcp_listening(port, v6):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self._fail_start(f"port {port} not listening (exit status {self.proc.poll()})")
            time.sleep(0.01)
        if v6:
            self.port6 = port
        else:
            self.port = port

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)

    def terminate(self):
        self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, SIGKILL after timeout; then kill what is left of its sessions."""
        if self.proc is None:
            return None
        family = self.descendants()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid, comm in family:
            if proc_comm(pid) == comm:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._stdout.close()
        return self.proc.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- processes ------------------------------------------------------------
    def descendants(self):
        """[(pid, comm)] of every live process below the master (not the master)."""
        if self.proc is None:
            return []
        children = {}
        for pid in all_pids():
            st = proc_status(pid)
            if st and not st.get("State", "Z").startswith("Z"):
                children.setdefault(int(st.get("PPid", 0)), []).append(pid)
        out, todo = [], [self.proc.pid]
        while todo:
            for child in children.get(todo.pop(), []):
                out.append((child, proc_comm(child)))
                todo.append(child)
        return out

    def pids(self, comm=None, anywhere=False):
        """Live pids with that comm: below this master, or anywhere in the namespace."""
        if anywhere:
            return [p for p in all_pids() if proc_comm(p) == comm and not proc_zombie(p)]
        return [p for p, c in self.descendants() if comm is None or c == comm]

    # --- clients --------------------------------------------------------------
    def address(self, ipv6=False):
        return ("::1", self.port6) if ipv6 else ("127.0.0.1", self.port)

    def connect(self, ipv6=False, timeout=10):
        host, port = self.address(ipv6)
        ftp = ftplib.FTP(timeout=timeout)
        ftp.connect(host, port)
        return ftp

    def url(self, user=None, password=None, path="/", ipv6=False, scheme="ftp", port=None):
        """scheme "ftps" with port=self.implicit_port is implicit FTPS (curl, lftp)."""
        host, default_port = self.address(ipv6)
        port = default_port if port is None else port
        host = f"[{host}]" if ipv6 else host
        cred = f"{user}:{password}@" if user else ""
        return f"{scheme}://{cred}{host}:{port}{path}"

    def xferlog(self):
        path = self.options["xferlog_file"]
        return open(path).read() if os.path.exists(path) else ""


# --- control-connection helpers ---------------------------------------------------
def raw_cmd(ftp, line):
    """Send one command on an ftplib connection; return the whole reply, never raise."""
    ftp.putcmd(line)
    return ftp.getmultiline()


def code(reply):
    return int(reply[:3])


class Control:
    """A raw control connection: send exact bytes, read replies one at a time."""

    def __init__(self, host, port, timeout=10):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.file = self.sock.makefile("rb")

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def reply(self):
        """One reply, multi-line aware; returns (code, [lines]); (None, []) on EOF."""
        first = self.file.readline().decode(errors="replace").rstrip("\r\n")
        if not first:
            return None, []
        lines = [first]
        if first[3:4] == "-":
            end = first[:3] + " "
            while True:
                line = self.file.readline().decode(errors="replace").rstrip("\r\n")
                if not line:
                    break
                lines.append(line)
                if line.startswith(end):
                    break
        return int(first[:3]), lines

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def start_tls(self, context=None, server_hostname=None):
        """Handshake now (after AUTH TLS's 234, or at once for implicit FTPS); later
        send/reply/cmd go through TLS. Raises ssl.SSLError when the server refuses."""
        self.file.close()  # the socket itself stays open
        self.sock = (context or tls_client_context()).wrap_socket(
            self.sock, server_hostname=server_hostname)
        self.file = self.sock.makefile("rb")
        return self.sock

    def login(self, user, password):
        c, _ = self.cmd("USER " + user)
        if c == 331:
            c, _ = self.cmd("PASS " + password)
        return c

    def closed_by_peer(self, timeout=10):
        """True when the server closes the connection (EOF or reset) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(4096)
                if not data:
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.file.close()
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- TLS ---------------------------------------------------------------------------
def self_signed_cert(directory, cn="localhost"):
    """A throwaway self-signed RSA certificate and key (CN=localhost, SAN localhost and
    127.0.0.1) made with the openssl CLI. Returns (cert_path, key_path)."""
    os.makedirs(directory, exist_ok=True)
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
          "-subj", "/CN=" + cn, "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
          "-keyout", key, "-out", cert], capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


def tls_client_context(cafile=None, alpn=None, tls13=None):
    """A strict client context: an EOF without close_notify raises ssl.SSLEOFError.
    cafile verifies the chain (not the host name: SNI tests send other names);
    alpn is a list of protocols to offer; tls13 True/False pins TLS 1.3/1.2."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if cafile:
        ctx.load_verify_locations(cafile)
    else:
        ctx.verify_mode = ssl.CERT_NONE
    ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    if alpn is not None:
        ctx.set_alpn_protocols(alpn)
    if tls13 is not None:
        version = ssl.TLSVersion.TLSv1_3 if tls13 else ssl.TLSVersion.TLSv1_2
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


# --- deterministic big data -------------------------------------------------------
def pattern_chunks(size, chunk=1 << 20, seed=b"moatftpd"):
    """Deterministic pseudo-random bytes, yielded in chunks (never all in memory)."""
    base = b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest()
                    for i in range(chunk // 32 + 1))[:chunk]
    done, index = 0, 0
    while done < size:
        n = min(chunk, size - done)
        block = index.to_bytes(8, "big") + base[8:]
        yield block[:n]
        done += n
        index += 1


class PatternReader:
    """File-like reader over pattern_chunks, hashing what it hands out (for storbinary)."""

    def __init__(self, size, **kw):
        self._it = pattern_chunks(size, **kw)
        self._buf = b""
        self.sha256 = hashlib.sha256()

    def read(self, n=-1):
        while n < 0 or len(self._buf) < n:
            try:
                self._buf += next(self._it)
            except StopIteration:
                break
        n = len(self._buf) if n < 0 else n
        out, self._buf = self._buf[:n], self._buf[n:]
        self.sha256.update(out)
        return out


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- /proc ------------------------------------------------------------------------
def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def proc_comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def proc_status(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)
    except OSError:
        return {}


def proc_zombie(pid):
    return proc_status(pid).get("State", "Z").startswith("Z")


def proc_uids(pid):
    """(real, effective, saved, fs) uids."""
    return tuple(int(x) for x in proc_status(pid)["Uid"].split())


def proc_root(pid):
    return os.readlink(f"/proc/{pid}/root")


def unix_socket_inodes(sock_type):
    """Inodes of every AF_UNIX socket of that type (socket.SOCK_DGRAM, ...) in the
    namespace, from /proc/net/unix."""
    out = set()
    with open("/proc/net/unix") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if int(fields[4], 16) == sock_type:
                out.add(int(fields[6]))
    return out


def proc_socket_inodes(pid):
    out = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            m = re.match(r"socket:\[(\d+)\]", target)
            if m:
                out.add(int(m.group(1)))
    except OSError:
        pass
    return out


def _tcp_rows():
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    yield line.split()
        except OSError:
            continue


def _hex_port(addr):
    return int(addr.rsplit(":", 1)[1], 16)


def tcp_listening(port, v6=False):
    want = "/proc/net/tcp6" if v6 else "/proc/net/tcp"
    with open(want) as f:
        next(f)
        return any(_hex_port(r[1]) == port and r[3] == "0A" for r in (l.split() for l in f))


def tcp_inodes_for_port(port):
    """Socket inodes of TCP connections whose local or remote port is `port`."""
    return {int(r[9]) for r in _tcp_rows()
            if r[3] != "0A" and port in (_hex_port(r[1]), _hex_port(r[2]))}


def wait_for(predicate, timeout=10.0, interval=0.01):
    """Poll an observable state (a /proc entry, a file) until it holds; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
