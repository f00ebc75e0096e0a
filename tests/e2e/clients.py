"""Drive the real command-line clients (curl, lftp) against a harness Server."""

import subprocess

TIMEOUT = 60


def curl(srv, user, path, *args, ipv6=False, check=True):
    """curl against ftp://127.0.0.1:PORT/PATH as user (a conftest User or None)."""
    argv = ["curl", "--silent", "--show-error", "--globoff", "--max-time", str(TIMEOUT)]
    if user is not None:
        argv += ["--user", f"{user.name}:{user.password}"]
    argv += list(args)
    argv.append(srv.url(path=path, ipv6=ipv6))
    r = subprocess.run(argv, capture_output=True, timeout=TIMEOUT + 10)
    if check and r.returncode != 0:
        raise AssertionError(f"curl {args} {path} exit {r.returncode}: {r.stderr.decode()}")
    return r


LFTP_PRELUDE = ("set ftp:ssl-allow no; set net:max-retries 1; set net:timeout 15; "
                "set net:reconnect-interval-base 1; set cmd:fail-exit yes; "
                "set xfer:clobber yes; ")


def lftp(srv, user, script, passive=True, check=True, cwd=None):
    """Run an lftp script (commands separated by ';') logged in as user."""
    login = f"{user.name},{user.password}" if user is not None else "anonymous,e2e@example.org"
    mode = "" if passive else "set ftp:passive-mode no; "
    argv = ["lftp", "-u", login, "-p", str(srv.port),
            "-e", LFTP_PRELUDE + mode + script + "; bye", "127.0.0.1"]
    r = subprocess.run(argv, capture_output=True, timeout=TIMEOUT, cwd=cwd, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise AssertionError(f"lftp {script!r} exit {r.returncode}: {r.stderr.decode()}"
                             f"{r.stdout.decode()[-2000:]}")
    return r
