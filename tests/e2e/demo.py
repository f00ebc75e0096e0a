# SPDX-License-Identifier: GPL-2.0-or-later
"""Quick-start demo: a moatftpd on 127.0.0.1 serving a demo directory to anonymous users
(read-only) and to one local user "demo" (chrooted, writable) whose password is printed.

Run by contrib/quickstart.sh as `tests/e2e/nsrun --host-net python3 demo.py BUILDDIR`:
the demo user exists only in this private mount namespace, so the host's /etc is
untouched; the network is the host's so that clients on the host can connect.
"""

import os
import pwd
import secrets
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

ANON_ACCOUNT = "moatdemo-ftp"


def free_name(name):
    try:
        pwd.getpwnam(name)
    except KeyError:
        return name
    raise harness.HarnessError(f"user {name} already exists on this host; not shadowing it")


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def make_anon_root(etc, workdir):
    root = os.path.join(workdir, "anon")
    etc.add_user(free_name(ANON_ACCOUNT), None, root, shell="/usr/sbin/nologin",
                 home_owner_root=True)
    harness.make_dir(os.path.join(root, "pub"), 0o755)
    write(os.path.join(root, "README"),
          "This directory is served read-only to anonymous users by the moatftpd demo.\n")
    write(os.path.join(root, "pub", "hello.txt"), "Hello from moatftpd.\n")
    return root


def make_demo_user(etc, workdir):
    password = secrets.token_urlsafe(12)
    home = os.path.join(workdir, "demo")
    uid, gid = etc.add_user(free_name("demo"), password, home)
    write(os.path.join(home, "README"), "Your writable, chrooted home on the demo server.\n")
    os.chown(os.path.join(home, "README"), uid, gid)
    return password


def options(port):
    return {
        "listen_port": port,
        "anonymous_enable": True,
        "ftp_username": ANON_ACCOUNT,
        "local_enable": True,
        "write_enable": True,
        "local_umask": "022",
        "chroot_local_user": True,
        "allow_writeable_chroot": True,
    }


def instructions(port, password):
    url = f"ftp://127.0.0.1:{port}"
    return f"""
moatftpd demo is running on 127.0.0.1 port {port} (Ctrl-C stops it).
  anonymous, read-only:   curl {url}/   and   curl {url}/pub/hello.txt
  user demo, password {password}  (chrooted to its home, may upload):
    curl -u demo:{password} {url}/
    curl -u demo:{password} -T /etc/hostname {url}/hostname.txt
    lftp -e 'set ftp:ssl-allow no' -u demo,{password} -p {port} 127.0.0.1
The demo user exists only inside this run's private mount namespace.
"""


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: demo.py BUILDDIR")
    builddir = sys.argv[1]
    port = int(os.environ.get("MOAT_DEMO_PORT", "2121"))
    workdir = harness.private_workdir(prefix="moat-demo-", size="1g")
    etc = harness.FakeEtc(workdir)
    make_anon_root(etc, workdir)
    password = make_demo_user(etc, workdir)
    binary = None if harness.server_kind() == "vsftpd" else os.path.join(builddir, "moatftpd")
    srv = harness.Server(workdir, options(port), binary=binary)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        srv.start()
        print(instructions(port, password), flush=True)
        srv.proc.wait()
        print("moatftpd exited:\n" + srv.stderr_text(), file=sys.stderr)
    except KeyboardInterrupt:
        print("\nstopping", file=sys.stderr)
    finally:
        srv.stop()
        etc.close()
        harness.release_workdir(workdir)


if __name__ == "__main__":
    main()
