#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# A distribution's compiler flags build moatftpd even with --enable-werror: their FORTIFY
# level replaces ours instead of redefining it, and their flags come last so they win.
# Configures a temp build dir and compiles a few objects (the flags are under test, not
# the code; tests/run-suite.sh builds everything with Debian's flags). The fedora run
# also leaves out the optional libraries (--without-libwrap --without-hiredis) and
# compiles the files whose code depends on them, so that configuration stays
# warning-free under -Werror too.
# Usage: build-flags-check.sh SRCDIR fedora|debian
set -eu
src=$(cd "$1" && pwd)
case $2 in
  # Fedora's %{optflags} for C++ (redhat-rpm-config), without its -specs= files and -m64.
  fedora)
    cppflags=
    cxxflags="-O2 -flto=auto -ffat-lto-objects -fexceptions -g -grecord-gcc-switches -pipe
      -Wall -Werror=format-security -Wp,-D_FORTIFY_SOURCE=3 -Wp,-D_GLIBCXX_ASSERTIONS
      -fstack-protector-strong -fasynchronous-unwind-tables -fstack-clash-protection
      -fcf-protection"
    ldflags="-Wl,-z,relro -Wl,--as-needed -Wl,-z,now"
    without="--without-libwrap --without-hiredis" ;;
  debian)
    command -v dpkg-buildflags >/dev/null 2>&1 || { echo "build-flags: no dpkg-buildflags; skipping" >&2; exit 77; }
    cppflags=$(dpkg-buildflags --get CPPFLAGS)
    cxxflags=$(dpkg-buildflags --get CXXFLAGS)
    ldflags=$(dpkg-buildflags --get LDFLAGS)
    without= ;;
  *) echo "usage: $0 SRCDIR fedora|debian" >&2; exit 2 ;;
esac
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
"$src/configure" -q --enable-werror $without CPPFLAGS="$cppflags" CXXFLAGS="$(echo $cxxflags)" LDFLAGS="$ldflags"
# Theirs, not ours: one FORTIFY level on the command line.
make -n core/common/util.o | grep -q -- '-D_FORTIFY_SOURCE=2.*_FORTIFY_SOURCE' &&
  { echo "build-flags: two _FORTIFY_SOURCE definitions" >&2; exit 1; }
make -s core/common/util.o core/common/config.o core/master/main.o modules/mod_iplimit/so-mod_iplimit.o \
  privsep/wrappers.o privsep/libwrap.o privsep/libwrap_hooks.o modules/mod_iplimit/so-redis_child.o
echo "build-flags: $2 OK"
