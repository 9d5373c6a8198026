#!/usr/bin/env bash
# `veil rag` with a local key (no KMS): ingest, search, verify; a tampered
# passage makes verify exit 1 naming the record; another key opens nothing;
# an existing store is never replaced.
#   rag_cli.sh PATH/TO/veil   (exit 77: jq or sqlite3 missing)
set -euo pipefail
VEIL=$1
CORPUS=$(cd "$(dirname "$0")/../data/rag" && pwd)
for tool in jq sqlite3; do
  command -v $tool >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
T=$(mktemp -d /tmp/veil-rag-cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$T"
"$VEIL" keygen --kem x25519 --out coll >/dev/null
"$VEIL" keygen --kem x25519 --out other >/dev/null
"$VEIL" rag ingest --collection handbook --store s.db --public-key coll.ohttp-keys --json \
  "$CORPUS"/*.txt >ingest.json
jq -e '.documents == 24 and .passages == 850' ingest.json >/dev/null || fail "$(cat ingest.json)"
"$VEIL" rag search --store s.db --key coll.key --top-k 3 --json "oxbow lake meander" >search.json
jq -e '.results[0].document | endswith("notes-rivers.txt")' search.json >/dev/null ||
  fail "search: $(cat search.json)"
"$VEIL" rag verify --store s.db --key coll.key | grep -q "850 passages, every record authentic" ||
  fail "verify"
set +e
"$VEIL" rag ingest --collection handbook --store s.db --public-key coll.key "$CORPUS"/BSD.txt \
  >/dev/null 2>&1
[ $? = 2 ] || fail "an existing store was not refused"
"$VEIL" rag search --store s.db --key other.key "oxbow" >/dev/null 2>other.err
[ $? = 1 ] && grep -q "wrapped index key" other.err || fail "another key: $(cat other.err)"
cp s.db t.db
sqlite3 t.db "UPDATE passages SET ct = zeroblob(length(ct)) WHERE doc=3 AND seq=2"
"$VEIL" rag verify --store t.db --key coll.key >/dev/null 2>tamper.err
[ $? = 1 ] && grep -q "bad record: passage record (doc 3, seq 2)" tamper.err ||
  fail "tampering: $(cat tamper.err)"
set -e
echo ok
