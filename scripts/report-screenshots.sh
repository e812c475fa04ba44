#!/usr/bin/env bash
# Screenshots of the train, compare and bench reports as a browser shows them (headless Chromium,
# Debian's `chromium` package), into docs/ for the README, after checking that every chart in them
# has marks of non-zero size (scripts/report-marks.mjs, which the tests use too). Run it after
# changing src/report/.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
node bin/backprop.js train --epochs 5 --limit 10000 --report "$work/train.html" --quiet > /dev/null
node bin/backprop.js compare --epochs 2 --limit 3000 --report "$work/compare.html" > /dev/null
node bin/backprop.js bench --hidden 30,256 --batch 10,100 --no-peers --no-deeper --repeats 1 --seconds 0.05 --report "$work/bench.html" > /dev/null
for report in train compare bench; do
  node --input-type=module -e "
    import { readFileSync } from 'node:fs';
    import { undrawnMarks } from './scripts/report-marks.mjs';
    const problems = undrawnMarks(readFileSync('$work/$report.html', 'utf8'));
    for (const problem of problems) console.error('$report report: ' + problem);
    process.exit(problems.length ? 1 : 0);"
done
shoot() { # report, window height
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$work/profile-$1" --hide-scrollbars \
    --window-size="1200,$2" --screenshot="docs/report-$1.png" "file://$work/$1.html" 2> /dev/null
}
shoot train 1750
shoot compare 420
shoot bench 1150
ls -l docs/report-*.png
