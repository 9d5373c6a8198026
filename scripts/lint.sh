#!/usr/bin/env bash
# Lint: formatting, and the greps STYLE.md asks for.
#  - clang-format: every C file matches .clang-format.
#  - memcmp: never in src/ or apps/ (secrets are compared with veil_ct_equal,
#    public bytes with veil_public_equal; both live in src/common/mem.c and
#    src/crypto/wipe.c).
#  - raw allocation: malloc/calloc/realloc/free only in src/common/mem.c, so
#    parsers allocate through veil_calloc and free through veil_free_wiped.
#  - OpenSSL headers only in src/crypto/ (plus bench/ and tests/).
set -uo pipefail
cd "$(dirname "$0")/.."
status=0

mapfile -t files < <(git ls-files -co --exclude-standard -- '*.c' '*.h' | grep -E '^(include|src|apps|tests|bench|examples)/')
if ! clang-format --dry-run --Werror "${files[@]}" 2>/tmp/veil-lint-format.$$; then
  echo "lint: files not formatted per .clang-format (fix with: clang-format -i FILE):"
  grep -oE '^[^ :]+\.[ch]:[0-9]+:' /tmp/veil-lint-format.$$ | cut -d: -f1 | sort -u | sed 's/^/  /'
  status=1
fi
rm -f /tmp/veil-lint-format.$$

lib=$(printf '%s\n' "${files[@]}" | grep -E '^(src|apps)/')
hits=$(echo "$lib" | grep -v '^src/common/mem\.c$' | xargs grep -nE '\bmemcmp\s*\(' 2>/dev/null)
if [ -n "$hits" ]; then
  echo "lint: memcmp outside src/common/mem.c (use veil_ct_equal for secrets, veil_public_equal otherwise):"
  echo "$hits" | sed 's/^/  /'
  status=1
fi
hits=$(echo "$lib" | grep -v '^src/common/mem\.c$' |
       xargs grep -nP '(?<![A-Za-z0-9_])(malloc|calloc|realloc|free)\s*\(' 2>/dev/null)
if [ -n "$hits" ]; then
  echo "lint: raw allocation outside src/common/mem.c (use veil_calloc / veil_free[_wiped]):"
  echo "$hits" | sed 's/^/  /'
  status=1
fi
hits=$(echo "$lib" | grep -v '^src/crypto/' | xargs grep -n '#include <openssl/' 2>/dev/null)
if [ -n "$hits" ]; then
  echo "lint: OpenSSL headers outside src/crypto/:"
  echo "$hits" | sed 's/^/  /'
  status=1
fi

[ $status -eq 0 ] && echo "lint: ok (${#files[@]} files)"
exit $status
