#!/usr/bin/env bash
# Installs every Debian 12 package veil needs to build, test, fuzz and benchmark.
# Idempotent and non-interactive; run as root (or through sudo).
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ca-certificates
  clang libclang-rt-14-dev llvm clang-format
  libssl-dev openssl
  libjansson-dev
  libcmocka-dev
  libxml2-dev libxmlsec1-dev
  libmicrohttpd-dev
  libcurl4-openssl-dev
  softhsm2
  libsqlite3-dev sqlite3
  pocketsphinx libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us pocketsphinx-testdata
  libsndfile1-dev libsoxr-dev
  curl jq
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
