#!/usr/bin/env bash
# Screenshots of the train, compare and bench reports as a browser shows them (headless Chromium,
# Debian's `chromium` package), into docs/ for the README. Run it after changing src/report/;
# test/07-models.test.ts checks the same reports' marks, widths and labels without a browser.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
node bin/backprop.js train --epochs 5 --limit 10000 --report "$work/train.html" --quiet > /dev/null
node bin/backprop.js compare --epochs 2 --limit 3000 --report "$work/compare.html" > /dev/null
node bin/backprop.js bench --hidden 30,256 --batch 10,100 --no-peers --no-deeper --repeats 1 --seconds 0.05 --report "$work/bench.html" > /dev/null
shoot() { # report, window height
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$work/profile-$1" --hide-scrollbars \
    --window-size="1200,$2" --screenshot="docs/report-$1.png" "file://$work/$1.html" 2> /dev/null
}
shoot train 1750
shoot compare 420
shoot bench 1150
ls -l docs/report-*.png
