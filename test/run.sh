#!/usr/bin/env bash
# The whole test suite: unit, handlers, gate, integration (dynalite, local runtime with Jupyter),
# infrastructure (CDK Template + cdk-nag) and browser (Chromium) tests, on node's test runner.
# Pass folders or files to run a subset: `npm test -- test/unit`.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=("${@:-test}")
mapfile -t files < <(find "${targets[@]}" -name '*.test.ts' -not -path '*/node_modules/*' | sort)
if [ "${#files[@]}" -eq 0 ]; then
  echo "no test files under ${targets[*]}" >&2
  exit 1
fi
exec node --import tsx --test --test-concurrency="${TEST_CONCURRENCY:-2}" --test-timeout="${TEST_TIMEOUT_MS:-300000}" "${files[@]}"
