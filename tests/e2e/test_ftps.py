# SPDX-License-Identifier: GPL-2.0-or-later
"""FTPS (RFC 4217): explicit (AUTH TLS) and implicit TLS with ftplib, curl and lftp;
forced encryption, data-session reuse, ALPN and SNI checks, close_notify, TLS 1.3 uploads.

One server per configuration, shared by the tests of this file (module fixtures), and one
throwaway self-signed certificate for all of them."""

import ftplib
import hashlib
import io
import os
import random
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile

import pytest

import harness
from clients import curl, lftp
from conftest import BASE_OPTIONS, is_vsftpd
from harness import Control, code

DATA = b"".join(harness.pattern_chunks(300_000, chunk=10_000))
REUSE_TEXT = re.compile(r"reuse|resum", re.I)
# A refused handshake shows up as an alert, a reset or an EOF, depending on timing.
HANDSHAKE_REFUSED = (ssl.SSLError, ConnectionResetError, BrokenPipeError)


# --- fixtures ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def module_dir(env):
    path = tempfile.mkdtemp(dir=env.workdir, prefix="ftps-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def cert(module_dir):
    """(cert_path, key_path): CN=localhost, SAN DNS:localhost, IP:127.0.0.1."""
    return harness.self_signed_cert(os.path.join(module_dir, "tls"))


def start_server(module_dir, env, cert, **options):
    opts = dict(BASE_OPTIONS, ftp_username=env.ftp.name, ssl_enable=True,
                rsa_cert_file=cert[0], rsa_private_key_file=cert[1])
    opts.update(options)
    return harness.Server(module_dir, opts).start()


@pytest.fixture(scope="module")
def srv(module_dir, env, cert):
    """ssl_enable=YES and nothing else: the forcing and reuse defaults apply
    (force_local_logins_ssl, force_local_data_ssl, require_ssl_reuse YES;
    allow_anon_ssl, force_anon_* NO)."""
    s = start_server(module_dir, env, cert)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def srv_relaxed(module_dir, env, cert):
    """Reuse not required, cleartext data allowed for local users, anonymous only
    over TLS."""
    s = start_server(module_dir, env, cert, require_ssl_reuse=False,
                     force_local_data_ssl=False, allow_anon_ssl=True,
                     force_anon_logins_ssl=True, force_anon_data_ssl=True)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def srv_implicit(module_dir, env, cert):
    """implicit_ssl=YES: the listening port itself speaks implicit TLS."""
    s = start_server(module_dir, env, cert, implicit_ssl=True)
    assert s.implicit_port
    yield s
    s.stop()


@pytest.fixture(scope="module")
def srv_sni(module_dir, env, cert):
    """Two servers with ssl_sni_hostname: (explicit, implicit)."""
    servers = [start_server(module_dir, env, cert, implicit_ssl=imp,
                            ssl_sni_hostname="ftp.example.test") for imp in (False, True)]
    yield servers
    for s in servers:
        s.stop()


@pytest.fixture
def ws(env):
    """A fresh directory (name, path) in alice's home, owned by her."""
    name, path = harness.user_workspace(env.alice, "ftps-")
    yield name, path
    shutil.rmtree(path, ignore_errors=True)


put_file = harness.put_file


read = harness.read_file


# --- clients ----------------------------------------------------------------------
def tls_ctx(cert, **kw):
    return harness.tls_client_context(cafile=cert[0], **kw)


class FTPS(ftplib.FTP_TLS):
    """ftplib.FTP_TLS that resumes the control connection's TLS session on data
    connections (as FileZilla does; ftplib by default does not) and can speak implicit
    FTPS (TLS before the greeting)."""

    def __init__(self, context, resume=True, implicit=False, timeout=15):
        super().__init__(context=context, timeout=timeout)
        self.resume = resume
        self.implicit = implicit

    def connect(self, host, port, server_hostname=None):
        if not self.implicit:
            return super().connect(host, port)
        self.host, self.port = host, port
        raw = socket.create_connection((host, port), self.timeout)
        self.af = raw.family
        self.sock = self.context.wrap_socket(raw, server_hostname=server_hostname)
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            # TLS 1.3 tickets come after the handshake: by now replies have been read,
            # so self.sock.session holds one.
            session = self.sock.session if self.resume else None
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=session)
        return conn, size


