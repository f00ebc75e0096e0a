#!/bin/sh
# make install into a DESTDIR: what the issue promises is installed, and the
# installed binary accepts the installed sample configuration.
set -eu
bld=$1
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
make -s -C "$bld" install DESTDIR="$dest" >/dev/null
prefix=$(sed -n 's/^prefix = //p' "$bld/Makefile")
sysconf=$(sed -n 's/^sysconfdir = //p' "$bld/Makefile" | sed "s|\${prefix}|$prefix|")
for f in "$prefix/sbin/moatftpd" "$sysconf/moatftpd/ftpd.conf" "$sysconf/pam.d/moatftpd" \
         "$prefix/share/man/man5/ftpd.conf.5" "$prefix/share/man/man8/moatftpd.8"; do
  [ -s "$dest$f" ] || { echo "install-check: missing $f" >&2; exit 1; }
done
empty=$(mktemp -d)
chmod 755 "$empty"
"$dest$prefix/sbin/moatftpd" -t -o secure_chroot_dir="$empty" "$dest$sysconf/moatftpd/ftpd.conf"
rmdir "$empty"
echo "install-check: OK"
