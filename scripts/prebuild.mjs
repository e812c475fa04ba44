#!/usr/bin/env node
// Builds the addon binaries that ship inside the package (prebuilds/<platform>-<arch>/backprop.node)
// for Linux x64 and arm64, the second with Debian's cross compiler (g++-aarch64-linux-gnu).
// Run it after any change to native/ or binding.gyp, then commit prebuilds/: a test compares
// prebuilds/sources.sha256 with the sources, so a stale binary cannot ship unnoticed.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeGypArgs } from './node-gyp-args.mjs';
import { prebuildSourcesDigest } from './prebuild-sources.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const TRIPLES = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };

function run(command, args, options) {
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.status !== 0) {
    console.error(`prebuild: ${command} ${args.join(' ')} failed`);
    process.exit(1);
  }
}

for (const arch of Object.keys(TRIPLES)) {
  // A compiler for another architecture is named by its target triple.
  const prefix = arch === process.arch ? '' : `${TRIPLES[arch]}-`;
  // node-gyp always builds into ./build: a scratch copy keeps the clone's own build untouched.
  const scratch = mkdtempSync(join(tmpdir(), `backprop-prebuild-${arch}-`));
  cpSync(join(root, 'binding.gyp'), join(scratch, 'binding.gyp'));
  cpSync(join(root, 'native'), join(scratch, 'native'), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'));
  const env = { ...process.env, CC: `${prefix}gcc`, CXX: `${prefix}g++` };
  run(join(root, 'node_modules/.bin/node-gyp'), nodeGypArgs('rebuild', `--arch=${arch}`), { cwd: scratch, env });
  const out = join(root, 'prebuilds', `linux-${arch}`);
  mkdirSync(out, { recursive: true });
  run(`${prefix}strip`, [
    '--strip-unneeded',
    '-o',
    join(out, 'backprop.node'),
    join(scratch, 'build/Release/backprop.node'),
  ]);
  rmSync(scratch, { recursive: true, force: true });
  console.log(`prebuild: wrote prebuilds/linux-${arch}/backprop.node`);
}
writeFileSync(join(root, 'prebuilds/sources.sha256'), `${prebuildSourcesDigest(root)}\n`);