def ftps_connect(srv, cert, implicit=False, resume=True, **ctx_kw):
    ftp = FTPS(tls_ctx(cert, **ctx_kw), resume=resume, implicit=implicit)
    if implicit:
        ftp.connect("127.0.0.1", srv.implicit_port)
    else:
        ftp.connect(*srv.address())
        assert code(ftp.auth()) == 234
    return ftp


def ftps_login(srv, cert, user, implicit=False, resume=True, **ctx_kw):
    """Logged in over TLS, PBSZ 0 and PROT P done."""
    ftp = ftps_connect(srv, cert, implicit, resume, **ctx_kw)
    ftp.login(user.name, user.password)
    assert ftp.prot_p().startswith("200")
    return ftp


def retr(ftp, name, rest=None):
    out = io.BytesIO()
    ftp.retrbinary("RETR " + name, out.write, rest=rest)
    return out.getvalue()


def tls_control(srv, cert, **ctx_kw):
    """Control connection after AUTH TLS and the handshake."""
    c = Control(*srv.address())
    assert c.reply()[0] == 220
    assert c.cmd("AUTH TLS")[0] == 234
    c.start_tls(tls_ctx(cert, **ctx_kw))
    return c


# vsftpd fails curl's TLS 1.3 uploads at random (test_tls13_uploads_curl): against it,
# the other curl tests check themselves over TLS 1.2.
CURL_VSFTPD = ["--tls-max", "1.2"] if is_vsftpd() else []


def curl_ftps(srv, cert, user, path, *args, implicit=False, check=True, vsftpd_tls12=True):
    tls = ["--cacert", cert[0]] + ([] if implicit else ["--ssl-reqd"])
    tls += CURL_VSFTPD if vsftpd_tls12 else []
    return curl(srv, user, path, *tls, *args, implicit=implicit, check=check)


def quit_cleanly(ftp):
    try:
        ftp.quit()
    except (OSError, EOFError, ftplib.Error):
        pass


# --- explicit FTPS: the protocol ----------------------------------------------------
def test_feat_lists_auth_tls_pbsz_prot(srv):
    with Control(*srv.address()) as c:
        c.reply()
        got, lines = c.cmd("FEAT")
        assert got == 211
        features = {l.strip().upper() for l in lines[1:-1]}
        assert {"AUTH TLS", "PBSZ", "PROT"} <= features


def test_pbsz_prot_without_tls_503(srv):
    with Control(*srv.address()) as c:
        c.reply()
        assert c.cmd("PBSZ 0")[0] == 503
        assert c.cmd("PROT P")[0] == 503
        assert c.cmd("PROT C")[0] == 503
        assert c.cmd("FEAT")[0] == 211  # before login vsftpd allows FEAT, not NOOP


@pytest.mark.parametrize("auth", ["AUTH TLS", "AUTH SSL", "auth tls"])
def test_auth_pbsz_prot(srv, cert, auth):
    with Control(*srv.address()) as c:
        c.reply()
        assert c.cmd(auth)[0] == 234
        tls = c.start_tls(tls_ctx(cert))
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        assert c.cmd("PBSZ 0")[0] == 200
        assert c.cmd("PROT P")[0] == 200
        assert c.cmd("PROT C")[0] == 200
        assert 500 <= c.cmd("PROT X")[0] < 600
        assert c.cmd("FEAT")[0] == 211


def test_auth_unknown_mechanism_refused(srv):
    with Control(*srv.address()) as c:
        c.reply()
        assert 500 <= c.cmd("AUTH KERBEROS_V4")[0] < 600
        assert c.cmd("FEAT")[0] == 211  # still cleartext, still talking


# vsftpd accepts PROT before PBSZ (200); RFC 4217 section 9 requires PBSZ first.
@pytest.mark.moatftpd_only
def test_prot_before_pbsz_503(srv, cert):
    with tls_control(srv, cert) as c:
        assert c.cmd("PROT P")[0] == 503
        assert c.cmd("PBSZ 0")[0] == 200
        assert c.cmd("PROT P")[0] == 200


