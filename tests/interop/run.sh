#!/bin/sh
# Interop test against independent JavaScript implementations (ctest interop/npm).
#
#   run.sh VEIL_BINARY WORKDIR INTEROP_PEER
#
# Installs pinned npm packages (@hpke/core and its X25519/X448/ChaCha20-Poly1305
# extensions, bhttp-js) into WORKDIR/node_modules — never into the source tree —
# then runs interop.mjs, which drives veil through INTEROP_PEER (JSON lines on
# stdin/stdout). The install is skipped when WORKDIR/node_modules already holds
# an install of the same package.json.
#
# Exit status: that of interop.mjs; 77 (ctest SKIP) with a reason when node is
# missing or older than 20, or npm cannot reach its registry.
set -u

if [ $# -ne 3 ]; then
    echo "usage: $0 VEIL_BINARY WORKDIR INTEROP_PEER" >&2
    exit 2
fi
veil=$1
workdir=$2
peer=$3
here=$(cd "$(dirname "$0")" && pwd)

skip() {
    echo "SKIP: $*"
    exit 77
}

for f in "$veil" "$peer"; do
    if [ ! -x "$f" ]; then
        echo "interop: $f is not an executable (build it first)" >&2
        exit 2
    fi
done

command -v node >/dev/null 2>&1 || skip "node is not installed"
command -v npm >/dev/null 2>&1 || skip "npm is not installed"
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)
case $node_major in
'' | *[!0-9]*) skip "cannot tell node's version" ;;
esac
[ "$node_major" -ge 20 ] || skip "node $(node --version) is older than 20"

mkdir -p "$workdir" || exit 2

# Exact versions, checked against this test; @hpke/common (a dependency of every
# @hpke package) is pinned too, through "overrides".
cat >"$workdir/package.json.new" <<'EOF'
{
  "name": "veil-interop",
  "private": true,
  "description": "veil's interop test: packages installed by tests/interop/run.sh",
  "type": "module",
  "dependencies": {
    "@hpke/core": "1.9.0",
    "@hpke/dhkem-x25519": "1.8.0",
    "@hpke/dhkem-x448": "1.8.0",
    "@hpke/chacha20poly1305": "1.8.0",
    "bhttp-js": "0.2.1"
  },
  "overrides": {
    "@hpke/common": "1.10.1"
  }
}
EOF
mv "$workdir/package.json.new" "$workdir/package.json"

stamp=$workdir/node_modules/.veil-interop-package.json
if [ -f "$stamp" ] && cmp -s "$stamp" "$workdir/package.json"; then
    echo "interop: npm packages already installed in $workdir/node_modules"
else
    echo "interop: npm install into $workdir/node_modules"
    rm -rf "$workdir/node_modules" "$workdir/package-lock.json"
    log=$workdir/npm-install.log
    # Fail fast when the registry is unreachable, rather than retrying for
    # minutes; no install scripts run.
    if ! (cd "$workdir" && npm install --no-audit --no-fund --ignore-scripts \
        --no-update-notifier --fetch-retries=1 --fetch-timeout=30000 \
        --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=5000) >"$log" 2>&1; then
        cat "$log"
        if grep -Eq 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ERR_SOCKET_TIMEOUT|network|request to .* failed|proxy' "$log"; then
            skip "npm cannot reach its registry (see $log)"
        fi
        echo "interop: npm install failed (not a network error; see $log)" >&2
        exit 1
    fi
    cp "$workdir/package.json" "$stamp"
fi
(cd "$workdir" && npm ls --depth=1 2>/dev/null | sed 's/^/interop: /')

# ES modules resolve packages next to the importing file, so the script runs
# from the work dir.
cp "$here/interop.mjs" "$workdir/interop.mjs" || exit 2
testdata=${VEIL_TESTDATA_DIR:-$here/../../../shared/testdata}
exec node "$workdir/interop.mjs" --peer "$peer" --testdata "$testdata"
