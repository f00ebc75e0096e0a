# SPDX-License-Identifier: GPL-2.0-or-later
"""Virtual users the vsftpd way: PAM (pam_wrapper's pam_matrix, a module like
pam_userdb that knows users /etc/passwd does not) accepts the name, guest_enable maps
the login to guest_username's account, user_sub_token gives each virtual user its own
directory, user_config_dir files are named after the virtual user, and the session has
anonymous rights (anon_upload_enable, anon_umask) unless virtual_use_local_privs=YES,
exactly as vsftpd.conf(5) says. Runs against vsftpd too (MOAT_E2E_SERVER=vsftpd)."""

import ftplib
import io
import os
import secrets

import pytest

import harness
from harness import code, raw_cmd

PAM_MATRIX = "/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so"
SERVICE = "moatftpd-virtual"
GUEST = "e2e-virt"

pytestmark = pytest.mark.skipif(not os.path.exists(PAM_MATRIX),
                                reason="pam_matrix.so (Debian's libpam-wrapper) missing")


class Site:
    """guest_username's account with home BASE/$USER, two virtual users (in pam_matrix's
    database only) with their own directories, and the PAM service that knows them."""

    def __init__(self, env):
        self.base = harness.make_dir(os.path.join(env.workdir, "virtual"), 0o755)
        self.uid, self.gid = env.etc.add_user(GUEST, None, os.path.join(self.base, "$USER"),
                                              shell="/usr/sbin/nologin", home_owner_root=True)
        self.password = {"fred": secrets.token_urlsafe(9), "wilma": secrets.token_urlsafe(9)}
        passdb = os.path.join(env.workdir, "virtual-passdb")
        with open(passdb, "w") as f:
            f.writelines(f"{u}:{p}:{SERVICE}\n" for u, p in self.password.items())
        os.chmod(passdb, 0o600)
        env.etc.add_pam_service(SERVICE, f"auth required {PAM_MATRIX} passdb={passdb}\n"
                                         f"account required {PAM_MATRIX} passdb={passdb}\n")
        for user in self.password:
            # Root-owned, so the chroot is not writable; upload/ belongs to the guest.
            home = harness.make_dir(os.path.join(self.base, user), 0o755)
            harness.put_file(os.path.join(home, f"{user}.txt"), f"{user}'s file\n".encode(),
                             _Root)
            harness.make_dir(os.path.join(home, "upload"), 0o755, self.uid, self.gid)
        self.config_dir = harness.make_dir(os.path.join(env.workdir, "virtual-conf"), 0o755)

    def login(self, srv, user):
        ftp = srv.connect()
        ftp.login(user, self.password[user])
        return ftp


class _Root:
    uid = 0
    gid = 0


@pytest.fixture(scope="module")
def site(env):
    return Site(env)


def module_dir():
    return os.path.join(os.path.dirname(harness.default_binary("moatftpd")), "modules")


def guest_server(tmpdir, site, **options):
    opts = {"anonymous_enable": False, "local_enable": True, "write_enable": True,
            "guest_enable": True, "guest_username": GUEST, "user_sub_token": "$USER",
            "pam_service_name": SERVICE, "local_umask": "022", "anon_umask": "077",
            "module_dir": module_dir()}
    opts.update(options)
    return harness.Server(tmpdir, opts)


def stor(ftp, name, data=b"uploaded\n"):
    try:
        return ftp.storbinary(f"STOR {name}", io.BytesIO(data))
    except ftplib.error_perm as e:
        return str(e)


def read(ftp, name):
    out = io.BytesIO()
    ftp.retrbinary(f"RETR {name}", out.write)
    return out.getvalue()


def test_guest_is_chrooted_to_its_own_directory(env, tmpdir_e2e, site):
    with guest_server(tmpdir_e2e, site).start() as srv:
        ftp = site.login(srv, "fred")
        assert ftp.pwd() == "/"
        assert read(ftp, "fred.txt") == b"fred's file\n"
        assert code(raw_cmd(ftp, "SIZE wilma.txt")) == 550
        assert code(raw_cmd(ftp, "CWD ../wilma")) == 550
        ftp.quit()
        ftp = site.login(srv, "wilma")
        assert read(ftp, "wilma.txt") == b"wilma's file\n"
        ftp.quit()