def test_ccc_refused(srv, cert, env):
    with tls_control(srv, cert) as c:
        assert c.login(env.alice.name, env.alice.password) == 230
        assert 500 <= c.cmd("CCC")[0] < 600
        assert c.cmd("NOOP")[0] == 200  # still inside TLS
        assert c.cmd("PWD")[0] == 257


# --- forced encryption --------------------------------------------------------------
def test_plaintext_local_login_refused(srv, env):
    with Control(*srv.address()) as c:
        c.reply()
        got, lines = c.cmd("USER " + env.alice.name)
        assert (got, lines) == (530, ["530 Non-anonymous sessions must use encryption."])


def test_plaintext_login_refused_curl_lftp(srv, env):
    r = curl(srv, env.alice, "/", check=False)
    assert r.returncode != 0
    r = lftp(srv, env.alice, "ls", check=False)
    assert r.returncode != 0
    assert b"Non-anonymous sessions must use encryption" in r.stderr + r.stdout


def test_anonymous_plaintext_allowed_tls_refused(srv, cert):
    with Control(*srv.address()) as c:  # allow_anon_ssl=NO, force_anon_logins_ssl=NO
        c.reply()
        assert c.login("anonymous", "e2e@example.org") == 230
    with tls_control(srv, cert) as c:
        got, lines = c.cmd("USER anonymous")
        assert got == 530, lines


def test_cleartext_data_refused_522(srv, cert, env):
    ftp = ftps_login(srv, cert, env.alice)
    assert ftp.prot_c().startswith("200")
    with pytest.raises(ftplib.error_perm) as exc:
        ftp.nlst()
    assert str(exc.value).startswith("522")
    assert ftp.voidcmd("NOOP").startswith("200")
    quit_cleanly(ftp)


def test_relaxed_local_cleartext_data_allowed(srv_relaxed, cert, env):
    ftp = ftps_login(srv_relaxed, cert, env.alice)
    assert ftp.prot_c().startswith("200")
    assert "notes.txt" in ftp.nlst()
    quit_cleanly(ftp)


def test_forced_anonymous(srv_relaxed, cert, env):
    """force_anon_logins_ssl and force_anon_data_ssl with allow_anon_ssl=YES."""
    with Control(*srv_relaxed.address()) as c:
        c.reply()
        got, lines = c.cmd("USER anonymous")
        assert got == 530, lines
    ftp = ftps_connect(srv_relaxed, cert)
    assert ftp.login("anonymous", "e2e@example.org").startswith("230")
    assert ftp.prot_p().startswith("200")
    assert retr(ftp, "pub/hello.txt") == b"line one\nline two\nline three\n"
    assert ftp.prot_c().startswith("200")
    with pytest.raises(ftplib.error_perm) as exc:
        ftp.nlst("pub")
    assert str(exc.value).startswith("522")
    quit_cleanly(ftp)


# --- data-connection session reuse --------------------------------------------------
def attempt_unresumed_list(ftp):
    """LIST on a data connection that does not resume the control session: the final
    reply (the refusal, or 226 if accepted) and the listing received."""
    lines = []
    try:
        conn, _ = ftp.ntransfercmd("LIST")
        with conn:
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
            lines = data.decode().splitlines()
            conn.unwrap()
    except OSError:  # handshake refused, reset, or EOF without close_notify
        pass
    except ftplib.Error as e:  # refused instead of 150
        return str(e), lines
    try:
        return ftp.getmultiline(), lines
    except ftplib.Error as e:
        return str(e), lines


def test_unresumed_data_session_refused(srv, cert, env):
    ftp = ftps_login(srv, cert, env.alice, resume=False)
    reply, lines = attempt_unresumed_list(ftp)
    assert code(reply) in (522, 425), reply
    assert REUSE_TEXT.search(reply), reply
    assert lines == []
    quit_cleanly(ftp)


# vsftpd ends the whole session after refusing the data connection.
@pytest.mark.moatftpd_only
def test_control_survives_unresumed_refusal(srv, cert, env):
    ftp = ftps_login(srv, cert, env.alice, resume=False)
    reply, _ = attempt_unresumed_list(ftp)
    assert code(reply) in (522, 425), reply
    assert ftp.voidcmd("NOOP").startswith("200")
    ftp.resume = True
    assert any(l.endswith(" notes.txt") for l in list_lines(ftp))
    quit_cleanly(ftp)


