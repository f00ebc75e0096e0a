# SPDX-License-Identifier: GPL-2.0-or-later
"""pytest fixtures for the end-to-end suite: private /etc with test users, server factory.

Marks: @pytest.mark.moatftpd_only for behaviour vsftpd does not have (skipped when
MOAT_E2E_SERVER=vsftpd, the mode that validates the tests against the reference server).
"""

import os
import pwd
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

ANON_README = b"Welcome to the anonymous area of the moatftpd test server.\n"
ANON_TEXT = b"line one\nline two\nline three\n"
ANON_DATA_SIZE = 256 * 1024


@dataclass
class User:
    name: str
    password: str
    home: str
    uid: int
    gid: int


@dataclass
class Env:
    workdir: str
    etc: harness.FakeEtc
    alice: User
    bob: User
    ftp: User
    anon_root: str


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "moatftpd_only: moatftpd-specific behaviour; skipped against vsftpd")


def pytest_collection_modifyitems(config, items):
    if harness.server_kind() == "moatftpd":
        return
    skip = pytest.mark.skip(reason="moatftpd-specific (MOAT_E2E_SERVER=vsftpd)")
    for item in items:
        if "moatftpd_only" in item.keywords:
            item.add_marker(skip)


def is_vsftpd():
    return harness.server_kind() == "vsftpd"


def _write(path, data, mode=0o644, uid=0, gid=0):
    with open(path, "wb") as f:
        f.write(data)
    os.chown(path, uid, gid)
    os.chmod(path, mode)


def _make_user(etc, workdir, name, **kw):
    password = secrets.token_urlsafe(12)
    home = os.path.join(workdir, "home", name)
    uid, gid = etc.add_user(name, password, home, **kw)
    return User(name, password, home, uid, gid)


def _anon_account_name():
    try:
        pwd.getpwnam("ftp")
        return "e2e-ftp"
    except KeyError:
        return "ftp"


def _fill_anon_root(root):
    harness.make_dir(os.path.join(root, "pub"), 0o755)
    _write(os.path.join(root, "README"), ANON_README)
    _write(os.path.join(root, "pub", "hello.txt"), ANON_TEXT)
    data = b"".join(harness.pattern_chunks(ANON_DATA_SIZE, chunk=64 * 1024))
    _write(os.path.join(root, "pub", "data.bin"), data)


@pytest.fixture(scope="session")
def env():
    workdir = harness.private_workdir()
    harness.make_dir(os.path.join(workdir, "home"), 0o755)
    etc = harness.FakeEtc(workdir)
    alice = _make_user(etc, workdir, "alice")
    bob = _make_user(etc, workdir, "bob")
    # The anonymous root must not be writable by the ftp user (vsftpd refuses otherwise).
    # Named ftp (vsftpd's default ftp_username) unless the host already has one; the
    # server fixture always passes ftp_username explicitly.
    ftp = _make_user(etc, workdir, _anon_account_name(), shell="/usr/sbin/nologin",
                     home_owner_root=True)
    _fill_anon_root(ftp.home)
    _write(os.path.join(alice.home, "notes.txt"), b"alice's notes\n", 0o644,
           alice.uid, alice.gid)
    yield Env(workdir, etc, alice, bob, ftp, ftp.home)
    etc.close()
    harness.release_workdir(workdir)


@pytest.fixture
def tmpdir_e2e(env):
    """A per-test 0755 directory inside the private tmpfs (removed afterwards)."""
    path = tempfile.mkdtemp(dir=env.workdir, prefix="t-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def tmp_path(tmpdir_e2e):
    """Overrides pytest's: client-side files stay on the private tmpfs, not the host."""
    path = Path(tmpdir_e2e) / "client"
    path.mkdir()
    return path


BASE_OPTIONS = {
    "anonymous_enable": True,
    "local_enable": True,
    "write_enable": True,
    "local_umask": "022",
}


@pytest.fixture
def server(env, tmpdir_e2e):
    """Factory: server(options=None, start=True, **Server kwargs) -> started Server."""
    made = []

    def make(options=None, start=True, **kw):
        opts = dict(BASE_OPTIONS, ftp_username=env.ftp.name)
        opts.update(options or {})
        srv = harness.Server(tmpdir_e2e, opts, **kw)
        made.append(srv)
        return srv.start() if start else srv

    yield make
    for srv in made:
        srv.stop()


def login(srv, user, ipv6=False):
    """A logged-in ftplib connection for a User (or 'anonymous')."""
    ftp = srv.connect(ipv6=ipv6)
    if user == "anonymous":
        ftp.login("anonymous", "e2e@example.org")
    else:
        ftp.login(user.name, user.password)
    return ftp
