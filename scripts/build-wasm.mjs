#!/usr/bin/env node
// Builds prebuilds/wasm/backprop.wasm, the engine of the addon for the WebAssembly backend, with
// Debian's clang and lld for wasm32 and its wasi-libc and libc++ (packages clang-14, lld-14,
// wasi-libc, libc++-14-dev-wasm32, libc++abi-14-dev-wasm32, libclang-rt-14-dev-wasm32): one module
// for every OS and CPU, and for browsers. Run it after any change to native/, then commit
// prebuilds/wasm/: a test compares its digest with the sources, as for the addon's prebuilds.
//
// The engine's sources but the thread pool (the module runs on one thread; thread_pool.h gives
// the serial pool), and the binding wasm_binding.cc. -ffp-contract=off as for the addon: the
// scalar kernels then round as the TypeScript backend does, step for step. SIMD128 lets clang
// vectorise their loops; nothing needs relaxed SIMD, which Node 20 does not enable.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prebuildSourcesDigest } from './prebuild-sources.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const { engine, wasm } = JSON.parse(readFileSync(join(root, 'native/sources.json'), 'utf8'));
const sources = [...engine.filter((file) => file !== 'thread_pool.cc'), ...wasm].map((file) => `native/${file}`);
const out = join(root, 'prebuilds/wasm');
mkdirSync(out, { recursive: true });
const compiler = process.env.WASM_CXX ?? 'clang++-14';
const result = spawnSync(
  compiler,
  [
    ...['--target=wasm32-wasi', '--sysroot=/usr', '-std=c++20', '-O3', '-msimd128'],
    ...['-fno-exceptions', '-ffp-contract=off', '-fno-math-errno'],
    // A reactor: no main, and _initialize runs the static constructors (the kernel tables).
    ...['-mexec-model=reactor', '-Wl,-z,stack-size=1048576', '-Wl,--strip-all'],
    ...['-o', join(out, 'backprop.wasm'), ...sources],
  ],
  { cwd: root, stdio: 'inherit' },
);
if (result.error || result.status !== 0) {
  console.error(
    `build:wasm: ${compiler} failed${result.error ? ` (${result.error.message})` : ''}; it needs Debian's clang-14, lld-14, wasi-libc, libc++-14-dev-wasm32, libc++abi-14-dev-wasm32 and libclang-rt-14-dev-wasm32`,
  );
  process.exit(1);
}
writeFileSync(join(out, 'sources.sha256'), `${prebuildSourcesDigest(root)}\n`);
console.log(`build:wasm: wrote prebuilds/wasm/backprop.wasm`);
