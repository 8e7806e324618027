#!/usr/bin/env bash
# Regenerate examples/reports/ from a real acceptance run: the reports loopctl wrote, copied as they are.
#
#   scripts/sample-reports.sh
#
# Runs tests/integration/test_acceptance.py with LOOPCTL_SAMPLE_REPORTS pointing at a staging folder; the
# test copies iterations/0001.md … 0004.md there. Only a run whose every assertion held replaces the samples,
# and nothing is edited by hand afterwards (the test proves no file of the run holds the JWT secret).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
TARGET=examples/reports

scripts/engine.sh up
scripts/base-image.sh

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
LOOPCTL_SAMPLE_REPORTS="$staging" "$BIN/pytest" tests/integration/test_acceptance.py -q -p no:cacheprovider

rm -rf "$TARGET"
mkdir -p "$TARGET"
cp "$staging"/*.md "$TARGET"/
echo "sample reports: $(ls "$TARGET" | tr '\n' ' ')"
