#!/usr/bin/env bash
# Builds the kernel tests and the addon with AddressSanitizer and UndefinedBehaviorSanitizer, runs
# the kernel tests, then the native and backend tests of vitest against that addon (node itself is
# not instrumented, so the sanitizer runtimes are preloaded and leak checking, which would report
# node's own allocations, is off).
set -euo pipefail
cd "$(dirname "$0")/.."
npx cmake-js compile --directory native --out build-sanitize --CDBACKPROP_SANITIZE=ON > build-sanitize.log 2>&1 || { tail -30 build-sanitize.log; exit 1; }
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
build-sanitize/kernel_tests
LD_PRELOAD="$(g++ -print-file-name=libasan.so):$(g++ -print-file-name=libubsan.so)" \
  BACKPROP_ADDON="$PWD/build-sanitize/Release/backprop.node" \
  npx vitest run test/04-backends.test.ts test/03-gradients.test.ts test/05-training.test.ts test/12-shapes.test.ts test/14-run-features.test.ts
