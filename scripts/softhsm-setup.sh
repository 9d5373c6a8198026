#!/usr/bin/env bash
# Set up a private SoftHSM2 token for the KMS (tests and the demo).
#   scripts/softhsm-setup.sh DIR [LABEL]
# Creates DIR/softhsm2.conf and DIR/tokens/, initialises a token LABEL
# (default "veil-kms") with a random SO PIN and user PIN, writes the user PIN
# to DIR/pin and the SO PIN to DIR/so-pin (both mode 0600), and prints the
# environment to use:
#   export SOFTHSM2_CONF=DIR/softhsm2.conf
# `veil kms init --hsm-token LABEL --hsm-pin-file DIR/pin` then creates the
# root key in the token. Running it again on the same DIR keeps the token.
set -euo pipefail
umask 077

dir=${1:?usage: softhsm-setup.sh DIR [LABEL]}
label=${2:-veil-kms}
util=$(command -v softhsm2-util || true)
if [ -z "$util" ]; then
  echo "softhsm-setup: softhsm2-util not found (apt-get install softhsm2, or scripts/install-deps.sh)" >&2
  exit 1
fi

mkdir -p "$dir/tokens"
dir=$(cd "$dir" && pwd)
conf="$dir/softhsm2.conf"
cat >"$conf" <<CONF
# SoftHSM2 configuration for veil (scripts/softhsm-setup.sh)
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
export SOFTHSM2_CONF="$conf"

if [ -s "$dir/pin" ] && "$util" --show-slots 2>/dev/null | grep -q "Label:[[:space:]]*$label[[:space:]]*\$"; then
  echo "softhsm-setup: token '$label' already initialised in $dir/tokens" >&2
else
  rand() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
  so_pin=$(rand)
  pin=$(rand)
  "$util" --init-token --free --label "$label" --so-pin "$so_pin" --pin "$pin" >/dev/null
  printf '%s' "$pin" >"$dir/pin"
  printf '%s' "$so_pin" >"$dir/so-pin"
  chmod 600 "$dir/pin" "$dir/so-pin"
  echo "softhsm-setup: token '$label' initialised in $dir/tokens (user PIN in $dir/pin)" >&2
fi

echo "export SOFTHSM2_CONF=$conf"
