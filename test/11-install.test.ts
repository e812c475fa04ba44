// The package as a user gets it: `npm pack`, installed into an empty folder with no compiler and
// no network (npm --offline, from the cache the clone's own install filled), then used from the
// command line, from CommonJS and from an ES module.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { codeOnly, prebuildSourcesDigest } from '../scripts/prebuild-sources.mjs';
import { tempDir } from './helpers.js';

const root = join(__dirname, '..');
const platform = `${process.platform}-${process.arch}`;
const NO_COMPILER = { CC: '/bin/false', CXX: '/bin/false' };
// The oldest versions the prebuilds may need: what Node 20's own Linux binaries need is newer (glibc 2.28).
const GLIBC_FLOOR = '2.17';
const GLIBCXX_FLOOR = '3.4.22';
/** The addon's C++ sources but the ISA files, as both builds read them. */
const listedSources = JSON.parse(readFileSync(join(root, 'native/sources.json'), 'utf8')) as {
  engine: string[];
  binding: string[];
  wasm: string[];
};

function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}): SpawnSyncReturns<string> {
  return spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 240_000 });
}

/** Orders version strings like 2.2.5 < 2.14. */
function compareVersions(a: string, b: string): number {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++)
    if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

/** The ELF machine of a 64-bit little-endian shared object and the symbol versions it needs (its SHT_GNU_verneed section). */
function elfNeeds(file: Buffer): { machine: number; versions: string[] } {
  const sections = Number(file.readBigUInt64LE(0x28));
  const size = file.readUInt16LE(0x3a);
  const section = (i: number) => {
    const at = sections + i * size;
    return {
      type: file.readUInt32LE(at + 4),
      offset: Number(file.readBigUInt64LE(at + 0x18)),
      link: file.readUInt32LE(at + 0x28),
      info: file.readUInt32LE(at + 0x2c),
    };
  };
  const versions: string[] = [];
  for (let i = 0; i < file.readUInt16LE(0x3c); i++) {
    const needs = section(i);
    if (needs.type !== 0x6ffffffe) continue;
    const strings = section(needs.link).offset;
    let entry = needs.offset;
    for (let n = 0; n < needs.info; n++) {
      let aux = entry + file.readUInt32LE(entry + 8);
      for (let k = 0; k < file.readUInt16LE(entry + 2); k++) {
        const name = strings + file.readUInt32LE(aux + 8);
        versions.push(file.toString('latin1', name, file.indexOf(0, name)));
        aux += file.readUInt32LE(aux + 12);
      }
      entry += file.readUInt32LE(entry + 12);
    }
  }
  return { machine: file.readUInt16LE(18), versions };
}

/** The newest version of `prefix` (GLIBC, GLIBCXX) in `versions`. */
function newest(versions: string[], prefix: string): string {
  return versions
    .filter((v) => v.startsWith(`${prefix}_`))
    .map((v) => v.slice(prefix.length + 1))
    .sort(compareVersions)
    .at(-1)!;
}

/**
 * A lockfile for an app that depends only on the tarball: the tarball's runtime dependencies at the
 * versions of the clone's lockfile, with registry addresses, so that `npm ci --offline` takes every
 * one from npm's cache.
 */
function userLockfile(tarball: string): object {
  const ours = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, Record<string, unknown>>;
  };
  const entries = ours.packages;
  const dependencies = entries[''].dependencies as Record<string, string>;
  const packages: Record<string, Record<string, unknown>> = {
    '': { name: 'user-app', version: '1.0.0', dependencies: { backprop: `file:${tarball}` } },
    'node_modules/backprop': {
      version: '0.1.0',
      resolved: `file:${tarball}`,
      hasInstallScript: true,
      dependencies,
      bin: entries[''].bin,
      engines: entries[''].engines,
    },
  };
  // Node's lookup: the package's own node_modules, then each enclosing one.
  const visit = (from: string, name: string): void => {
    for (
      let base = from;
      ;
      base = base.includes('/node_modules/') ? base.slice(0, base.lastIndexOf('/node_modules/')) : ''
    ) {
      const path = `${base ? `${base}/` : ''}node_modules/${name}`;
      const entry = entries[path];
      if (entry) {
        if (packages[path]) return;
        // Flags of the clone's own lock that do not hold for an app's runtime dependencies.
        const kept = { ...entry };
        for (const flag of ['dev', 'devOptional', 'peer']) delete kept[flag];
        const unscoped = name.split('/').at(-1);
        packages[path] = {
          ...kept,
          resolved: `https://registry.npmjs.org/${name}/-/${unscoped}-${entry.version as string}.tgz`,
        };
        for (const dep of Object.keys({ ...(entry.dependencies as object), ...(entry.optionalDependencies as object) }))
          visit(path, dep);
        return;
      }
      if (!base) return;
    }
  };
  for (const name of Object.keys(dependencies)) visit('', name);
  return { name: 'user-app', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

/** An empty app folder with `tarball` installed by `npm ci --offline` with the compilers disabled. */
function installInto(tarball: string): { dir: string; install: SpawnSyncReturns<string> } {
  const dir = tempDir();
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({
      name: 'user-app',
      version: '1.0.0',
      private: true,
      dependencies: { backprop: `file:${tarball}` },
    }),
  );
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify(userLockfile(tarball)));
  const install = run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--foreground-scripts'], dir, NO_COMPILER);
  return { dir, install };
}

