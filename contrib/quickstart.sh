#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Quick start on Debian 12, as root: install what is missing, build, and run a demo
# moatftpd on 127.0.0.1 (port 2121, or $MOAT_DEMO_PORT) serving a demo directory to
# anonymous users read-only and to one demo user whose password it prints. The demo
# user exists only in a private mount namespace: nothing changes in the host's /etc.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" != 0 ]; then
  echo "quickstart: run as root (it uses a private mount namespace and chroot)" >&2
  exit 1
fi
bash "$top/contrib/install-deps.sh"
cd "$top"
[ -x configure ] || autoreconf -fi
mkdir -p build
cd build
[ -f Makefile ] || ../configure
make -j2
exec "$top/tests/e2e/nsrun" --host-net /usr/bin/python3 "$top/tests/e2e/demo.py" "$top/build"
