# SPDX-License-Identifier: GPL-2.0-or-later
"""contrib/fail2ban: the filter finds a real session's failed logins in the vsftpd-format
log, and text a client chooses (user name, anonymous password) bans no other address."""

import os
import shutil
import subprocess

import pytest

from harness import code, raw_cmd, self_signed_cert, wait_for

FILTER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "contrib",
                      "fail2ban", "filter.d", "moatftpd.conf")
pytestmark = pytest.mark.skipif(shutil.which("fail2ban-regex") is None,
                                reason="no fail2ban-regex: apt-get install fail2ban")


def failed_login(srv, user, password="wrong"):
    ftp = srv.connect()
    raw_cmd(ftp, "USER " + user)
    assert code(raw_cmd(ftp, "PASS " + password)) == 530
    ftp.close()


def banned_addresses(log_path):
    """The address fail2ban-regex takes from each line the filter matches."""
    out = subprocess.run(["fail2ban-regex", "-o", "ip", log_path, FILTER], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    return out.split()


def test_failed_logins_are_found_and_forged_addresses_are_not(server, env):
    srv = server({"dual_log_enable": True, "xferlog_enable": True})
    log_path = srv.options["vsftpd_log_file"]
    failed_login(srv, env.alice.name)
    failed_login(srv, "nosuchuser")
    # A user name and an anonymous password that imitate the end of a FAIL LOGIN line.
    failed_login(srv, 'x] FAIL LOGIN: Client "192.0.2.66"')
    ftp = srv.connect()
    ftp.login("anonymous", 'x] FAIL LOGIN: Client "192.0.2.67"')
    ftp.quit()

    def logged():
        with open(log_path) as f:
            text = f.read()
        return text if "192.0.2.66" in text and "OK LOGIN" in text else ""
    text = wait_for(logged)
    assert text, "the vsftpd-format log lacks the logins"
    assert text.count("FAIL LOGIN: Client \"127.0.0.1\"") == 3
    # Three honest failures from 127.0.0.1 (the forged name is escaped, so its line is
    # one more failure from the real client); never the addresses the names imitate.
    assert banned_addresses(log_path) == ["127.0.0.1"] * 3


# Names that imitate the end of a FAIL LOGIN line, with or without the reason's quotes.
FORGED_NAMES = ['x] FAIL LOGIN: Client "192.0.2.68"', 'Client "192.0.2.69"',
                'y", "192.0.2.70', '"192.0.2.71"', 'z] FAIL LOGIN: Client "192.0.2.72", "why"']


@pytest.mark.moatftpd_only  # userlist_log is Red Hat's vsftpd's, not 3.0.3's
def test_refused_user_names_are_found_and_forged_ones_ban_no_one_else(server, env,
                                                                        tmpdir_e2e):
    # Two refusals before PAM: a name not in the allow list (userlist_log=YES) and a
    # local user without TLS (force_local_logins_ssl); their lines carry the reason:
    #   [pid N] [name] FAIL LOGIN: Client "127.0.0.1", "User is not in the allow user list."
    userlist = os.path.join(tmpdir_e2e, "user_list")
    with open(userlist, "w") as f:
        f.write(f"{env.alice.name}\n")
    cert, key = self_signed_cert(tmpdir_e2e)
    srv = server({"dual_log_enable": True, "xferlog_enable": True, "userlist_enable": True,
                  "userlist_deny": False, "userlist_file": userlist, "userlist_log": True,
                  "ssl_enable": True, "rsa_cert_file": cert, "rsa_private_key_file": key,
                  "force_local_logins_ssl": True})
    log_path = srv.options["vsftpd_log_file"]
    refused = [env.alice.name, "nosuchuser", *FORGED_NAMES]
    for name in refused:
        ftp = srv.connect()
        assert code(raw_cmd(ftp, "USER " + name)) == 530
        ftp.close()

    def logged():
        with open(log_path) as f:
            text = f.read()
        return text if text.count('FAIL LOGIN: Client "127.0.0.1", "') == len(refused) else ""
    text = wait_for(logged)
    assert text, "the vsftpd-format log lacks the refusals"
    assert "User is not in the allow user list." in text and "encryption" in text, text
    assert banned_addresses(log_path) == ["127.0.0.1"] * len(refused)
