#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds the libFuzzer targets from the sources and runs each for a while.
# Usage: run.sh SRCDIR OUTDIR SECONDS   (exit 0: no crash; 1: crash or build
# failure; 77: no clang++ with libFuzzer here, so the test is skipped)
set -u

if [ $# -ne 3 ]; then
  echo "usage: $0 SRCDIR OUTDIR SECONDS" >&2
  exit 2
fi
SRC=$1
OUT=$2
SECS=$3
FUZZ_CXX=${FUZZ_CXX:-clang++}
FLAGS="-std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"

if ! command -v "$FUZZ_CXX" >/dev/null 2>&1; then
  echo "fuzz: $FUZZ_CXX not found (apt-get install clang); skipping" >&2
  exit 77
fi
mkdir -p "$OUT" || exit 1

# target name, then the sources it links besides its own file
TARGETS="fuzz_command:core/protocol/ftpcmd.cpp:core/common/util.cpp
fuzz_addr:core/protocol/ftpcmd.cpp:core/common/sockaddr.cpp:core/protocol/ls.cpp:core/common/userdb.cpp:core/common/util.cpp
fuzz_ipc:privsep/ipc.cpp:privsep/key_ops.cpp:core/common/util.cpp
fuzz_key_ops:privsep/key_ops.cpp:privsep/ipc.cpp:core/common/util.cpp
fuzz_filter:core/common/filter.cpp:core/common/util.cpp
fuzz_ls_line:core/protocol/ls.cpp:core/common/userdb.cpp:core/common/util.cpp
fuzz_proxy:core/master/proxy_header.cpp:core/common/util.cpp
fuzz_wrappers_options:privsep/wrappers_options.cpp
fuzz_iplimit_link:modules/mod_iplimit/link_message.cpp
fuzz_config:core/common/config.cpp:core/common/man_format.cpp:core/common/util.cpp:core/host/modules.cpp:core/host/module_catalog.cpp:core/host/module_host.cpp:core/common/server_log.cpp:core/common/json_line.cpp:core/common/xferlog.cpp"

status=0
for spec in $TARGETS; do
  name=${spec%%:*}
  srcs="$SRC/tests/fuzz/$name.cpp"
  rest=${spec#*:}
  for f in $(echo "$rest" | tr ':' ' '); do srcs="$srcs $SRC/$f"; done

  echo "fuzz: building $name"
  # shellcheck disable=SC2086  # FLAGS and srcs are word lists on purpose
  if ! $FUZZ_CXX $FLAGS -I"$SRC" $srcs -o "$OUT/$name" -lcrypto; then
    echo "fuzz: $name failed to build" >&2
    status=1
    continue
  fi

  corpus="$OUT/corpus/$name"  # new inputs go here, never into the source tree
  mkdir -p "$corpus"
  echo "fuzz: running $name for ${SECS}s"
  if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
      "$OUT/$name" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=4200 \
      -print_final_stats=1 -artifact_prefix="$OUT/$name-" \
      "$corpus" "$SRC/tests/fuzz/corpus/$name" >"$OUT/$name.log" 2>&1; then
    echo "fuzz: $name FAILED; last lines of $OUT/$name.log:" >&2
    tail -n 40 "$OUT/$name.log" >&2
    status=1
  else
    grep -E '^stat::number_of_executed_units|^Done' "$OUT/$name.log" | sed "s/^/fuzz: $name: /"
  fi
done
exit $status