def test_unresumed_data_session_allowed_without_require(srv_relaxed, cert, env):
    ftp = ftps_login(srv_relaxed, cert, env.alice, resume=False)
    reply, lines = attempt_unresumed_list(ftp)
    assert code(reply) == 226, reply
    assert any(l.endswith(" notes.txt") for l in lines)
    quit_cleanly(ftp)


def list_lines(ftp):
    lines = []
    ftp.retrlines("LIST", lines.append)
    return lines


def test_curl_no_sessionid(srv, srv_relaxed, cert, env):
    r = curl_ftps(srv, cert, env.alice, "/notes.txt", "--no-sessionid", check=False)
    assert r.returncode != 0 and r.stdout == b"", r.stderr
    r = curl_ftps(srv, cert, env.alice, "/notes.txt", check=False)
    assert r.returncode == 0 and r.stdout == b"alice's notes\n", r.stderr
    r = curl_ftps(srv_relaxed, cert, env.alice, "/notes.txt", "--no-sessionid")
    assert r.stdout == b"alice's notes\n"


def test_lftp_copy_sid(srv, srv_relaxed, env, tmp_path):
    """ftp:ssl-copy-sid no: lftp's data connections do not resume the control session.
    (get, not cat: lftp's cat hangs when vsftpd drops the session after the refusal.)"""
    got = tmp_path / "n.txt"
    script = "set ftp:ssl-copy-sid no; get notes.txt -o n.txt"
    r = lftp(srv, env.alice, script, tls=True, check=False, cwd=tmp_path)
    assert r.returncode != 0 and not got.exists()
    assert re.search(rb"522|425", r.stderr), r.stderr
    lftp(srv, env.alice, "get notes.txt -o n.txt", tls=True, cwd=tmp_path)
    assert got.read_bytes() == b"alice's notes\n"
    got.unlink()
    lftp(srv_relaxed, env.alice, script, tls=True, cwd=tmp_path)
    assert got.read_bytes() == b"alice's notes\n"


# --- the clients: log in, list, upload, download, resume ----------------------------
MODES = ["explicit", "implicit"]


def server_for(mode, srv, srv_implicit):
    return srv_implicit if mode == "implicit" else srv


@pytest.mark.parametrize("mode", MODES)
def test_ftplib(mode, srv, srv_implicit, cert, env, ws):
    s = server_for(mode, srv, srv_implicit)
    ftp = ftps_login(s, cert, env.alice, implicit=(mode == "implicit"))
    assert isinstance(ftp.sock, ssl.SSLSocket)
    ftp.cwd(ws[0])
    assert ftp.storbinary("STOR up.bin", io.BytesIO(DATA)).startswith("226")
    assert read(os.path.join(ws[1], "up.bin")) == DATA
    assert any(l.endswith(" up.bin") for l in list_lines(ftp))
    assert ftp.nlst() == ["up.bin"]
    assert retr(ftp, "up.bin") == DATA
    assert retr(ftp, "up.bin", rest=123_457) == DATA[123_457:]
    put_file(os.path.join(ws[1], "part.bin"), DATA[:100_000], env.alice)
    ftp.storbinary("STOR part.bin", io.BytesIO(DATA[100_000:]), rest=100_000)
    assert read(os.path.join(ws[1], "part.bin")) == DATA
    quit_cleanly(ftp)