const backprop = (dir: string, ...args: string[]) =>
  run(join(dir, 'node_modules/.bin/backprop'), args, dir, NO_COMPILER);

describe('the prebuilt binaries', () => {
  it('were built from the current native sources (run `npm run prebuild:linux` after changing native/)', () => {
    expect(readFileSync(join(root, 'prebuilds/sources.sha256'), 'utf8').trim()).toBe(prebuildSourcesDigest(root));
  });

  it('and the WebAssembly module too (run `npm run build:wasm` after changing native/)', () => {
    expect(readFileSync(join(root, 'prebuilds/wasm/sources.sha256'), 'utf8').trim()).toBe(prebuildSourcesDigest(root));
  });

  it('come from one list of sources: both builds read native/sources.json, and every C++ file is in it or an ISA file of both', () => {
    const listed = listedSources;
    const gyp = readFileSync(join(root, 'binding.gyp'), 'utf8');
    const cmake = readFileSync(join(root, 'native/CMakeLists.txt'), 'utf8');
    expect(gyp).toContain("require('./native/sources.json')");
    expect(cmake).toContain('sources.json');
    const isaFiles = ['kernels_avx2.cc', 'kernels_avx512.cc', 'kernels_neon.cc'];
    for (const file of isaFiles) {
      expect(gyp).toContain(`native/${file}`);
      expect(cmake).toContain(file);
    }
    const sources = readdirSync(join(root, 'native')).filter(
      (name) => name.endsWith('.cc') && name !== 'kernel_tests.cc',
    );
    expect([...listed.engine, ...listed.binding, ...listed.wasm, ...isaFiles].sort()).toEqual(sources.sort());
    // Named nowhere else but in comments.
    const code = (text: string): string => text.replace(/#.*$/gm, '');
    for (const file of [...listed.engine, ...listed.binding]) expect(code(gyp) + code(cmake)).not.toContain(file);
  });

  it("whose digest reads the sources' code: a comment or a re-indented line changes nothing, a changed token does", () => {
    const source = readFileSync(join(root, 'native/thread_pool.cc'), 'utf8');
    const code = codeOnly(source);
    expect(
      codeOnly(`// a new comment\n${source.replaceAll('\n', '\n  ').replaceAll(' = ', '  =  ')}/* and one more */\n`),
    ).toBe(code);
    expect(codeOnly(source.replace('#include', '  #include'))).toBe(code);
    const different = [
      ['return a + b;', 'return a - b;'],
      ['return a + +b;', 'return a++b;'],
      ['const char* s = "x y";', 'const char* s = "x  y";'],
      ['#include <vector>\nint x;', '#include <vector> int x;'],
      ['int x;', 'intx;'],
    ];
    for (const [a, b] of different) expect(codeOnly(a), `${a} | ${b}`).not.toBe(codeOnly(b));
  });

  it('are an x86-64 and an aarch64 ELF that need no glibc newer than 2.17 nor libstdc++ newer than GCC 6', () => {
    const machines = { 'linux-x64': 62, 'linux-arm64': 183 };
    for (const [dir, machine] of Object.entries(machines)) {
      const needs = elfNeeds(readFileSync(join(root, 'prebuilds', dir, 'backprop.node')));
      expect(needs.machine, dir).toBe(machine);
      expect(
        compareVersions(newest(needs.versions, 'GLIBC'), GLIBC_FLOOR),
        `${dir} needs GLIBC_${newest(needs.versions, 'GLIBC')}`,
      ).toBeLessThanOrEqual(0);
      expect(
        compareVersions(newest(needs.versions, 'GLIBCXX'), GLIBCXX_FLOOR),
        `${dir} needs GLIBCXX_${newest(needs.versions, 'GLIBCXX')}`,
      ).toBeLessThanOrEqual(0);
    }
  });

  it('the floor check sees a newer need (the local build, linked against this machine, needs what its compiler gives it)', () => {
    const needs = elfNeeds(readFileSync(process.execPath));
    expect(compareVersions(newest(needs.versions, 'GLIBC'), GLIBC_FLOOR)).toBeGreaterThan(0);
  });
});

describe('npm install of the packed package, with no compiler and no network', () => {
  let tarball: string;
  let files: string[];
  beforeAll(() => {
    const out = tempDir();
    const pack = run('npm', ['pack', '--pack-destination', out, '--json'], root);
    expect(pack.status, pack.stderr).toBe(0);
    tarball = join(out, (JSON.parse(pack.stdout) as { filename: string }[])[0].filename);
    files = (JSON.parse(pack.stdout) as { files: { path: string }[] }[])[0].files.map((f) => f.path);
  }, 240_000);

  it('ships the built library, the prebuilds, the native sources and the licence; no tests, benchmarks or caches', () => {
    for (const expected of [
      'dist/index.js',
      'dist/index.d.ts',
      'bin/backprop.js',
      'prebuilds/linux-x64/backprop.node',
      'prebuilds/linux-arm64/backprop.node',
      'prebuilds/wasm/backprop.wasm',
      ...[...listedSources.engine, ...listedSources.binding].map((file) => `native/${file}`),
      'binding.gyp',
      'scripts/install.mjs',
      'README.md',
      'LICENSE',
    ]) {
      expect(files).toContain(expected);
    }
    expect(
      files.filter((f) => /^(test|bench|src|reports|build|build-cmake|node_modules)\//.test(f) || f.endsWith('.map')),
    ).toEqual([]);
    // The shipped manifest names no script for files that do not ship (tests, benchmarks, builds), and the clone's is as it was.
    const manifest = JSON.parse(run('tar', ['-xOzf', tarball, 'package/package.json'], root).stdout) as Record<
      string,
      unknown
    >;
    expect(manifest.scripts).toEqual({ install: 'node scripts/install.mjs' });
    expect(manifest).not.toHaveProperty('devDependencies');
    expect(manifest).not.toHaveProperty('allowScripts');
    expect(
      (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: object }).scripts,
    ).toHaveProperty('test');
  });

  it('runs the native backend from the prebuild: the CLI, CommonJS and an ES module', () => {
    const { dir, install } = installInto(tarball);
    expect(install.status, install.stderr).toBe(0);
    expect(install.stderr).not.toMatch(/backprop:/);
    const info = backprop(dir, 'info', '--json');
    expect(info.status, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({
      backend: 'native',
      addon: join(dir, 'node_modules/backprop/prebuilds', platform, 'backprop.node'),
    });
    const trained = backprop(dir, 'train', '--epochs', '1', '--limit', '1000', '--json');
    expect(trained.status, trained.stderr).toBe(0);
    expect(trained.stderr).toBe('');
    expect(JSON.parse(trained.stdout.trim().split('\n').at(-1)!)).toMatchObject({ event: 'done', backend: 'native' });

    const script = (load: string) => `${load}
      const data = loadMnist().train;
      const small = { ...data, x: data.x.subarray(0, 300 * 784), labels: data.labels.subarray(0, 300), count: 300 };
      const net = new Network([784, 8, 10], { backend: selectBackend('auto').backend }).initWeights(1);
      train(net, small, { epochs: 2 }).then((r) => console.log(net.backend.name, r.history.length));`;
    writeFileSync(
      join(dir, 'use.cjs'),
      script(`const { Network, train, loadMnist, selectBackend } = require('backprop');`),
    );
    writeFileSync(join(dir, 'use.mjs'), script(`import { Network, train, loadMnist, selectBackend } from 'backprop';`));
    for (const file of ['use.cjs', 'use.mjs']) {
      const used = run(process.execPath, [file], dir);
      expect(used.stdout.trim(), `${file}: ${used.stderr}`).toBe('native 2');
    }

    // The types serve both: a CommonJS and an ES module TypeScript file type-check against the package.
    const typed = (load: string): string => `${load}
      const net: Network = new Network([784, 8, 10], { backend: selectBackend('auto').backend });
      const accuracy: Promise<number | undefined> = train(net, loadMnist().train, { epochs: 1 }).then((r) => r.history[0].trainAccuracy);
      void accuracy;`;
    // In a .cts file TypeScript compiles the import to require().
    for (const file of ['typed.cts', 'typed.mts'])
      writeFileSync(join(dir, file), typed(`import { Network, train, loadMnist, selectBackend } from 'backprop';`));
    const tsc = run(
      process.execPath,
      [
        join(root, 'node_modules/typescript/bin/tsc'),
        '--noEmit',
        '--strict',
        '--module',
        'nodenext',
        '--types',
        'node',
        '--typeRoots',
        join(root, 'node_modules/@types'),
        'typed.cts',
        'typed.mts',
      ],
      dir,
    );
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  }, 240_000);

  it("without this platform's prebuild: the install exits 0 with one warning and training runs on the wasm backend, saying why", () => {
    const unpacked = tempDir();
    expect(run('tar', ['xzf', tarball, '-C', unpacked], root).status).toBe(0);
    rmSync(join(unpacked, 'package/prebuilds', platform), { recursive: true });
    const stripped = join(unpacked, 'backprop-no-prebuild.tgz');
    expect(run('tar', ['czf', stripped, '-C', unpacked, 'package'], root).status).toBe(0);

    const { dir, install } = installInto(stripped);
    expect(install.status, install.stderr).toBe(0);
    const warnings = `${install.stdout}${install.stderr}`.split('\n').filter((line) => line.startsWith('backprop:'));
    expect(warnings).toEqual([
      expect.stringMatching(
        /^backprop: the native addon was not built \(no working C\+\+ compiler: \/bin\/false\); training will use the WebAssembly backend .*npm rebuild backprop/,
      ),
    ]);

    const trained = backprop(dir, 'train', '--epochs', '1', '--limit', '500', '--quiet');
    expect(trained.status, trained.stderr).toBe(0);
    expect(trained.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^backprop: native addon not loaded \(none built here and no prebuilt binary for linux-x64\); using the wasm backend\. With a C\+\+ compiler, build it: `npm rebuild backprop`/,
      ),
    ]);
    const info = backprop(dir, 'info', '--json');
    expect(JSON.parse(info.stdout)).toMatchObject({
      backend: 'wasm',
      fallback: expect.stringMatching(/no prebuilt binary/),
    });
    // The same epoch lines as native, and the ts backend one option away.
    const epoch = (backend: string): string =>
      backprop(dir, 'train', '--epochs', '1', '--limit', '500', '--backend', backend).stdout.match(/^epoch .*\|/m)![0];
    expect(epoch('wasm')).toBe(epoch('ts'));
  }, 240_000);
});

