#!/usr/bin/env node
// npm's prepack and postpack steps: the package.json that ships keeps only what a user's install
// runs (the install script) and reads; the scripts for the clone's tests, benchmarks and builds, and
// this project's own allowScripts, name files that do not ship. `strip` keeps the clone's manifest in
// package.json.dev, `restore` puts it back (a pack that was interrupted is restored by the next one).
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const manifest = fileURLToPath(new URL('../package.json', import.meta.url));
const kept = `${manifest}.dev`;

function restore() {
  if (existsSync(kept)) renameSync(kept, manifest);
}

if (process.argv[2] === 'strip') {
  restore();
  const text = readFileSync(manifest, 'utf8');
  const pkg = JSON.parse(text);
  writeFileSync(kept, text);
  pkg.scripts = { install: pkg.scripts.install };
  delete pkg.allowScripts;
  delete pkg.devDependencies;
  writeFileSync(manifest, `${JSON.stringify(pkg, null, 2)}\n`);
} else {
  restore();
}
