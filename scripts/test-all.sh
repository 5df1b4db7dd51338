#!/usr/bin/env bash
# Every suite, in one run: typecheck, unit tests (node:test), the site built twice (root and
# /sub/ base) and the Playwright e2e tests against it. Ends with one line "N passed, N failed"
# (totals over all suites) and exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p test-results
passed=0
failed=0
note() { printf '\n=== %s ===\n' "$*"; }

note "typecheck (tsc --noEmit)"
if npx tsc --noEmit; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "typecheck FAILED"; fi

note "unit tests (node:test)"
node --import tsx --test --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination=test-results/unit.tap test/*.test.ts src/pool/test/*.test.ts
up=$(grep -E '^# pass ' test-results/unit.tap | awk '{print $3}')
uf=$(grep -E '^# fail ' test-results/unit.tap | awk '{print $3}')
if [ -z "$up" ]; then echo "unit tests did not report (crashed?)"; failed=$((failed + 1)); else passed=$((passed + up)); failed=$((failed + uf)); fi

note "build the site (root and /sub/ base)"
if npm run build && npm run build:sub; then
  note "e2e (Playwright, headless Chromium)"
  rm -f test-results/e2e.json
  npx playwright test
  if [ -f test-results/e2e.json ]; then
    read -r ep ef < <(node -e "const s=require('./test-results/e2e.json').stats; console.log((s.expected||0)+(s.flaky||0), (s.unexpected||0))")
    passed=$((passed + ep)); failed=$((failed + ef))
  else
    echo "e2e did not report"; failed=$((failed + 1))
  fi
else
  echo "site build FAILED"; failed=$((failed + 1))
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