@pytest.mark.parametrize("mode", MODES)
def test_curl(mode, srv, srv_implicit, cert, env, ws, tmp_path):
    s = server_for(mode, srv, srv_implicit)
    imp = mode == "implicit"
    w = ws[0]
    src = tmp_path / "src.bin"
    src.write_bytes(DATA)
    curl_ftps(s, cert, env.alice, f"/{w}/up.bin", "-T", str(src), implicit=imp)
    assert read(os.path.join(ws[1], "up.bin")) == DATA
    listing = curl_ftps(s, cert, env.alice, f"/{w}/", implicit=imp).stdout.decode()
    assert listing.splitlines()[0].endswith(" up.bin")
    names = curl_ftps(s, cert, env.alice, f"/{w}/", "--list-only", implicit=imp).stdout
    assert names.split() == [b"up.bin"]
    dst = tmp_path / "dst.bin"
    curl_ftps(s, cert, env.alice, f"/{w}/up.bin", "-o", str(dst), implicit=imp)
    assert dst.read_bytes() == DATA
    dst.write_bytes(DATA[:50_000])
    curl_ftps(s, cert, env.alice, f"/{w}/up.bin", "-C", "-", "-o", str(dst), implicit=imp)
    assert dst.read_bytes() == DATA
    put_file(os.path.join(ws[1], "u.bin"), DATA[:70_000], env.alice)
    src.rename(tmp_path / "u.bin")
    curl_ftps(s, cert, env.alice, f"/{w}/u.bin", "-C", "-", "-T", str(tmp_path / "u.bin"),
              implicit=imp)
    assert read(os.path.join(ws[1], "u.bin")) == DATA


@pytest.mark.parametrize("mode", MODES)
def test_lftp(mode, srv, srv_implicit, env, ws, tmp_path):
    s = server_for(mode, srv, srv_implicit)
    imp = mode == "implicit"
    (tmp_path / "p.bin").write_bytes(DATA)
    (tmp_path / "u.bin").write_bytes(DATA)
    (tmp_path / "r.bin").write_bytes(DATA[:123_456])
    put_file(os.path.join(ws[1], "u.bin"), DATA[:99_999], env.alice)
    script = (f"cd {ws[0]}; put p.bin; cls -1; get p.bin -o got.bin; "
              "put -c u.bin; get -c p.bin -o r.bin")
    r = lftp(s, env.alice, script, tls=True, implicit=imp, cwd=tmp_path)
    assert "p.bin" in r.stdout.decode().split()
    assert read(os.path.join(ws[1], "p.bin")) == DATA
    assert (tmp_path / "got.bin").read_bytes() == DATA
    assert read(os.path.join(ws[1], "u.bin")) == DATA
    assert (tmp_path / "r.bin").read_bytes() == DATA
    r = lftp(s, env.alice, "debug 5; cls -1 /", tls=True, implicit=imp, cwd=tmp_path)
    log = r.stderr.decode()
    if not imp:
        assert "AUTH TLS" in log and "234" in log
    assert "PROT P" in log


def test_implicit_no_cleartext(srv_implicit):
    """The implicit listener speaks TLS first: a cleartext client gets no greeting."""
    with socket.create_connection(("127.0.0.1", srv_implicit.implicit_port), 10) as s:
        s.settimeout(3)
        s.sendall(b"USER anonymous\r\n")
        try:
            data = s.recv(100)
        except (socket.timeout, ConnectionResetError):
            data = b""
        assert not data.startswith(b"220")
        assert not data.startswith(b"331")


def test_implicit_ssl_makes_listen_port_implicit(srv_implicit, cert, env):
    """vsftpd's meaning: with implicit_ssl=YES listen_port itself is implicit (no
    plaintext listener anywhere), and AUTH TLS inside TLS is refused."""
    assert srv_implicit.implicit_port == srv_implicit.port
    assert not re.search(r"listening on .* port \d+$", srv_implicit.stderr_text(), re.M)
    with Control(*srv_implicit.address()) as c:
        c.start_tls(tls_ctx(cert))
        assert c.reply()[0] == 220
        assert 500 <= c.cmd("AUTH TLS")[0] < 600  # already inside TLS
        assert c.login(env.alice.name, env.alice.password) == 230


# --- ALPN and SNI (ALPACA, CVE-2021-3618) -------------------------------------------
def explicit_handshake(srv, cert, server_hostname=None, **ctx_kw):
    c = Control(*srv.address())
    assert c.reply()[0] == 220
    assert c.cmd("AUTH TLS")[0] == 234  # the server is up and willing
    try:
        c.start_tls(tls_ctx(cert, **ctx_kw), server_hostname=server_hostname)
        got = c.cmd("FEAT")[0]
    except HANDSHAKE_REFUSED:
        got = None
    c.close()
    return got


