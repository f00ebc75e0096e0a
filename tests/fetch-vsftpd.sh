#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Unpacks Debian's vsftpd into DIR (DIR/root/usr/sbin/vsftpd, DIR/VERSION) for the tests
# and the bench to compare against. Debian's FTP servers conflict as packages, so it is
# downloaded and unpacked, never installed. Does nothing when DIR already has it.
# Usage: fetch-vsftpd.sh DIR   (as root, for apt-get)
set -euo pipefail
dir=$1
[[ -x "$dir/root/usr/sbin/vsftpd" ]] && exit 0
mkdir -p "$dir"
rm -rf "$dir/root" "$dir"/vsftpd_*.deb
# Download into a scratch dir of _apt's so apt can drop privileges while fetching.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chown _apt "$tmp" 2>/dev/null || true
if ! (cd "$tmp" && apt-get download -qq vsftpd) 2>/dev/null; then
  echo "fetch-vsftpd: refreshing the apt lists to find vsftpd"
  apt-get update -qq
  (cd "$tmp" && apt-get download -qq vsftpd)
fi
deb=$(ls "$tmp"/vsftpd_*.deb)
mv "$deb" "$dir/"
deb="$dir/$(basename "$deb")"
dpkg -x "$deb" "$dir/root"
dpkg-deb -f "$deb" Version >"$dir/VERSION"