def test_unknown_virtual_user_and_wrong_password_are_refused(env, tmpdir_e2e, site):
    with guest_server(tmpdir_e2e, site).start() as srv:
        for user, password in (("fred", "wrong"), ("barney", site.password["fred"]),
                               (GUEST, "anything")):
            ftp = srv.connect()
            with pytest.raises(ftplib.error_perm, match="^530"):
                ftp.login(user, password)
            ftp.close()


def test_guest_has_anonymous_rights(env, tmpdir_e2e, site):
    """write_enable=YES is not enough: a guest needs anon_upload_enable, as anonymous."""
    with guest_server(tmpdir_e2e, site, anon_upload_enable=False).start() as srv:
        ftp = site.login(srv, "fred")
        assert stor(ftp, "upload/refused.txt").startswith("550")
        ftp.quit()
    assert not os.path.exists(os.path.join(site.base, "fred", "upload", "refused.txt"))


def test_guest_upload_runs_as_guest_username_with_anon_umask(env, tmpdir_e2e, site):
    name = f"up-{secrets.token_hex(3)}.txt"
    with guest_server(tmpdir_e2e, site, anon_upload_enable=True).start() as srv:
        ftp = site.login(srv, "fred")
        assert stor(ftp, f"upload/{name}").startswith("226")
        ftp.quit()
    st = os.stat(os.path.join(site.base, "fred", "upload", name))
    assert (st.st_uid, st.st_gid) == (site.uid, site.gid)
    assert st.st_mode & 0o777 == 0o600  # anon_umask=077, not local_umask=022


def test_virtual_use_local_privs_gives_local_rights(env, tmpdir_e2e, site):
    name = f"local-{secrets.token_hex(3)}.txt"
    with guest_server(tmpdir_e2e, site, virtual_use_local_privs=True,
                      chroot_local_user=True).start() as srv:
        ftp = site.login(srv, "wilma")
        assert ftp.pwd() == "/"
        assert stor(ftp, f"upload/{name}").startswith("226")  # write_enable suffices
        ftp.quit()
    st = os.stat(os.path.join(site.base, "wilma", "upload", name))
    assert st.st_uid == site.uid
    assert st.st_mode & 0o777 == 0o644  # local_umask=022


def test_user_config_dir_is_read_under_the_virtual_name(env, tmpdir_e2e, site):
    """The usual hosting setup: per-user files give one virtual user uploads (the main
    file does not mention anon_upload_enable: moatftpd loads its module for the user's
    file)."""
    with open(os.path.join(site.config_dir, "fred"), "w") as f:
        f.write("anon_upload_enable=YES\n")
    name = f"percfg-{secrets.token_hex(3)}.txt"
    with guest_server(tmpdir_e2e, site, user_config_dir=site.config_dir).start() as srv:
        ftp = site.login(srv, "wilma")
        assert stor(ftp, f"upload/{name}").startswith("550")
        ftp.quit()
        ftp = site.login(srv, "fred")
        assert stor(ftp, f"upload/{name}").startswith("226")
        ftp.quit()


def test_local_root_takes_the_user_sub_token(env, tmpdir_e2e, site):
    """local_root=BASE/$USER/upload: the token is replaced there too (vsftpd)."""
    root = os.path.join(site.base, "$USER", "upload")
    name = f"lr-{secrets.token_hex(3)}.txt"
    with guest_server(tmpdir_e2e, site, local_root=root, anon_upload_enable=True,
                      allow_writeable_chroot=True).start() as srv:
        ftp = site.login(srv, "wilma")
        assert stor(ftp, name).startswith("226")
        ftp.quit()
    assert os.path.exists(os.path.join(site.base, "wilma", "upload", name))