def implicit_handshake(srv, cert, server_hostname=None, **ctx_kw):
    c = Control("127.0.0.1", srv.implicit_port)
    try:
        c.start_tls(tls_ctx(cert, **ctx_kw), server_hostname=server_hostname)
        got = c.reply()[0]
    except HANDSHAKE_REFUSED:
        got = None
    c.close()
    return got


@pytest.mark.moatftpd_only
def test_alpn(srv, srv_implicit, cert):
    for handshake, s, ok in ((explicit_handshake, srv, 211),
                             (implicit_handshake, srv_implicit, 220)):
        assert handshake(s, cert, alpn=["http/1.1"]) is None
        assert handshake(s, cert, alpn=["http/1.1", "h2"]) is None
        assert handshake(s, cert, alpn=["ftp"]) == ok
        assert handshake(s, cert, alpn=["http/1.1", "ftp"]) == ok
        assert handshake(s, cert) == ok


@pytest.mark.moatftpd_only
def test_alpn_selected_ftp(srv, cert):
    with tls_control(srv, cert, alpn=["ftp"]) as c:
        assert c.sock.selected_alpn_protocol() == "ftp"
        assert c.cmd("FEAT")[0] == 211


@pytest.mark.moatftpd_only
def test_sni(srv_sni, cert):
    for handshake, s, ok in zip((explicit_handshake, implicit_handshake), srv_sni, (211, 220)):
        assert handshake(s, cert, server_hostname="wrong.example.test") is None
        assert handshake(s, cert, server_hostname="ftp.example.test") == ok
        assert handshake(s, cert, server_hostname=None) == ok


@pytest.mark.moatftpd_only
def test_sni_not_checked_when_unset(srv, cert):
    assert explicit_handshake(srv, cert, server_hostname="anything.example.test") == 211


# --- TLS 1.3 suite ------------------------------------------------------------------
@pytest.mark.moatftpd_only  # ssl_ciphersuites is moatftpd's; vsftpd takes OpenSSL's order
def test_tls13_suite_is_the_servers_choice(srv, module_dir, env, cert):
    """Python's client lists AES-256-GCM first, as OpenSSL's default does: the server's
    order wins, AES-128-GCM by default (control and data), or what the operator sets."""
    ftp = ftps_login(srv, cert, env.alice, tls13=True)
    assert ftp.sock.cipher()[0] == "TLS_AES_128_GCM_SHA256"
    with ftp.transfercmd("LIST") as data:
        assert data.cipher()[0] == "TLS_AES_128_GCM_SHA256"
        while data.recv(4096):
            pass
    assert ftp.voidresp().startswith("226")
    quit_cleanly(ftp)
    custom = start_server(module_dir, env, cert, ssl_ciphersuites="TLS_AES_256_GCM_SHA384")
    try:
        with tls_control(custom, cert, tls13=True) as c:
            assert c.sock.cipher()[0] == "TLS_AES_256_GCM_SHA384"
    finally:
        custom.stop()


# --- close_notify -------------------------------------------------------------------
@pytest.mark.moatftpd_only  # vsftpd 3.0.3 closes a logged-in session without close_notify
def test_quit_ends_with_close_notify(srv, cert, env):
    for tls13 in (True, False):
        c = tls_control(srv, cert, tls13=tls13)
        assert c.login(env.alice.name, env.alice.password) == 230
        assert c.cmd("QUIT")[0] == 221
        # Strict context: an EOF without close_notify raises SSLEOFError here.
        assert c.sock.recv(100) == b""
        c.close()


def test_download_ends_with_close_notify(srv, cert, env, ws):
    put_file(os.path.join(ws[1], "d.bin"), DATA, env.alice)
    for tls13 in (True, False):
        ftp = ftps_login(srv, cert, env.alice, tls13=tls13)
        ftp.cwd(ws[0])
        ftp.voidcmd("TYPE I")
        conn, _ = ftp.ntransfercmd("RETR d.bin")
        got = b""
        while chunk := conn.recv(65536):  # SSLEOFError if no close_notify
            got += chunk
        conn.close()
        assert got == DATA
        assert ftp.voidresp().startswith("226")
        quit_cleanly(ftp)


