#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# make install into a DESTDIR: what the issue promises is installed, and the
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
for f in "$prefix/sbin/moatftpd" "$sysconf/moatftpd/ftpd.conf" "$sysconf/pam.d/moatftpd" \
         "$prefix/share/man/man5/ftpd.conf.5" "$prefix/share/man/man8/moatftpd.8" \
         "$prefix/include/moatftpd/moat_module.h" "$modules/mod_iplimit.so"; do
  [ -s "$dest$f" ] || { echo "install-check: missing $f" >&2; exit 1; }
done
empty=$(mktemp -d)
chmod 755 "$empty"
"$dest$prefix/sbin/moatftpd" -t -o secure_chroot_dir="$empty" "$dest$sysconf/moatftpd/ftpd.conf"
# The installed module loads into the installed server (test modules are not installed).
"$dest$prefix/sbin/moatftpd" -t -o secure_chroot_dir="$empty" -o module_dir="$dest$modules" \
  -o load_module=mod_iplimit -o max_per_ip=3 "$dest$sysconf/moatftpd/ftpd.conf"
[ ! -e "$dest$modules/mod_hooktest.so" ] || { echo "install-check: test module installed" >&2; exit 1; }
rmdir "$empty"
echo "install-check: OK"
