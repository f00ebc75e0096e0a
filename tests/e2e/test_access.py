# SPDX-License-Identifier: GPL-2.0-or-later
"""Access control: who may log in (user_list, ftpusers via PAM, hosts.allow/deny,
anonymous e-mail lists, failed-login limits and delays, writable chroot) and what a
logged-in user may touch (write_enable, chmod_enable, anon_world_readable_only,
deny_file, hide_file, and paths that try to leave the session's root).

Each protection has a test with it on and, where the result differs, one with it off,
so a test fails when the protection it covers stops working.
"""

import ftplib
import io
import os
import socket
import threading
import time
import uuid

import pytest

from conftest import is_vsftpd, login
from harness import Control, code, proc_root, proc_uids, raw_cmd, wait_for

DENY_PATTERN = "{*.mp3,*.mov,.private}"


# --- helpers -----------------------------------------------------------------------
def write_file(path, data=b"data\n", mode=0o644, uid=0, gid=0):
    with open(path, "wb") as f:
        f.write(data)
    os.chown(path, uid, gid)
    os.chmod(path, mode)
    return path


def make_dir(path, mode=0o755, uid=0, gid=0):
    os.makedirs(path, exist_ok=True)
    os.chown(path, uid, gid)
    os.chmod(path, mode)
    return path


def user_tree(user, names=("a.txt", "song.mp3", "clip.mov", "sub/inner.txt",
                           ".private/inner.txt")):
    """A fresh directory in the user's home, owned by the user, holding `names`."""
    top = make_dir(os.path.join(user.home, "t-" + uuid.uuid4().hex[:8]), 0o755,
                   user.uid, user.gid)
    for name in names:
        path = os.path.join(top, name)
        make_dir(os.path.dirname(path), 0o755, user.uid, user.gid)
        write_file(path, name.encode() + b"\n", 0o644, user.uid, user.gid)
    return top


def anon_tree(tmpdir, ftp_user, files=None):
    """A root-owned anonymous root (not writable by the ftp user)."""
    root = make_dir(os.path.join(tmpdir, "anon-" + uuid.uuid4().hex[:6]), 0o755)
    write_file(os.path.join(root, "README"), b"readme\n")
    for name, (data, mode, owner) in (files or {}).items():
        uid = ftp_user.uid if owner == "ftp" else 0
        write_file(os.path.join(root, name), data, mode, uid, uid)
    return root


def retr(ftp, name):
    out = io.BytesIO()
    ftp.retrbinary("RETR " + name, out.write)
    return out.getvalue()


def retr_code(ftp, name):
    """550-style failure code of a RETR, or 226 on success."""
    try:
        retr(ftp, name)
        return 226
    except ftplib.error_perm as exc:
        return int(str(exc)[:3])


def stor_code(ftp, cmd, data=b"x\n"):
    try:
        ftp.storbinary(cmd, io.BytesIO(data))
        return 226
    except ftplib.error_perm as exc:
        return int(str(exc)[:3])


def names_of(listing):
    return [line.rsplit(" ", 1)[-1] if " " in line else line for line in listing]


def pasv_list(ftp, cmd):
    lines = []
    ftp.retrlines(cmd, lines.append)
    return lines


def welcome_code(sock, timeout=10):
    sock.settimeout(timeout)
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data[:3]) if data[:3].isdigit() else None, data