def test_upload_gets_close_notify_back(srv, cert, env, ws):
    """ftplib's storbinary sends close_notify and waits for the server's (unwrap)."""
    for tls13 in (True, False):
        ftp = ftps_login(srv, cert, env.alice, tls13=tls13)
        ftp.cwd(ws[0])
        assert ftp.storbinary("STOR up.bin", io.BytesIO(DATA)).startswith("226")
        assert read(os.path.join(ws[1], "up.bin")) == DATA
        quit_cleanly(ftp)


# --- TLS 1.3 uploads ----------------------------------------------------------------
UPLOADS = 30
VSFTPD_426 = ("vsftpd 3.0.3 answers '426 Failure reading network stream.' to many "
              "TLS 1.3 uploads (curl and lftp; typically 5-11 of 30, sometimes none)")


def random_files(directory, count, seed):
    rng = random.Random(seed)
    files = []
    for i in range(count):
        data = rng.randbytes(rng.randint(1 << 20, 3 << 20))
        path = os.path.join(directory, f"f{i:02d}.bin")
        with open(path, "wb") as f:
            f.write(data)
        files.append((f"f{i:02d}.bin", hashlib.sha256(data).hexdigest()))
    return files


def landed_wrong(ws, files):
    wrong = []
    for name, digest in files:
        path = os.path.join(ws[1], name)
        if not os.path.exists(path) or harness.sha256_file(path) != digest:
            wrong.append(name)
    return wrong


@pytest.mark.xfail(is_vsftpd(), reason=VSFTPD_426, strict=False)
def test_tls13_uploads_curl(srv, cert, env, ws, tmp_path):
    files = random_files(tmp_path, UPLOADS, seed=13)
    failed = []
    for name, _ in files:
        r = curl_ftps(srv, cert, env.alice, f"/{ws[0]}/{name}", "--tlsv1.3",
                      "-T", str(tmp_path / name), check=False, vsftpd_tls12=False)
        if r.returncode != 0:
            failed.append(f"{name}: {r.stderr.decode().strip()}")
    wrong = landed_wrong(ws, files)
    assert not failed and not wrong, (f"{len(failed)}/{UPLOADS} curl uploads failed: "
                                      f"{failed[:3]}; wrong or missing: {wrong}")


@pytest.mark.xfail(is_vsftpd(), reason=VSFTPD_426, strict=False)
def test_tls13_uploads_lftp(srv, env, ws, tmp_path):
    files = random_files(tmp_path, UPLOADS, seed=31)
    puts = "; ".join(f"put {name}" for name, _ in files)
    r = lftp(srv, env.alice, f'set ssl:priority "NORMAL:-VERS-ALL:+VERS-TLS1.3"; '
             f"set cmd:fail-exit no; set net:max-retries 1; debug 3; cd {ws[0]}; {puts}",
             tls=True, cwd=tmp_path, check=False)
    log = r.stderr.decode()
    wrong = landed_wrong(ws, files)
    failures = [l for l in log.splitlines() if re.search(r"<--- 4[0-9][0-9] ", l)]
    assert not wrong and not failures, (f"wrong or missing: {wrong}; {len(failures)} "
                                        f"4xx replies in {UPLOADS} puts: {failures[:3]}")


# --- certificate --------------------------------------------------------------------
def test_missing_certificate_refuses_to_start(module_dir, env, cert):
    missing = os.path.join(module_dir, "no-such-cert.pem")
    s = harness.Server(module_dir, dict(BASE_OPTIONS, ftp_username=env.ftp.name,
                                        ssl_enable=True, rsa_cert_file=missing,
                                        rsa_private_key_file=cert[1]))
    with pytest.raises(harness.HarnessError) as exc:
        s.start(timeout=5)
    s.stop()
    if not is_vsftpd():  # vsftpd exits (status 2) without a word
        assert missing in str(exc.value)


@pytest.mark.moatftpd_only
def test_config_check_names_missing_certificate(module_dir, cert):
    missing = os.path.join(module_dir, "no-such-cert.pem")
    s = harness.Server(module_dir, {"ssl_enable": True, "rsa_cert_file": missing,
                                    "rsa_private_key_file": cert[1]})
    r = subprocess.run([s.binary, "-t", s.write_config()], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode != 0
    assert missing in r.stderr
