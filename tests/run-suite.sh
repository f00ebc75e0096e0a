#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The whole moatftpd test suite from a fresh clone: install what is missing, build out of
# tree in build/ and run `make check` (CTest), then the same with ASan/UBSan in build-asan/.
# Usage (as root, from any directory): bash tests/run-suite.sh
#   MOAT_SKIP_ASAN=1   skip the sanitizer build
#   CTEST_FLAGS=...    extra ctest arguments, e.g. "-R e2e_login"
#   MOAT_CTEST_JOBS=N  tests CTest runs at once (default 3: the e2e tests mostly wait on
#                      sockets and timers, so two cores run three of them at a time)
# Exits non-zero if any stage fails; the last line is "suite: N passed, N failed".
set -uo pipefail
exec </dev/null  # CI has no stdin; nothing here may wait for a keypress

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly SRC
readonly JOBS=2
readonly CTEST_JOBS=${MOAT_CTEST_JOBS:-3}
readonly SUITE_START=$SECONDS
readonly SUITE_BUDGET=900  # seconds: the whole suite must stay under 15 minutes on 2 cores

stage_names=()
stage_results=()
stage_seconds=()
tests_passed=0
tests_failed=0

say() { printf '\n==== run-suite: %s\n' "$*"; }

# Runs "$@" as one named stage, records its result and duration; returns its status.
run_stage() {
  local name=$1 start=$SECONDS status
  shift
  say "$name"
  "$@"
  status=$?
  stage_names+=("$name")
  stage_seconds+=($((SECONDS - start)))
  if ((status == 0)); then stage_results+=(ok); else stage_results+=("FAILED ($status)"); fi
  return "$status"
}

# autoreconf only when configure is missing or older than configure.ac: a fresh clone has
# no configure, and regenerating it needlessly would rebuild everything.
ensure_configure() {
  if [[ -f "$SRC/config.status" ]]; then
    echo "$SRC is configured in-tree; run 'make distclean' there first" >&2
    return 1
  fi
  if [[ -x "$SRC/configure" && -f "$SRC/Makefile.in" &&
        ! "$SRC/configure.ac" -nt "$SRC/configure" ]]; then
    echo "configure is up to date"
    return 0
  fi
  (cd "$SRC" && autoreconf -fi)
}

# configure_build DIR [CONFIGURE_ARGS...]: configure DIR unless it already is, with the
# same arguments, since configure last changed (make reruns config.status when it must).
configure_build() {
  local dir=$1 stamp="$1/.run-suite-configure-args"
  shift
  mkdir -p "$dir" || return
  if [[ -f "$dir/Makefile" && "$dir/config.status" -nt "$SRC/configure" &&
        "$(cat "$stamp" 2>/dev/null)" == "$*" ]]; then
    echo "$dir already configured"
    return 0
  fi
  (cd "$dir" && ../configure -q "$@") && printf '%s' "$*" >"$stamp"
}

build() { make -C "$1" -j"$JOBS"; }

# check DIR [MAKE_ARGS...]: make check (test programs built in parallel, CTest runs them
# one at a time), keeping CTest's output to count its tests.
check() {
  local dir=$1 log="$1/suite-check.log" status line
  shift
  make -C "$dir" -j"$JOBS" check "$@" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n1)
  local failed=0 total=0
  if [[ $line =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
    failed=${BASH_REMATCH[1]} total=${BASH_REMATCH[2]}
  fi
  # make check can fail before CTest reports anything (a test program that fails to build).
  ((status != 0 && failed == 0)) && failed=1 total=$((total + 1))
  tests_failed=$((tests_failed + failed))
  tests_passed=$((tests_passed + total - failed))
  return "$status"
}

# variant LABEL DIR CTEST_FLAGS CONFIGURE_ARGS...: configure, build and check in DIR;
# stops at the first failing step.
variant() {
  local label=$1 dir=$2 ctest_flags=$3
  shift 3
  run_stage "$label: configure" configure_build "$dir" "$@" &&
    run_stage "$label: build" build "$dir" &&
    run_stage "$label: make check" check "$dir" "CTEST_FLAGS=$ctest_flags"
}

summary() {
  local i failed=0 stage_failures=0
  say "summary (source $SRC)"
  for i in "${!stage_names[@]}"; do
    printf '  %-28s %-12s %4ss\n' "${stage_names[$i]}" "${stage_results[$i]}" "${stage_seconds[$i]}"
    [[ ${stage_results[$i]} == ok ]] && continue
    failed=$((failed + 1))
    # A failed stage other than make check counts as one failure: no test ran there.
    [[ ${stage_names[$i]} == *"make check" ]] || stage_failures=$((stage_failures + 1))
  done
  if [[ ${MOAT_SKIP_ASAN:-0} == 1 ]]; then
    echo "  (ASan/UBSan build skipped: MOAT_SKIP_ASAN=1)"
  else
    echo "  (the fuzz test runs in the default build only: its targets always use ASan/UBSan)"
  fi
  local total=$((SECONDS - SUITE_START))
  printf '  total time: %ss\n' "$total"
  ((total <= SUITE_BUDGET)) ||
    echo "  WARNING: over the suite's budget of ${SUITE_BUDGET}s on 2 cores: trim something"
  echo "suite: $tests_passed passed, $((tests_failed + stage_failures)) failed"
  return $((failed > 0))
}

# Debian's dpkg-buildflags (CPPFLAGS, CXXFLAGS, LDFLAGS) as configure arguments.
distro_flags() {
  local var
  DISTRO_FLAGS=()
  command -v dpkg-buildflags >/dev/null 2>&1 || return 0
  for var in CPPFLAGS CXXFLAGS LDFLAGS; do
    DISTRO_FLAGS+=("$var=$(cd "$SRC" && dpkg-buildflags --get "$var")")
  done
}

# vsftpd for the tests that compare with it (test_logs, test_vsftpd_coverage), where
# tests/e2e/harness.py looks for it. Without it those comparisons skip, so a failed
# download is said, not counted as a failure.
fetch_vsftpd() {
  bash "$SRC/tests/fetch-vsftpd.sh" "$SRC/build/bench/vsftpd" ||
    echo "  WARNING: vsftpd could not be unpacked: the comparisons with it will skip"
  return 0
}

main() {
  if ((EUID != 0)); then
    echo "run-suite: run as root (sudo bash $0): the e2e tests need namespaces and chroot" >&2
    exit 1
  fi
  run_stage "install dependencies" bash "$SRC/contrib/install-deps.sh" &&
    fetch_vsftpd &&
    run_stage "autoreconf if needed" ensure_configure &&
    {
      distro_flags
      # Warnings are errors here (configure only makes them so when asked), and the
      # default build uses Debian's packaging flags, as a distribution would build it.
      variant "default" "$SRC/build" "-j$CTEST_JOBS ${CTEST_FLAGS:-}" --enable-werror \
        "${DISTRO_FLAGS[@]}"
      if [[ ${MOAT_SKIP_ASAN:-0} != 1 ]]; then
        # The fuzz targets are built with ASan/UBSan whatever configure says: run them once.
        # -O1, as the ASan docs advise: -O2 with ASan+UBSan compiles almost twice as slowly.
        variant "asan+ubsan" "$SRC/build-asan" "-j$CTEST_JOBS -E ^fuzz ${CTEST_FLAGS:-}" \
          --enable-werror --enable-sanitizers CXXFLAGS="-g -O1"
      fi
    }
  summary
}

main "$@"
