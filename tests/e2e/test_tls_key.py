# SPDX-License-Identifier: GPL-2.0-or-later
"""The TLS private key never in a worker, ticket keys per session (issue 11, DESIGN
invariant 8).

The workers' SSL_CTX holds the certificate and a stand-in key whose signatures are
requests to the session helper, which has a child, the key holder, sign them. Proven
here by reading the memory of every process of a live session (/proc/PID/mem, as
root): the pre-login worker after its handshake, the TLS relay, the post-login worker
after a full data handshake, the helper and the master hold neither the key file's
text, nor its DER, nor any of its private numbers (big- or little-endian, as a BIGNUM
keeps them); the key holder does, which shows the scan finds what is there. Every
signature scheme TLS 1.2 and 1.3 use (RSA-PSS, RSA PKCS#1 v1.5, ECDSA with SHA-256,
-384, -512) is then driven through the helper with openssl s_client, and curl and
lftp work with an ECDSA certificate. RSA key exchange is refused."""

import ftplib
import os
import re
import socket
import subprocess

import pytest

import harness
from clients import curl, lftp
from conftest import BASE_OPTIONS
from test_ftps import module_dir  # noqa: F401 - a fixture

pytestmark = pytest.mark.moatftpd_only

COMMS = ("moat-preauth", "moat-session", "moat-helper")


# --- keys and servers -------------------------------------------------------------------
def ec_cert(directory):
    os.makedirs(directory, exist_ok=True)
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module", params=["rsa", "ecdsa"])
def keyed(request, module_dir, env):
    """(server, cert, key) for an RSA and an ECDSA certificate; data connections need
    not resume, so that the post-login worker makes full handshakes too."""
    where = os.path.join(module_dir, request.param)
    cert = harness.self_signed_cert(where) if request.param == "rsa" else ec_cert(where)
    opts = dict(BASE_OPTIONS, ftp_username=env.ftp.name, ssl_enable=True,
                rsa_cert_file=cert[0], rsa_private_key_file=cert[1], require_ssl_reuse=False)
    srv = harness.Server(module_dir, opts).start()
    yield srv, cert[0], cert[1]
    srv.stop()


# --- what the key looks like in memory --------------------------------------------------
def key_numbers(key_path):
    """The private numbers of the key (RSA: d, p, q, d mod p-1, d mod q-1, q^-1 mod p;
    EC: the private scalar), big-endian, from the openssl CLI's text dump."""
    text = subprocess.run(["openssl", "pkey", "-in", key_path, "-text", "-noout"],
                          check=True, capture_output=True, text=True).stdout
    names = ("privateExponent", "prime1", "prime2", "exponent1", "exponent2",
             "coefficient", "priv")
    numbers = {}
    for name, body in re.findall(r"^(\w+):\s*\n((?:\s+[0-9a-f:]+\n)+)", text, re.M):
        if name in names:
            numbers[name] = bytes.fromhex(re.sub(r"[\s:]", "", body)).lstrip(b"\0")
    assert numbers, text
    return numbers