def connect_from(srv, source, timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.settimeout(timeout)
    s.connect(srv.address())
    return s


@pytest.fixture
def etc_files(env):
    """env.etc.add_file, undone after the test (the /etc mounts are session-wide)."""
    added = []

    def add(path, text):
        added.append(env.etc.add_file(path, text))

    yield add
    for path in added:
        env.etc.remove_file(path)


@pytest.fixture(scope="module")
def carol(env):
    """A local user whose home belongs to root (a chroot the user cannot write)."""
    from conftest import _make_user
    return _make_user(env.etc, env.workdir, "carol", home_owner_root=True)


# --- user_list ---------------------------------------------------------------------
def write_list(tmpdir, name, lines):
    path = os.path.join(tmpdir, name)
    write_file(path, "".join(l + "\n" for l in lines).encode())
    return path


def test_userlist_deny_refuses_at_user(server, env, tmpdir_e2e):
    lst = write_list(tmpdir_e2e, "user_list", ["root", env.alice.name])
    srv = server({"userlist_enable": True, "userlist_file": lst})
    ftp = srv.connect()
    assert raw_cmd(ftp, "USER " + env.alice.name) == "530 Permission denied."
    # No password was asked for; PASS has no user to go with.
    assert code(raw_cmd(ftp, "PASS " + env.alice.password)) in (503, 530)
    assert code(raw_cmd(ftp, "PWD")) == 530
    login(srv, env.bob).quit()  # not listed: logs in


def test_userlist_disabled_ignores_the_list(server, env, tmpdir_e2e):
    lst = write_list(tmpdir_e2e, "user_list", [env.alice.name])
    srv = server({"userlist_enable": False, "userlist_file": lst})
    login(srv, env.alice).quit()


def test_userlist_allow_mode_admits_only_listed(server, env, tmpdir_e2e):
    lst = write_list(tmpdir_e2e, "user_list", [env.alice.name])
    srv = server({"userlist_enable": True, "userlist_deny": False, "userlist_file": lst})
    login(srv, env.alice).quit()
    ftp = srv.connect()
    assert raw_cmd(ftp, "USER " + env.bob.name) == "530 Permission denied."
    # Anonymous is a user name like any other here (as in vsftpd).
    ftp = srv.connect()
    assert raw_cmd(ftp, "USER anonymous") == "530 Permission denied."


def test_userlist_allow_mode_with_anonymous_listed(server, env, tmpdir_e2e):
    lst = write_list(tmpdir_e2e, "user_list", ["anonymous"])
    srv = server({"userlist_enable": True, "userlist_deny": False, "userlist_file": lst})
    login(srv, "anonymous").quit()
    ftp = srv.connect()
    assert raw_cmd(ftp, "USER " + env.alice.name) == "530 Permission denied."


# --- ftpusers through PAM ------------------------------------------------------------
def ftpusers_service(env, tmpdir, names):
    ftpusers = write_list(tmpdir, "ftpusers", names)
    name = "moatftpd-ftpusers-" + uuid.uuid4().hex[:6]
    env.etc.add_pam_service(name, (
        f"auth     required pam_listfile.so item=user sense=deny file={ftpusers} onerr=succeed\n"
        "auth     required pam_unix.so nodelay\n"
        "account  required pam_unix.so\n"
        "session  required pam_permit.so\n"))
    return name


def test_ftpusers_refuses_like_a_wrong_password(server, env, tmpdir_e2e):
    service = ftpusers_service(env, tmpdir_e2e, ["root", env.alice.name])
    srv = server({"pam_service_name": service, "delay_failed_login": 0})
    ftp = srv.connect()
    assert code(raw_cmd(ftp, "USER " + env.alice.name)) == 331
    right = raw_cmd(ftp, "PASS " + env.alice.password)
    ftp = srv.connect()
    raw_cmd(ftp, "USER " + env.alice.name)
    wrong = raw_cmd(ftp, "PASS not-" + env.alice.password)
    assert right == wrong == "530 Login incorrect."
    login(srv, env.bob).quit()


def test_ftpusers_without_the_user_admits(server, env, tmpdir_e2e):
    service = ftpusers_service(env, tmpdir_e2e, ["root"])
    srv = server({"pam_service_name": service})
    login(srv, env.alice).quit()


# --- tcp_wrappers ------------------------------------------------------------------
# Rules name both daemons so the same files serve when validating against vsftpd.
def wrappers_server(server, etc_files, allow, deny, enabled=True):
    etc_files("/etc/hosts.allow", allow)
    etc_files("/etc/hosts.deny", deny)
    return server({"tcp_wrappers": enabled})


def greeting(srv, source="127.0.0.1"):
    with connect_from(srv, source) as s:
        return welcome_code(s)


def test_tcp_wrappers_deny_before_greeting(server, etc_files):
    srv = wrappers_server(server, etc_files, "", "moatftpd vsftpd: 127.0.0.1\n")
    c, data = greeting(srv)
    assert c in (421, 500, 550) and b"220" not in data, data
    if srv.kind == "moatftpd":
        assert data == b"421 Service not available.\r\n"


def test_tcp_wrappers_off_ignores_hosts_deny(server, etc_files):
    srv = wrappers_server(server, etc_files, "", "moatftpd vsftpd: 127.0.0.1\n", enabled=False)
    assert greeting(srv)[0] == 220


def test_tcp_wrappers_allow_overrides_deny(server, etc_files):
    srv = wrappers_server(server, etc_files, "moatftpd vsftpd: 127.0.0.1\n", "ALL: ALL\n")
    assert greeting(srv)[0] == 220
    c, _ = greeting(srv, "127.0.0.3")  # not in hosts.allow: ALL: ALL applies
    assert c != 220


def test_tcp_wrappers_host_names_are_resolved(server, etc_files):
    # 127.0.0.1 is "localhost" in /etc/hosts: a name rule matches it, and UNKNOWN
    # (no name) does not.
    etc_files("/etc/hosts", "127.0.0.1 localhost\n")
    srv = wrappers_server(server, etc_files, "", "moatftpd vsftpd: UNKNOWN\n")
    assert greeting(srv)[0] == 220
    srv = wrappers_server(server, etc_files, "", "moatftpd vsftpd: localhost\n")
    assert greeting(srv)[0] != 220


def test_tcp_wrappers_on_a_dual_stack_socket(server, etc_files):
    # One IPv6 socket takes both families: IPv4 clients arrive as ::ffff:a.b.c.d and
    # must still match their IPv4 rules.
    etc_files("/etc/hosts.allow", "")
    etc_files("/etc/hosts.deny", "moatftpd vsftpd: 127.0.0.1 [::1]\n")
    srv = server({"tcp_wrappers": True, "listen": False, "listen_ipv6": True})
    for family, host in ((socket.AF_INET6, "::1"), (socket.AF_INET, "127.0.0.1")):
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect((host, srv.port6))
            c, data = welcome_code(s)
            assert c != 220 and b"220" not in data, (host, data)
    etc_files("/etc/hosts.deny", "")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(("127.0.0.1", srv.port6))
        assert welcome_code(s)[0] == 220


def maps_libwrap(pid):
    with open(f"/proc/{pid}/maps") as f:
        return "libwrap.so" in f.read()


@pytest.mark.moatftpd_only
def test_libwrap_is_loaded_only_with_tcp_wrappers(server, etc_files):
    # libwrap and the libraries it pulls in are mappings every fork copies and every
    # exit tears down, three times per login: without tcp_wrappers no process has them.
    srv = wrappers_server(server, etc_files, "", "", enabled=False)
    ftp = srv.connect()
    ftp.login("anonymous", "x")
    procs = [srv.proc.pid] + [pid for pid, _ in srv.descendants()]
    assert len(procs) >= 3  # the master, the session's helper and its worker
    assert not any(maps_libwrap(pid) for pid in procs)
    ftp.quit()
    srv = wrappers_server(server, etc_files, "", "", enabled=True)
    assert maps_libwrap(srv.proc.pid)
    assert greeting(srv)[0] == 220


# --- anonymous e-mail lists ----------------------------------------------------------
def anon_login_reply(srv, password):
    ftp = srv.connect()
    assert code(raw_cmd(ftp, "USER anonymous")) == 331
    return raw_cmd(ftp, "PASS " + password)


def test_deny_email_refuses_listed_passwords(server, tmpdir_e2e):
    banned = write_list(tmpdir_e2e, "banned", ["evil@example.org", "bot@spam.test"])
    srv = server({"deny_email_enable": True, "banned_email_file": banned,
                  "delay_failed_login": 0})
    assert anon_login_reply(srv, "evil@example.org") == "530 Login incorrect."
    assert anon_login_reply(srv, "bot@spam.test") == "530 Login incorrect."
    assert anon_login_reply(srv, "good@example.org") == "230 Login successful."


def test_deny_email_off_ignores_the_list(server, tmpdir_e2e):
    banned = write_list(tmpdir_e2e, "banned", ["evil@example.org"])
    srv = server({"deny_email_enable": False, "banned_email_file": banned})
    assert anon_login_reply(srv, "evil@example.org") == "230 Login successful."


def test_secure_email_list_admits_only_listed(server, tmpdir_e2e):
    allowed = write_list(tmpdir_e2e, "emails", ["friend@example.org"])
    srv = server({"secure_email_list_enable": True, "email_password_file": allowed,
                  "delay_failed_login": 0})
    assert anon_login_reply(srv, "friend@example.org") == "230 Login successful."
    assert anon_login_reply(srv, "stranger@example.org") == "530 Login incorrect."
    assert anon_login_reply(srv, "friend@example.org ") == "530 Login incorrect."


def test_secure_email_list_off_admits_anyone(server, tmpdir_e2e):
    allowed = write_list(tmpdir_e2e, "emails", ["friend@example.org"])
    srv = server({"secure_email_list_enable": False, "email_password_file": allowed})
    assert anon_login_reply(srv, "stranger@example.org") == "230 Login successful."


@pytest.mark.moatftpd_only
@pytest.mark.parametrize("enable,option", [("deny_email_enable", "banned_email_file"),
                                           ("secure_email_list_enable", "email_password_file")])
def test_email_list_missing_file_is_a_start_up_error(server, tmpdir_e2e, enable, option):
    missing = os.path.join(tmpdir_e2e, "no-such-list")
    srv = server({enable: True, option: missing}, start=False)
    with pytest.raises(Exception) as exc:
        srv.start()
    assert option in str(exc.value) and missing in str(exc.value)


@pytest.mark.moatftpd_only
def test_banned_email_file_is_reread_on_sighup(server, tmpdir_e2e):
    banned = write_list(tmpdir_e2e, "banned", ["old@example.org"])
    srv = server({"deny_email_enable": True, "banned_email_file": banned,
                  "delay_failed_login": 0})
    assert anon_login_reply(srv, "new@example.org") == "230 Login successful."
    write_list(tmpdir_e2e, "banned", ["new@example.org"])
    srv.reload()
    assert srv.wait_stderr(r"configuration reloaded")
    assert anon_login_reply(srv, "new@example.org") == "530 Login incorrect."
    assert anon_login_reply(srv, "old@example.org") == "230 Login successful."


# --- failed logins: limit and delays -------------------------------------------------
def test_max_login_fails_one(server, env):
    srv = server({"max_login_fails": 1, "delay_failed_login": 0})
    with Control(*srv.address()) as c:
        c.reply()
        assert c.login(env.alice.name, "bad") == 530
        assert c.closed_by_peer()


def test_max_login_fails_five_allows_four(server, env):
    srv = server({"max_login_fails": 5, "delay_failed_login": 0})
    with Control(*srv.address()) as c:
        c.reply()
        for _ in range(4):
            assert c.login(env.alice.name, "bad") == 530
        assert c.login(env.alice.name, env.alice.password) == 230


def timed_pass(srv, user, password):
    """Start a login in a thread; returns (thread, result dict with code and seconds)."""
    result = {}
    c = Control(*srv.address())
    c.reply()
    assert c.cmd("USER " + user)[0] == 331

    def run():
        t0 = time.monotonic()
        result["code"] = c.cmd("PASS " + password)[0]
        result["seconds"] = time.monotonic() - t0
        c.close()

    t = threading.Thread(target=run)
    t.start()
    return t, result


def prompt_login(srv, user, password):
    t0 = time.monotonic()
    with Control(*srv.address()) as c:
        c.reply()
        got = c.login(user, password)
    return got, time.monotonic() - t0


def test_delay_failed_login_does_not_block_other_sessions(server, env):
    srv = server({"delay_failed_login": 3, "delay_successful_login": 0})
    t, slow = timed_pass(srv, env.alice.name, "wrong")
    time.sleep(0.3)
    got, seconds = prompt_login(srv, env.bob.name, env.bob.password)
    assert got == 230
    assert "code" not in slow, seconds  # still being delayed while bob got in
    t.join(10)
    assert slow["code"] == 530 and slow["seconds"] >= 2.8, slow


def test_no_failed_login_delay_when_zero(server, env):
    srv = server({"delay_failed_login": 0})
    t, slow = timed_pass(srv, env.alice.name, "wrong")
    t.join(10)
    assert slow["code"] == 530 and slow["seconds"] < 1.5, slow


def test_delay_successful_login_does_not_block_other_sessions(server, env):
    srv = server({"delay_successful_login": 3, "delay_failed_login": 0})
    t, slow = timed_pass(srv, env.alice.name, env.alice.password)
    time.sleep(0.3)
    got, seconds = prompt_login(srv, env.bob.name, "wrong")
    assert got == 530
    assert "code" not in slow, seconds  # still being delayed while bob was answered
    t.join(10)
    assert slow["code"] == 230 and slow["seconds"] >= 2.8, slow


# --- chroot with a writable root ---------------------------------------------------------
def test_chroot_writable_root_refused_with_the_fix(server, env):
    srv = server({"chroot_local_user": True})
    ftp = srv.connect()
    raw_cmd(ftp, "USER " + env.alice.name)
    reply = raw_cmd(ftp, "PASS " + env.alice.password)
    assert code(reply) in (500, 530), reply
    if srv.kind == "moatftpd":
        assert env.alice.home in reply
        assert "chmod a-w " + env.alice.home in reply
        assert "allow_writeable_chroot=YES" in reply


def test_chroot_read_only_root_needs_no_exception(server, carol):
    srv = server({"chroot_local_user": True})
    ftp = login(srv, carol)
    assert ftp.pwd() == "/"


def test_chroot_writable_root_allowed_when_operator_says_so(server, env):
    ftp = login(server({"chroot_local_user": True, "allow_writeable_chroot": True}), env.alice)
    assert ftp.pwd() == "/"


# --- write_enable and chmod_enable -----------------------------------------------------
WRITE_COMMANDS = ["DELE a.txt", "MKD newdir", "RMD emptydir", "RNFR a.txt", "RNTO b.txt",
                  "SITE CHMOD 600 a.txt"]


def test_write_enable_no_refuses_every_write(server, env):
    top = user_tree(env.alice)
    make_dir(os.path.join(top, "emptydir"), 0o755, env.alice.uid, env.alice.gid)
    before = sorted(os.listdir(top))
    mode = os.stat(os.path.join(top, "a.txt")).st_mode
    ftp = login(server({"write_enable": False}), env.alice)
    ftp.cwd(top)
    for cmd in ("STOR new.txt", "APPE a.txt", "STOU"):
        assert stor_code(ftp, cmd) == 550, cmd
    for line in WRITE_COMMANDS:
        reply = raw_cmd(ftp, line)
        want = (550, 500) if is_vsftpd() else (550,)  # vsftpd: SITE CHMOD is 500
        assert code(reply) in want, (line, reply)
    if not is_vsftpd():  # vsftpd has no MFMT nor MDTM-set without write_enable
        assert code(raw_cmd(ftp, "MFMT 20200101000000 a.txt")) == 550
        assert code(raw_cmd(ftp, "MDTM 20200101000000 a.txt")) == 550
    assert sorted(os.listdir(top)) == before
    assert os.stat(os.path.join(top, "a.txt")).st_mode == mode
    assert open(os.path.join(top, "a.txt"), "rb").read() == b"a.txt\n"


def test_write_enable_yes_allows_the_same_writes(server, env):
    top = user_tree(env.alice)
    ftp = login(server({"write_enable": True}), env.alice)
    ftp.cwd(top)
    assert stor_code(ftp, "STOR new.txt") == 226
    assert stor_code(ftp, "APPE a.txt") == 226
    assert code(raw_cmd(ftp, "MKD newdir")) == 257
    assert code(raw_cmd(ftp, "RMD newdir")) == 250
    assert code(raw_cmd(ftp, "RNFR new.txt")) == 350
    assert code(raw_cmd(ftp, "RNTO renamed.txt")) == 250
    assert code(raw_cmd(ftp, "SITE CHMOD 600 renamed.txt")) == 200
    assert code(raw_cmd(ftp, "DELE renamed.txt")) == 250
    assert sorted(os.listdir(top)) == [".private", "a.txt", "clip.mov", "song.mp3", "sub"]


def test_chmod_enable_no(server, env):
    top = user_tree(env.alice)
    ftp = login(server({"write_enable": True, "chmod_enable": False}), env.alice)
    ftp.cwd(top)
    assert code(raw_cmd(ftp, "SITE CHMOD 600 a.txt")) in ((550,) if not is_vsftpd() else (500, 550))
    assert os.stat(os.path.join(top, "a.txt")).st_mode & 0o777 == 0o644
    ftp = login(server({"write_enable": True, "chmod_enable": True}), env.alice)
    ftp.cwd(top)
    assert code(raw_cmd(ftp, "SITE CHMOD 600 a.txt")) == 200
    assert os.stat(os.path.join(top, "a.txt")).st_mode & 0o777 == 0o600


# --- anonymous sessions ----------------------------------------------------------------
def test_anonymous_never_gets_a_shell_users_rights(server, env, tmpdir_e2e):
    root = anon_tree(tmpdir_e2e, env.ftp)
    srv = server({"anon_root": root, "write_enable": True})
    ftp = login(srv, "anonymous")
    if srv.kind == "moatftpd":
        pids = wait_for(lambda: srv.pids("moat-session"))
        assert len(pids) == 1
        assert set(proc_uids(pids[0])) == {env.ftp.uid}
        assert proc_root(pids[0]) == root
    assert ftp.pwd() == "/"
    assert stor_code(ftp, "STOR up.txt") == 550
    for line in ("MKD d", "DELE README", "RNFR README", "SITE CHMOD 777 README"):
        assert code(raw_cmd(ftp, line)) in (550, 500), line
    notes = os.path.join(env.alice.home, "notes.txt")
    assert retr_code(ftp, notes) == 550
    assert retr_code(ftp, "../../../../../../.." + notes) == 550
    assert sorted(os.listdir(root)) == ["README"]


def test_anon_world_readable_only(server, env, tmpdir_e2e):
    # Owned by the ftp user, so the kernel lets it be read: only the option says no.
    root = anon_tree(tmpdir_e2e, env.ftp, {"mine.txt": (b"ftp's own\n", 0o600, "ftp"),
                                           "open.txt": (b"for all\n", 0o644, "root")})
    ftp = login(server({"anon_root": root}), "anonymous")
    assert retr_code(ftp, "mine.txt") == 550
    assert retr(ftp, "open.txt") == b"for all\n"


def test_anon_world_readable_only_off(server, env, tmpdir_e2e):
    root = anon_tree(tmpdir_e2e, env.ftp, {"mine.txt": (b"ftp's own\n", 0o600, "ftp")})
    ftp = login(server({"anon_root": root, "anon_world_readable_only": False}), "anonymous")
    assert retr(ftp, "mine.txt") == b"ftp's own\n"


def test_anon_world_readable_only_spares_local_users(server, env):
    top = user_tree(env.alice, ["own.txt"])
    os.chmod(os.path.join(top, "own.txt"), 0o600)
    ftp = login(server(), env.alice)
    assert retr(ftp, os.path.join(top, "own.txt")) == b"own.txt\n"


# --- deny_file ---------------------------------------------------------------------------
def deny_session(server, env, options=None):
    top = user_tree(env.alice)
    opts = {"deny_file": DENY_PATTERN}
    opts.update(options or {})
    ftp = login(server(opts), env.alice)
    ftp.cwd(top)
    return ftp, top


# Each command on a name the pattern matches, with its result when nothing is denied.
DENY_CASES = [("RETR song.mp3", 226), ("STOR new.mov", 226), ("APPE clip.mov", 226),
              ("SIZE song.mp3", 213), ("MDTM song.mp3", 213), ("SITE CHMOD 600 song.mp3", 200),
              ("CWD .private", 250), ("RMD gone.mov", 250), ("MKD made.mov", 257),
              ("RNFR song.mp3", 350), ("DELE clip.mov", 250), ("RNFR a.txt", 350),
              ("RNTO a.mp3", 250)]


def run_deny_cases(ftp, top):
    os.mkdir(os.path.join(top, "gone.mov"))
    got = []
    for line, _ in DENY_CASES:
        verb = line.split()[0]
        if verb in ("RETR",):
            got.append(retr_code(ftp, line.split(" ", 1)[1]))
        elif verb in ("STOR", "APPE"):
            got.append(stor_code(ftp, line))
        else:
            got.append(code(raw_cmd(ftp, line)))
        if verb == "CWD":
            ftp.cwd(top)
    return got


def test_deny_file_refuses_every_command_on_matching_names(server, env):
    ftp, top = deny_session(server, env)
    got = run_deny_cases(ftp, top)
    want = [550] * len(DENY_CASES)
    want[-2] = 350  # RNFR a.txt is fine; renaming it to a.mp3 is not
    assert got == want, list(zip(DENY_CASES, got))
    assert sorted(os.listdir(top)) == [".private", "a.txt", "clip.mov", "gone.mov", "song.mp3",
                                       "sub"]
    assert open(os.path.join(top, "clip.mov"), "rb").read() == b"clip.mov\n"
    assert os.stat(os.path.join(top, "song.mp3")).st_mode & 0o777 == 0o644
    # Not hidden: denied names still show in listings.
    assert "song.mp3" in ftp.nlst()
    assert retr(ftp, "a.txt") == b"a.txt\n"


def test_deny_file_off_allows_the_same_commands(server, env):
    top = user_tree(env.alice)
    ftp = login(server(), env.alice)
    ftp.cwd(top)
    got = run_deny_cases(ftp, top)
    assert got == [want for _, want in DENY_CASES], list(zip(DENY_CASES, got))


@pytest.mark.moatftpd_only
def test_deny_file_path_tricks(server, env):
    ftp, top = deny_session(server, env)
    for name in (".private/inner.txt", "./.private/inner.txt", "sub/../song.mp3",
                 "sub//../.private/inner.txt", top + "/.private/inner.txt",
                 top + "/./song.mp3", "/" + top + "//song.mp3"):
        assert retr_code(ftp, name) == 550, name
    for line in ("CWD ./.private/", "CWD /." + top + "/.private", "MLST .private",
                 "STAT .private"):
        assert code(raw_cmd(ftp, line)) == 550, line
    for cmd in ("LIST .private", "NLST .private/", "MLSD .private"):
        with pytest.raises(ftplib.error_perm) as exc:
            pasv_list(ftp, cmd)
        assert str(exc.value).startswith("550"), cmd


@pytest.mark.moatftpd_only
def test_deny_file_stou_skips_denied_names(server, env):
    ftp, top = deny_session(server, env, {"deny_file": "{*.1}"})
    write_file(os.path.join(top, "up"), b"old\n", 0o644, env.alice.uid, env.alice.gid)
    ftp.storbinary("STOU up", io.BytesIO(b"new\n"))
    assert "up.1" not in os.listdir(top)
    assert "up.2" in os.listdir(top)


@pytest.mark.moatftpd_only
def test_deny_file_bad_pattern_is_a_start_up_error(server):
    srv = server({"deny_file": "{*.mp3,*.mov"}, start=False)
    with pytest.raises(Exception) as exc:
        srv.start()
    assert "deny_file" in str(exc.value) and "'{' without '}'" in str(exc.value)


# --- hide_file -------------------------------------------------------------------------
def test_hide_file_leaves_names_out_of_listings(server, env):
    top = user_tree(env.alice)
    ftp = login(server({"hide_file": DENY_PATTERN}), env.alice)
    ftp.cwd(top)
    assert sorted(ftp.nlst()) == ["a.txt", "sub"]
    long_names = names_of(pasv_list(ftp, "LIST -a"))
    assert "song.mp3" not in long_names and ".private" not in long_names
    assert "a.txt" in long_names
    # ...but they can still be used by name.
    assert retr(ftp, "song.mp3") == b"song.mp3\n"
    ftp.cwd(".private")
    assert ftp.nlst() == ["inner.txt"]


@pytest.mark.moatftpd_only
def test_hide_file_in_mlsd_and_stat(server, env):
    top = user_tree(env.alice)
    ftp = login(server({"hide_file": DENY_PATTERN}), env.alice)
    ftp.cwd(top)
    mlsd = [name for name, _ in ftp.mlsd()]
    assert sorted(mlsd) == [".", "a.txt", "sub"]
    stat = raw_cmd(ftp, "STAT -a .")
    assert "a.txt" in stat and "song.mp3" not in stat and ".private" not in stat


def test_hide_file_off_shows_everything(server, env):
    top = user_tree(env.alice)
    ftp = login(server(), env.alice)
    ftp.cwd(top)
    assert "song.mp3" in ftp.nlst()
    assert ".private" in names_of(pasv_list(ftp, "LIST -a"))


# --- paths that try to leave the session's root --------------------------------------------
def plant_links(directory, uid=0):
    links = {"passwd-link": "/etc/passwd", "etc-link": "/etc", "up": "../../../../../..",
             "up-abs": "/.."}
    for name, target in links.items():
        path = os.path.join(directory, name)
        os.symlink(target, path)
        os.lchown(path, uid, uid)
    return links


def host_passwd():
    return open("/etc/passwd", "rb").read()


def assert_confined(ftp, root_names):
    """Nothing outside the session root can be reached by name or link."""
    assert retr_code(ftp, "/etc/passwd") == 550
    assert retr_code(ftp, "../../../../../../etc/passwd") == 550
    assert retr_code(ftp, "passwd-link") == 550
    assert code(raw_cmd(ftp, "CWD etc-link")) == 550
    for target in ("..", "../../..", "/..", "up", "up-abs"):
        ftp.cwd("/")
        ftp.cwd(target)
        assert ftp.pwd() == "/", target
        assert set(root_names) <= set(ftp.nlst()), target
    ftp.cwd("/")
    assert code(raw_cmd(ftp, "NOOP")) == 200


def test_chrooted_user_cannot_leave_root(server, env):
    # A chroot to a fresh root-owned directory, so the links are the only way out.
    top = make_dir(os.path.join(env.alice.home, "t-" + uuid.uuid4().hex[:8]), 0o755)
    write_file(os.path.join(top, "inside.txt"))
    plant_links(top)
    ftp = login(server({"chroot_local_user": True, "local_root": top}), env.alice)
    assert ftp.pwd() == "/"
    assert_confined(ftp, ["inside.txt", "passwd-link"])


def test_without_chroot_the_same_links_lead_out(server, env):
    # The opposite of the test above: what the chroot is protecting against.
    top = make_dir(os.path.join(env.alice.home, "t-" + uuid.uuid4().hex[:8]), 0o755)
    plant_links(top)
    ftp = login(server({"chroot_local_user": False, "local_root": top}), env.alice)
    assert retr(ftp, "passwd-link") == host_passwd()
    assert code(raw_cmd(ftp, "CWD up")) == 250 and ftp.pwd() == "/"


def test_anonymous_cannot_leave_anon_root(server, env, tmpdir_e2e):
    root = anon_tree(tmpdir_e2e, env.ftp)
    plant_links(root)
    ftp = login(server({"anon_root": root}), "anonymous")
    assert_confined(ftp, ["README", "passwd-link"])


def test_unchrooted_user_is_limited_by_uid(server, env):
    bob_dir = user_tree(env.bob, ["secret.txt", "public.txt"])
    os.chmod(os.path.join(bob_dir, "secret.txt"), 0o600)
    ftp = login(server({"chroot_local_user": False}), env.alice)
    assert retr_code(ftp, os.path.join(bob_dir, "secret.txt")) == 550
    assert retr_code(ftp, "/etc/shadow") == 550
    # The path itself is reachable: only the uid stands in the way.
    assert retr(ftp, os.path.join(bob_dir, "public.txt")) == b"public.txt\n"
    assert retr(ftp, "/etc/passwd") == host_passwd()
    assert stor_code(ftp, "STOR " + os.path.join(bob_dir, "planted.txt")) == 553
    assert code(raw_cmd(ftp, "DELE " + os.path.join(bob_dir, "public.txt"))) == 550
    assert sorted(os.listdir(bob_dir)) == ["public.txt", "secret.txt"]


# --- odd bytes in names: NUL, CR, invalid UTF-8 --------------------------------------------
# Not UTF-8 (a lone lead byte, a truncated sequence); no 0xFF, which is Telnet's IAC.
BAD_NAME = b"bad-\xc3(\xfe\xe2\x82.txt"


def session_kinds():
    return ["chrooted", "anonymous", "unchrooted"]


def login_latin1(srv, user):
    """Like conftest.login, but one byte per character both ways: names go as bytes."""
    ftp = ftplib.FTP(timeout=10, encoding="latin-1")
    ftp.connect(*srv.address())
    if user == "anonymous":
        ftp.login("anonymous", "e2e@example.org")
    else:
        ftp.login(user.name, user.password)
    return ftp


def odd_session(server, env, tmpdir_e2e, kind):
    """(ftp, directory on disk that is the session's cwd, may write, a readable name)."""
    if kind == "anonymous":
        root = anon_tree(tmpdir_e2e, env.ftp)
        write_file(os.path.join(root.encode(), BAD_NAME), b"latin\n")
        return login_latin1(server({"anon_root": root}), "anonymous"), root, False, "README"
    top = user_tree(env.alice, ["ok.txt"])
    if kind == "chrooted":
        os.chown(top, 0, 0)
        ftp = login_latin1(server({"chroot_local_user": True, "local_root": top}), env.alice)
        sub = make_dir(os.path.join(top, "w"), 0o755, env.alice.uid, env.alice.gid)
        ftp.cwd("w")
        return ftp, sub, True, "/ok.txt"
    ftp = login_latin1(server(), env.alice)
    ftp.cwd(top)
    return ftp, top, True, "ok.txt"


@pytest.mark.parametrize("kind", session_kinds())
def test_nul_byte_in_a_name_is_refused(server, env, tmpdir_e2e, kind):
    ftp, where, _, known = odd_session(server, env, tmpdir_e2e, kind)
    # A data connection first, so the reply is about the name (vsftpd: 425 without).
    assert retr_code(ftp, "ok\x00.txt") in (500, 501, 550)
    lines = [b"CWD ..\x00/..", b"DELE ok\x00"]
    if not is_vsftpd():  # vsftpd cuts the name at the NUL and makes "a"
        lines.append(b"MKD a\x00b")
    for line in lines:
        ftp.sock.sendall(line + b"\r\n")
        reply = ftp.getmultiline()
        assert code(reply) in (500, 501, 550), (line, reply)
    assert code(raw_cmd(ftp, "NOOP")) == 200
    assert not [n for n in os.listdir(where) if n.startswith("a")]
    assert retr(ftp, known)


@pytest.mark.moatftpd_only
@pytest.mark.parametrize("kind", session_kinds())
def test_cr_inside_a_name_is_refused(server, env, tmpdir_e2e, kind):
    ftp, where, writable, _ = odd_session(server, env, tmpdir_e2e, kind)
    before = sorted(os.listdir(where))
    for line in (b"STOR a\rb.txt", b"MKD x\ry", b"RETR README\r.txt", b"CWD .\r."):
        ftp.sock.sendall(line + b"\r\n")
        read_only_write = not writable and line[:4] in (b"STOR", b"MKD ")
        assert code(ftp.getmultiline()) in ((501, 550) if read_only_write else (501,)), line
    assert code(raw_cmd(ftp, "NOOP")) == 200
    assert sorted(os.listdir(where)) == before


@pytest.mark.parametrize("kind", session_kinds())
def test_invalid_utf8_names_are_plain_bytes(server, env, tmpdir_e2e, kind):
    ftp, where, writable, _ = odd_session(server, env, tmpdir_e2e, kind)
    name = BAD_NAME.decode("latin-1")
    if writable:
        ftp.storbinary("STOR " + name, io.BytesIO(b"latin\n"))
        assert BAD_NAME in os.listdir(where.encode())
    assert name in ftp.nlst()
    assert retr(ftp, name) == b"latin\n"
    # Escapes wrapped in invalid UTF-8 go nowhere either.
    assert retr_code(ftp, "../\xfe/../../../../../etc/shadow") == 550
    assert retr_code(ftp, "\xc0\xaf\xc0\xae\xc0\xae/etc/shadow") == 550
    assert code(raw_cmd(ftp, "CWD \xc0\xae\xc0\xae")) == 550
    assert code(raw_cmd(ftp, "NOOP")) == 200
