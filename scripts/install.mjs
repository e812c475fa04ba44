#!/usr/bin/env node
// npm's install step. It never fails the install: without a working addon, training runs on the
// WebAssembly backend and says so. What it does:
// - installed as a package: nothing, when the prebuilt binary for this platform loads; otherwise
//   (or with `npm install --build-from-source`) it builds the addon from native/;
// - in a clone: builds the addon from native/, so that contributors run what they edit.
// A failed build leaves one warning; node-gyp's full output goes to build/native-build.log.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeGypArgs } from './node-gyp-args.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const platform = `${process.platform}-${process.arch}`;
const prebuilt = join(root, 'prebuilds', platform, 'backprop.node');

function loads(path) {
  try {
    require(path);
    return true;
  } catch {
    return false;
  }
}

/** npm hands its own node-gyp to install scripts; a clone also has one in its devDependencies. */
function nodeGyp() {
  if (process.env.npm_config_node_gyp) return process.env.npm_config_node_gyp;
  try {
    return require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return undefined;
  }
}

function build() {
  const gyp = nodeGyp();
  if (!gyp) return 'node-gyp is not available';
  // node-gyp's own message for a missing compiler is a page of make output; name the cause.
  const compiler = process.env.CXX ?? 'c++';
  if (process.platform !== 'win32' && spawnSync(compiler, ['--version']).status !== 0)
    return `no working C++ compiler: ${compiler}`;
  const result = spawnSync(process.execPath, [gyp, ...nodeGypArgs('rebuild')], { cwd: root, encoding: 'utf8' });
  mkdirSync(join(root, 'build'), { recursive: true });
  writeFileSync(join(root, 'build/native-build.log'), `${result.stdout ?? ''}${result.stderr ?? ''}`);
  if (result.status === 0) return undefined;
  const lines = `${result.stderr ?? ''}`.split('\n');
  const cause =
    lines.find((line) => / error: /.test(line)) ??
    lines.find((line) => line.startsWith('gyp ERR! stack Error:')) ??
    'node-gyp failed';
  return `${cause.replace(/^gyp ERR! stack Error: /, '').trim()}; full log in build/native-build.log`;
}

/**
 * In a clone, the digest of the sources the local addon was built from (or undefined when none
 * was built), and the digest of today's: `npx backprop` reruns this script, which must not compile
 * again (53 s, and a test run beside it would see the addon replaced).
 */
async function localBuildIsCurrent() {
  const { prebuildSourcesDigest } = await import('./prebuild-sources.mjs');
  const current = prebuildSourcesDigest(root);
  const stamp = join(root, 'build/Release/sources.sha256');
  const built =
    existsSync(stamp) && existsSync(join(root, 'build/Release/backprop.node'))
      ? readFileSync(stamp, 'utf8').trim()
      : undefined;
  return { current, fresh: built === current && loads(join(root, 'build/Release/backprop.node')), stamp };
}

const inClone = !/[\\/]node_modules[\\/]/.test(root);
const fromSource = process.env.npm_config_build_from_source === 'true';
const prebuiltLoads = loads(prebuilt);
const local = inClone && !fromSource ? await localBuildIsCurrent() : undefined;
if (local?.fresh) {
  console.log(
    'backprop: the native addon in build/Release is built from these sources; not built again (npm run build:native forces it)',
  );
} else if (inClone || fromSource || !prebuiltLoads) {
  const failure = build();
  if (!failure && local) writeFileSync(local.stamp, `${local.current}\n`);
  if (failure) {
    const fallback = prebuiltLoads ? `the prebuilt addon for ${platform}` : 'the WebAssembly backend (slower)';
    console.warn(
      `backprop: the native addon was not built (${failure}); training will use ${fallback}. ` +
        'To build it, install a C++ compiler and run `npm rebuild backprop` (in a clone, `npm run build:native`).',
    );
  }
}
