#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The worked example of contrib/MODULES.md builds as the guide says, as C99 against the
# installed header alone, found through the installed moatftpd.pc, and loads into the
# server (moatftpd -t).
# Usage: module-example-check.sh SRCDIR BUILDDIR   (exit 77: no C compiler or pkg-config)
set -eu
src=$1
bld=$2
cc=${CC:-cc}
pkgconfig=${PKG_CONFIG:-pkg-config}
for tool in "$cc" "$pkgconfig"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "module-example: no $tool; skipping" >&2; exit 77; }
done
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# Only what a module author needs: the header and the .pc file.
make -s -C "$bld" install-pkgincludeHEADERS install-pkgconfigDATA DESTDIR="$dir/root" >/dev/null
libdir=$("$pkgconfig" --variable=libdir "$bld/moatftpd.pc")
cflags=$(PKG_CONFIG_SYSROOT_DIR="$dir/root" PKG_CONFIG_PATH="$dir/root$libdir/pkgconfig" \
  "$pkgconfig" --cflags moatftpd)
"$cc" -std=c99 -pedantic -Werror -O2 -Wall -Wextra -fPIC -shared -Wl,-z,defs \
  $cflags -o "$dir/mod_example.so" "$src/contrib/mod_example/mod_example.c"
chmod 755 "$dir" "$dir/mod_example.so"
# secure_chroot_dir=/ and no anonymous login only so that -t needs nothing else to exist.
printf 'listen=YES\nsecure_chroot_dir=/\nanonymous_enable=NO\n' >"$dir/ftpd.conf"
out=$("$bld/moatftpd" -t -o module_dir="$dir" -o load_module=mod_example \
  -o example_deny_prefix=192.0.2. -o example_log_refusals=NO "$dir/ftpd.conf")
echo "$out"
case $out in *"configuration OK"*) ;; *) exit 1 ;; esac
if "$bld/moatftpd" -t -o example_deny_prefix=x "$dir/ftpd.conf" 2>/dev/null
then
  echo "module-example: example_deny_prefix accepted without load_module" >&2
  exit 1
fi
echo "module-example: OK"
