# SPDX-License-Identifier: GPL-2.0-or-later
"""Drive the real command-line clients (curl, lftp) against a harness Server."""

import subprocess

TIMEOUT = 60


def curl(srv, user, path, *args, ipv6=False, check=True, implicit=False):
    """curl against ftp://127.0.0.1:PORT/PATH as user (a conftest User or None).
    implicit=True: ftps://127.0.0.1:IMPLICIT_PORT/PATH (implicit FTPS); for explicit
    FTPS pass "--ssl-reqd" (and "--cacert", CERT or "-k") in args."""
    argv = ["curl", "--silent", "--show-error", "--globoff", "--max-time", str(TIMEOUT)]
    if user is not None:
        argv += ["--user", f"{user.name}:{user.password}"]
    argv += list(args)
    if implicit:
        argv.append(srv.url(path=path, ipv6=ipv6, scheme="ftps", port=srv.implicit_port))
    else:
        argv.append(srv.url(path=path, ipv6=ipv6))
    r = subprocess.run(argv, capture_output=True, timeout=TIMEOUT + 10)
    if check and r.returncode != 0:
        raise AssertionError(f"curl {args} {path} exit {r.returncode}: {r.stderr.decode()}")
    return r


LFTP_PRELUDE = ("set ftp:ssl-allow no; set net:max-retries 1; set net:timeout 15; "
                "set net:reconnect-interval-base 1; set cmd:fail-exit yes; "
                "set xfer:clobber yes; ")
# FTPS: TLS on the control and data connections or nothing; self-signed test certs.
LFTP_TLS_PRELUDE = ("set ftp:ssl-allow yes; set ftp:ssl-force true; "
                    "set ftp:ssl-protect-data true; set ftp:ssl-protect-list true; "
                    "set ssl:verify-certificate no; set net:max-retries 1; "
                    "set net:timeout 15; set net:reconnect-interval-base 1; "
                    "set cmd:fail-exit yes; set xfer:clobber yes; ")


def lftp(srv, user, script, passive=True, check=True, cwd=None, tls=False, implicit=False):
    """Run an lftp script (commands separated by ';') logged in as user.
    tls=True: explicit FTPS (AUTH TLS, PROT P, forced); implicit=True: ftps:// on
    srv.implicit_port. Further TLS settings go at the start of script."""
    login = f"{user.name},{user.password}" if user is not None else "anonymous,e2e@example.org"
    mode = "" if passive else "set ftp:passive-mode no; "
    prelude = LFTP_TLS_PRELUDE if (tls or implicit) else LFTP_PRELUDE
    port, host = (srv.implicit_port, "ftps://127.0.0.1") if implicit else (srv.port, "127.0.0.1")
    argv = ["lftp", "-u", login, "-p", str(port),
            "-e", prelude + mode + script + "; bye", host]
    r = subprocess.run(argv, capture_output=True, timeout=TIMEOUT, cwd=cwd, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise AssertionError(f"lftp {script!r} exit {r.returncode}: {r.stderr.decode()}"
                             f"{r.stdout.decode()[-2000:]}")
    return r