def middle(data, width):
    start = max(0, len(data) // 2 - width // 2)
    return data[start:start + width]


def key_needles(key_path):
    """name -> bytes that appear in a process's memory if it has the key in any form."""
    needles = {}
    for name, be in key_numbers(key_path).items():
        window = middle(be, 16)
        needles[name + " (big-endian)"] = window
        needles[name + " (BIGNUM limbs)"] = window[::-1]
    der = subprocess.run(["openssl", "pkey", "-in", key_path, "-outform", "DER"],
                         check=True, capture_output=True).stdout
    needles["DER"] = middle(der, 24)
    with open(key_path, "rb") as f:
        body = [l for l in f.read().splitlines() if l and not l.startswith(b"-----")]
    needles["PEM"] = middle(body, 1)[0][:48]
    return needles


CHUNK = 64 << 20
HUGE = 4 << 30  # only ASan's shadow is this large in our processes: no key bytes there


def resident_mappings(pid):
    """(start, end) of pid's readable mappings with resident pages, from smaps."""
    spans, current = [], None
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            head = line.split()
            if re.fullmatch(r"[0-9a-f]+-[0-9a-f]+", head[0]):
                start, end = (int(x, 16) for x in head[0].split("-"))
                readable = head[1].startswith("r") and not line.rstrip().endswith("[vvar]")
                current = (start, end) if readable and end - start < HUGE else None
            elif head[0] == "Rss:" and current and int(head[1]) > 0:
                spans.append(current)
    return spans


def memory_holds(pid, needles):
    """The names of the needles found in the resident, readable memory of pid."""
    found, overlap = set(), max(len(n) for n in needles.values())
    with open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for start, end in resident_mappings(pid):
            for at in range(start, end, CHUNK):
                try:
                    mem.seek(at)
                    data = mem.read(min(CHUNK + overlap, end - at))
                except (OSError, ValueError, OverflowError):
                    continue
                found.update(name for name, n in needles.items() if n in data)
    return found


def session_processes(srv):
    """comm -> pids of this server's session processes, and the master."""
    procs = {c: srv.pids(c) for c in COMMS + ("moat-keyholder",)}
    procs["master"] = [srv.proc.pid]
    return procs


def assert_no_key(srv, needles, comms):
    for comm in comms:
        pids = session_processes(srv)[comm]
        assert pids, f"no {comm}: {srv.descendants()}"
        for pid in pids:
            assert memory_holds(pid, needles) == set(), f"{comm} (pid {pid}) holds the key"


# --- the tests ----------------------------------------------------------------------------
def test_scan_finds_the_key_where_it_is(keyed, env):
    """Positive control: the key holder, which signs, has the key in memory."""
    srv, cert, key = keyed
    ftp = ftplib.FTP_TLS(context=harness.tls_client_context(cafile=cert), timeout=15)
    ftp.connect(*srv.address())
    ftp.auth()
    holders = harness.wait_for(lambda: srv.pids("moat-keyholder"))
    assert holders, srv.descendants()
    found = memory_holds(holders[0], key_needles(key))
    assert any("BIGNUM" in name for name in found), found
    ftp.quit()


def test_no_worker_holds_the_key(keyed, env):
    srv, cert, key = keyed
    needles = key_needles(key)
    ftp = ftplib.FTP_TLS(context=harness.tls_client_context(cafile=cert), timeout=15)
    ftp.connect(*srv.address())
    ftp.auth()  # the pre-login worker's handshake, signed through the helper
    assert_no_key(srv, needles, ("moat-preauth", "moat-helper", "master"))
    ftp.login(env.alice.name, env.alice.password)
    ftp.prot_p()
    lines = []
    ftp.retrlines("LIST", lines.append)  # a full handshake in the post-login worker
    assert any(l.endswith(" notes.txt") for l in lines)
    # moat-preauth is now the relay of the control connection.
    assert_no_key(srv, needles, ("moat-preauth", "moat-session", "moat-helper", "master"))
    ftp.quit()


def s_client(srv, cert, *args):
    """openssl s_client through AUTH TLS; its output (handshake details)."""
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.port,
                        "-starttls", "ftp", "-CAfile", cert, *args],
                       input=b"", capture_output=True, timeout=30)
    return r.returncode, r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


SCHEMES = {
    "rsa": [("-tls1_3", "RSA-PSS+SHA256", "RSA-PSS"), ("-tls1_3", "RSA-PSS+SHA512", "RSA-PSS"),
            ("-tls1_2", "RSA+SHA256", "RSA\n"), ("-tls1_2", "RSA+SHA384", "RSA\n"),
            ("-tls1_2", "RSA-PSS+SHA384", "RSA-PSS")],
    "ecdsa": [("-tls1_3", "ECDSA+SHA256", "ECDSA"), ("-tls1_2", "ECDSA+SHA384", "ECDSA"),
              ("-tls1_2", "ECDSA+SHA512", "ECDSA")],
}


def test_every_signature_scheme_through_the_helper(keyed):
    srv, cert, _ = keyed
    kind = "rsa" if "rsa" in cert else "ecdsa"
    for version, sigalg, shown in SCHEMES[kind]:
        rc, out = s_client(srv, cert, version, "-sigalgs", sigalg)
        assert rc == 0 and "Verify return code: 0 (ok)" in out, (sigalg, out)
        assert "Peer signature type: " + shown in out + "\n", (sigalg, out)


def test_no_rsa_key_exchange(keyed):
    srv, cert, _ = keyed
    rc, out = s_client(srv, cert, "-tls1_2", "-cipher", "kRSA")
    assert rc != 0 and "Cipher is (NONE)" in out, out


def test_curl_and_lftp(keyed, env, tmp_path):
    srv, _, _ = keyed
    r = curl(srv, env.alice, "/notes.txt", "--ssl-reqd", "--insecure")
    assert r.stdout == b"alice's notes\n"
    lftp(srv, env.alice, "set ssl:verify-certificate no; get notes.txt -o n.txt", tls=True,
         cwd=tmp_path)
    assert (tmp_path / "n.txt").read_bytes() == b"alice's notes\n"


def auth_tls(srv, ctx, session=None):
    """A control connection after AUTH TLS; the TLS socket."""
    raw = socket.create_connection(srv.address(), timeout=15)
    f = raw.makefile("rb")
    assert f.readline().startswith(b"220")
    raw.sendall(b"AUTH TLS\r\n")
    assert f.readline().startswith(b"234")
    f.close()
    return ctx.wrap_socket(raw, server_hostname="localhost", session=session)


def test_ticket_keys_are_per_session(keyed):
    """A ticket from one session does not resume another: each session's helper makes
    its own ticket keys (a data connection still resumes its own control session:
    test_ftps.py)."""
    srv, cert, _ = keyed
    ctx = harness.tls_client_context(cafile=cert, tls13=False)
    first = auth_tls(srv, ctx)
    first.sendall(b"NOOP\r\n")
    first.recv(4096)
    ticket = first.session
    assert ticket is not None and ticket.has_ticket
    first.close()
    second = auth_tls(srv, ctx, session=ticket)
    assert not second.session_reused
    second.close()