describe('npm install in a clone', () => {
  it('without a compiler, exits 0 with one warning, and the prebuilt addon is what runs', () => {
    const clone = tempDir();
    for (const path of ['binding.gyp', 'native', 'scripts', 'prebuilds'])
      cpSync(join(root, path), join(clone, path), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(clone, 'node_modules'));
    mkdirSync(join(clone, 'build'));
    const install = run(process.execPath, ['scripts/install.mjs'], clone, NO_COMPILER);
    expect(install.status).toBe(0);
    expect(install.stdout).toBe('');
    expect(install.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^backprop: the native addon was not built \(no working C\+\+ compiler: \/bin\/false\); training will use the prebuilt addon for linux-x64\./,
      ),
    ]);
    expect(readdirSync(join(clone, 'build'))).toEqual([]);
  });

  it('builds once: run again (as `npx backprop` does) on the same sources, it keeps the addon it built; a changed source builds again', () => {
    const clone = tempDir();
    for (const path of ['binding.gyp', 'native', 'scripts', 'prebuilds'])
      cpSync(join(root, path), join(clone, path), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(clone, 'node_modules'));
    // The addon of this clone, as if built from these sources: a copy of the local build, stamped.
    mkdirSync(join(clone, 'build/Release'), { recursive: true });
    cpSync(join(root, 'prebuilds', platform, 'backprop.node'), join(clone, 'build/Release/backprop.node'));
    writeFileSync(join(clone, 'build/Release/sources.sha256'), `${prebuildSourcesDigest(clone)}\n`);
    const again = run(process.execPath, ['scripts/install.mjs'], clone, NO_COMPILER);
    expect([again.status, again.stdout.trim(), again.stderr]).toEqual([
      0,
      'backprop: the native addon in build/Release is built from these sources; not built again (npm run build:native forces it)',
      '',
    ]);
    writeFileSync(
      join(clone, 'native/thread_pool.cc'),
      `${readFileSync(join(clone, 'native/thread_pool.cc'), 'utf8')}\nint changed;\n`,
    );
    const changed = run(process.execPath, ['scripts/install.mjs'], clone, NO_COMPILER);
    expect(changed.stderr).toMatch(/^backprop: the native addon was not built \(no working C\+\+ compiler/);
  });
});
