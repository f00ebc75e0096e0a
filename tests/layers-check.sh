#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# privsep/ is the bottom layer (doc/DESIGN.md, "Layers"): the helper and its sandbox,
# IPC and PAM include from core/ only the shared headers named here, and those include
# nothing else of core/. What starts a worker lives above and is handed to the helper,
# so the FTP parser and the session are on none of the helper's code paths.
# Usage: layers-check.sh SRCDIR
set -eu
cd "$1"
shared='core/common/[a-z_]+\.(hpp|def)'
bad=$(grep -nE '#include "core/' privsep/*.hpp privsep/*.cpp | grep -vE "\"$shared\"" || true)
for h in core/common/*.hpp; do
  bad="$bad$(grep -nE '#include "core/' "$h" | grep -vE "\"$shared\"" | sed "s|^|$h:|" || true)"
done
if [ -n "$bad" ]; then
  echo "layers: privsep/ reaches above the shared headers:" >&2
  echo "$bad" >&2
  exit 1
fi
echo "layers: privsep/ includes only the shared headers of core/"
