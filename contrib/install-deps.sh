#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs, on Debian 12 as root, whatever is missing of the packages moatftpd needs to
# build, run its tests, fuzz and benchmark. Idempotent: nothing is fetched when all are present.
set -euo pipefail

# The one list of build and test dependencies (quickstart.sh and run-suite.sh call this).
# clang builds the libFuzzer targets; libclang-rt-dev holds libFuzzer itself and clang's
# sanitizer runtimes, which clang only recommends. fail2ban: fail2ban-regex tests
# contrib's filter (its service is not started by the tests). haproxy and redis-server:
# the PROXY protocol and cluster e2e tests run them in front of and beside moatftpd
# (their services are not used either). libhiredis-dev: mod_iplimit's Redis backend.
readonly PACKAGES=(
  build-essential autoconf automake autoconf-archive libtool pkg-config
  libevent-dev libssl-dev libseccomp-dev libpam0g-dev libwrap0-dev libhiredis-dev
  libgtest-dev cmake
  python3 python3-pytest curl lftp iproute2 openssl
  clang libclang-rt-dev libpam-wrapper util-linux
  fail2ban haproxy redis-server
)

is_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  is_installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

if ((EUID != 0)); then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (sudo bash $0) to install them" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Wait for a concurrent apt/dpkg run instead of failing on its lock.
readonly APT_OPTS=(-o DPkg::Lock::Timeout=600)
apt-get "${APT_OPTS[@]}" update -qq </dev/null
apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
echo "install-deps: done"
