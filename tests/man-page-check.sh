#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The ftpd.conf(5) that make installs (from the tarball's doc/ftpd.conf.5.in, or built
# in a git checkout) is the server's option table (moatftpd --man) with the first-party
# modules' section added from their .def files (tools/moat-module-man), since the
# server carries no module's options.
# Usage: man-page-check.sh BUILDDIR
set -eu
build=$1
page="$build/doc/ftpd.conf.5"
grep -q '^\.SH MODULE OPTIONS' "$page" || { echo "man page: no MODULE OPTIONS section" >&2; exit 1; }
grep -q '^\\fBmax_per_ip\\fR' "$page" || { echo "man page: mod_iplimit's options missing" >&2; exit 1; }
# The core's part, without the module section, is exactly what the server prints.
sed '/^\.SH MODULE OPTIONS/,/^\.SH /{/^\.SH MODULE OPTIONS/d;/^\.SH /!d}' "$page" >"$page.core"
trap 'rm -f "$page.core"' EXIT
"$build/moatftpd" --man | diff -u "$page.core" -
# In a git checkout the tool is built: then the whole page is what it makes.
if [ -x "$build/tools/moat-module-man" ]; then
  "$build/moatftpd" --man | "$build/tools/moat-module-man" | diff -u "$page" -
fi
echo "man page: the server's option table and the modules' section"
