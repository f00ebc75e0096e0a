#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Each row of the command table (core/session/session_commands.cpp) names the e2e test
# files of its command, so that a reader starting from the table finds the handler, the
# permission it needs and its tests. This keeps those names true: every row names at
# least one file, each file exists, and each mentions the verb.
# Usage: commands-check.sh SRCDIR
set -eu
cd "$1"
rows=$(grep -E '^ +\{"[A-Z]+", ' core/session/session_commands.cpp)
[ -n "$rows" ] || { echo "commands: no rows found in the command table" >&2; exit 1; }
status=0
n=0
# A row: {"VERB", handler, preauth, needs_arg, writes, "test_a.py test_b.py"[, ...]},
while IFS= read -r row; do
  n=$((n + 1))
  verb=$(printf '%s\n' "$row" | sed -E 's/^ +\{"([A-Z]+)".*/\1/')
  files=$(printf '%s\n' "$row" | sed -nE 's/.*, "(test_[a-z0-9_]+\.py( test_[a-z0-9_]+\.py)*)".*/\1/p')
  if [ -z "$files" ]; then
    echo "commands: $verb names no test file" >&2
    status=1
    continue
  fi
  for f in $files; do
    if [ ! -f "tests/e2e/$f" ]; then
      echo "commands: $verb: tests/e2e/$f does not exist" >&2
      status=1
    elif ! grep -qiw -- "$verb" "tests/e2e/$f"; then
      echo "commands: $verb: tests/e2e/$f never mentions $verb" >&2
      status=1
    fi
  done
done <<ROWS
$rows
ROWS
[ "$status" -eq 0 ] && echo "commands: each of the $n commands names its tests, and they name it"
exit "$status"
