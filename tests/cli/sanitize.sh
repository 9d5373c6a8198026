#!/usr/bin/env bash
# veil sanitize: the sanitized text, --json findings without the values,
# exit 1 when the policy blocks, exit 3 with the member named for a bad policy.
set -euo pipefail
veil=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "sanitize.sh: $*" >&2; exit 1; }

cat >"$tmp/p.json" <<'J'
{"detectors":{"email":{"action":"pseudonymize"},"phone":{"action":"redact"},
 "card":{"action":"redact"},"iban":{"action":"redact"}}}
J
text='Mail jane.doe@example.com, call (555) 123-4567, pay DE89 3704 0044 0532 0130 00 or 4111 1111 1111 1111; jane.doe@example.com again.'
out=$(printf '%s' "$text" | "$veil" sanitize --policy "$tmp/p.json")
want='Mail <EMAIL_1>, call [PHONE], pay [IBAN] or [CARD]; <EMAIL_1> again.'
[ "$out" = "$want" ] || fail "got: $out"

json=$(printf '%s' "$text" | "$veil" sanitize --policy "$tmp/p.json" --json)
for v in jane.doe 123-4567 DE89 4111; do
  case "$json" in *"$v"*) fail "--json shows a value ($v): $json" ;; esac
done
case "$json" in *'"detector":"iban"'*'"start":'*) ;; *) fail "--json: $json" ;; esac
case "$json" in *'"blocked":false'*) ;; *) fail "--json blocked: $json" ;; esac

echo '{"detectors":{"card":{"action":"block"}}}' >"$tmp/b.json"
rc=0
printf '%s' "$text" | "$veil" sanitize --policy "$tmp/b.json" >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] || fail "block: exit $rc"
[ ! -s "$tmp/out" ] || fail "block printed text"
grep -q 'blocked: card at bytes' "$tmp/err" || fail "block: $(cat "$tmp/err")"
grep -q 4111 "$tmp/err" && fail "block message shows the value"

echo '{"detectors":{"emial":{"action":"redact"}}}' >"$tmp/bad.json"
rc=0
echo x | "$veil" sanitize --policy "$tmp/bad.json" 2>"$tmp/err" || rc=$?
[ "$rc" = 3 ] || fail "bad policy: exit $rc"
grep -q 'unknown detector "emial"' "$tmp/err" || fail "bad policy: $(cat "$tmp/err")"

rc=0
echo x | "$veil" sanitize 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "usage: exit $rc"
echo "sanitize.sh: ok"
