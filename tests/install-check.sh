#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# make install into a DESTDIR: what README's install list promises is installed, and the
# installed binary accepts the installed sample configuration.
set -eu
bld=$1
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
make -s -C "$bld" install DESTDIR="$dest" >/dev/null
prefix=$(sed -n 's/^prefix = //p' "$bld/Makefile")
sysconf=$(sed -n 's/^sysconfdir = //p' "$bld/Makefile" | sed "s|\${prefix}|$prefix|")
# pkglibdir follows --libdir: find where make install put the module.
modules=$(find "$dest" -path '*/moatftpd/modules/mod_iplimit.so' | sed "s|^$dest||; s|/mod_iplimit.so\$||")
[ -n "$modules" ] || { echo "install-check: mod_iplimit.so not installed in .../moatftpd/modules" >&2; exit 1; }
unitdir=$(sed -n 's/^systemdunitdir = //p' "$bld/Makefile" | sed "s|\${prefix}|$prefix|")
emptydir=$prefix/share/moatftpd/empty
for f in "$prefix/sbin/moatftpd" "$sysconf/moatftpd/ftpd.conf" "$sysconf/pam.d/moatftpd" \
         "$prefix/share/man/man5/ftpd.conf.5" "$prefix/share/man/man8/moatftpd.8" \
         "$prefix/include/moatftpd/moat_module.h" "$modules/mod_iplimit.so" \
         "$modules/mod_anon_upload.so" "$modules/mod_throttle.so" \
         "${modules%/moatftpd/modules}/pkgconfig/moatftpd.pc" "$unitdir/moatftpd.service" \
         "$sysconf/logrotate.d/moatftpd" "$prefix/lib/firewalld/services/moatftpd.xml" \
         "$sysconf/fail2ban/filter.d/moatftpd.conf" "$sysconf/fail2ban/jail.d/moatftpd.conf"; do
  [ -s "$dest$f" ] || { echo "install-check: missing $f" >&2; exit 1; }
done
fail() { echo "install-check: $*" >&2; exit 1; }
# The unit runs the installed binary on the installed configuration.
grep -qx "ExecStart=$prefix/sbin/moatftpd $sysconf/moatftpd/ftpd.conf" "$dest$unitdir/moatftpd.service" ||
  fail "moatftpd.service does not start $prefix/sbin/moatftpd $sysconf/moatftpd/ftpd.conf"
! grep -q @ "$dest$unitdir/moatftpd.service" || fail "moatftpd.service has an unsubstituted @VAR@"
# secure_chroot_dir's default, as the installed man page states it, is installed empty
# and read-only, so the sample configuration passes -t as it is.
grep -q "secure_chroot_dir.*default .fB$emptydir" "$dest$prefix/share/man/man5/ftpd.conf.5" ||
  fail "ftpd.conf(5) does not give $emptydir as secure_chroot_dir's default"
[ -d "$dest$emptydir" ] && [ -z "$(ls -A "$dest$emptydir")" ] || fail "no empty $emptydir"
[ "$(stat -c %a "$dest$emptydir")" = 555 ] || fail "$emptydir is not mode 0555"
# The PAM file is installed under DESTDIR, where PAM does not look: -t checks the PAM
# service only with local logins on.
"$dest$prefix/sbin/moatftpd" -t -o secure_chroot_dir="$dest$emptydir" -o local_enable=NO \
  "$dest$sysconf/moatftpd/ftpd.conf"
# The installed module loads into the installed server (test modules are not installed).
"$dest$prefix/sbin/moatftpd" -t -o secure_chroot_dir="$dest$emptydir" -o local_enable=NO \
  -o module_dir="$dest$modules" \
  -o load_module=mod_iplimit -o max_per_ip=3 "$dest$sysconf/moatftpd/ftpd.conf"
[ ! -e "$dest$modules/mod_hooktest.so" ] || fail "test module installed"
echo "install-check: OK"
