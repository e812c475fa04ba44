import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { NativeBackend } from '../src/backends/native.js';
import { loadCsv } from '../src/data/csv.js';
import { digitFromImage } from '../src/data/image.js';
import { readIdx } from '../src/data/idx.js';
import { parseIdx } from '../src/data/idx-format.js';
import { UserError } from '../src/errors.js';
import { Network } from '../src/model/network.js';
import { loadModel, saveModel } from '../src/model/safetensors.js';
import { takeFirst } from '../src/data/dataset.js';
import { fit } from '../src/train/fit.js';
import { idxBytes, interruptWhen, realMnist, runCli, supportedIsas, tempDir } from './helpers.js';

/** Runs `parse` on mutated copies of `valid`: it may succeed or throw a UserError, nothing else. */
function mutations(valid: Uint8Array, parse: (bytes: Uint8Array) => unknown, runs = 300): void {
  const mutated = fc.oneof(
    // bit flips
    fc
      .array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 8 })
      .map((flips) => {
        const bytes = Uint8Array.from(valid);
        for (const [at, bit] of flips) bytes[at] ^= 1 << bit;
        return bytes;
      }),
    // truncations
    fc.nat(valid.length - 1).map((length) => valid.slice(0, length)),
    // a 32-bit field set to an extreme
    fc
      .tuple(fc.nat(Math.max(0, valid.length - 4)), fc.constantFrom(0, 1, 0x7fffffff, 0xffffffff))
      .map(([at, value]) => {
        const bytes = Uint8Array.from(valid);
        new DataView(bytes.buffer).setUint32(at, value, at % 2 === 0);
        return bytes;
      }),
  );
  fc.assert(
    fc.property(mutated, (bytes) => {
      try {
        parse(bytes);
      } catch (err) {
        if (!(err instanceof UserError)) throw err;
      }
    }),
    { numRuns: runs, seed: 42 },
  );
}

describe('mutated files give typed errors only (fast-check)', () => {
  it('IDX, plain and gzipped', () => {
    const valid = idxBytes(
      [3, 4, 4],
      Array.from({ length: 48 }, (_, i) => i),
    );
    mutations(valid, (bytes) => parseIdx(bytes, 'mutated.idx'));
    const dir = tempDir();
    const gz = gzipSync(valid);
    mutations(gz, (bytes) => {
      const path = join(dir, 'm.idx.gz');
      writeFileSync(path, bytes);
      return readIdx(path);
    });
  });

  it('CSV', () => {
    const dir = tempDir();
    const valid = Buffer.from('a,b,label\n1.5,2,0\n3,4e-1,1\n-5,6,2\n');
    mutations(valid, (bytes) => {
      const path = join(dir, 'm.csv');
      writeFileSync(path, bytes);
      // A 5-byte read window as well: every record spans reads.
      for (const chunkBytes of [undefined, 5]) {
        try {
          loadCsv(path, { targetKind: 'classes', normalize: 'zscore', chunkBytes });
        } catch (err) {
          if (!(err instanceof UserError)) throw err;
        }
      }
    });
  });

  it('safetensors models', () => {
    const dir = tempDir();
    const path = join(dir, 'valid.safetensors');
    const net = new Network([5, 4, 3]).initWeights(1);
    saveModel(path, {
      architecture: { sizes: [5, 4, 3], activations: ['relu', 'softmax'], loss: 'cross-entropy', bias: true },
      params: net.params,
      extra: {},
    });
    const valid = readFileSync(path);
    mutations(valid, (bytes) => {
      const target = join(dir, 'm.safetensors');
      writeFileSync(target, bytes);
      const file = loadModel(target);
      // A file that loads is the saved one: its checksum held.
      expect(Array.from(file.params)).toEqual(Array.from(net.params));
    });
  });

  it('PNG images', async () => {
    const dir = tempDir();
    const valid = await sharp({ create: { width: 40, height: 40, channels: 3, background: '#ffffff' } })
      .composite([
        { input: Buffer.from('<svg width="40" height="40"><circle cx="20" cy="20" r="10" fill="black"/></svg>') },
      ])
      .png()
      .toBuffer();
    await fc.assert(
      fc.asyncProperty(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 7 }), async (at, bit) => {
        const bytes = Buffer.from(valid);
        bytes[at] ^= 1 << bit;
        const path = join(dir, 'm.png');
        writeFileSync(path, bytes);
        try {
          const digit = await digitFromImage(path);
          expect(digit).toHaveLength(784);
        } catch (err) {
          if (!(err instanceof UserError)) throw err;
        }
      }),
      { numRuns: 100, seed: 42 },
    );
  });
});

describe('faults', () => {
  it('kill -9 at any moment of a save leaves the old or the new model, whole', async () => {
    const dir = tempDir();
    const path = join(dir, 'big.safetensors');
    const script = join(__dirname, 'fixtures', 'save-loop.mjs');
    for (const delay of [30, 75, 120, 170, 230, 300, 380, 460]) {
      const child = spawn(process.execPath, [script, path]);
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      await new Promise((resolve) => setTimeout(resolve, delay));
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      if (!existsSync(path)) continue; // killed before the first save was renamed into place
      const file = loadModel(path);
      expect([1, 2]).toContain(file.extra.seed);
      const expected = new Network([784, 2048, 10]).initWeights(file.extra.seed as number);
      expect(Buffer.from(file.params.buffer).equals(Buffer.from(expected.params.buffer))).toBe(true);
    }
    expect(existsSync(path)).toBe(true);
    // Only the model and, at most, the temporary file of the last killed save are left.
    expect(
      readdirSync(dir)
        .filter((name) => !name.startsWith('.big.safetensors.'))
        .sort(),
    ).toEqual(['big.safetensors']);
  }, 60_000);

  it('kill -9 half-way through writing a save leaves the previous model whole (every run)', async () => {
    const path = join(tempDir(), 'm.safetensors');
    const child = spawn(process.execPath, [join(__dirname, 'fixtures', 'save-midway.mjs'), path]);
    await new Promise<void>((resolve) =>
      child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('midway') && resolve()),
    );
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const file = loadModel(path);
    expect(file.extra.seed).toBe(1);
    expect(
      Buffer.from(file.params.buffer).equals(Buffer.from(new Network([784, 256, 10]).initWeights(1).params.buffer)),
    ).toBe(true);
  });

  it('a full disk (/dev/full) or a folder that cannot be written is one line and exit 1', async () => {
    // As root, a private copy of the device: a broken build (a mutant under test) that renamed over
    // it would otherwise replace the machine's own /dev/full.
    let full = '/dev/full';
    if (process.getuid?.() === 0) {
      full = join(tempDir(), 'full');
      execFileSync('mknod', ['-m', '666', full, 'c', '1', '7']);
    }
    const { code, err } = await runCli('--limit', '1000', '--epochs', '1', '--hidden', '4', '--save', full);
    expect(code).toBe(1);
    expect(err).toEqual([`backprop: ${full}: cannot write (no space left on the device)`]);
    expect(statSync(full).isCharacterDevice()).toBe(true);
    // Root ignores permission bits, so /proc (which takes no new files) stands in for a read-only folder.
    const readOnly = await runCli(
      '--limit',
      '1000',
      '--epochs',
      '1',
      '--hidden',
      '4',
      '--save',
      '/proc/model.safetensors',
    );
    expect(readOnly.code).toBe(1);
    expect(readOnly.err).toHaveLength(1);
    expect(readOnly.err[0]).toBe(
      'backprop: /proc/model.safetensors: cannot write (the folder /proc does not take new files); the previous file, if any, is unchanged',
    );
  });

  it('SIGTERM during training saves and exits 143', async () => {
    const dir = tempDir();
    const args = [
      '--hidden',
      '256',
      '--epochs',
      '3',
      '--json',
      '--progress-json',
      '--save',
      join(dir, 't.safetensors'),
    ];
    const { code, stderr } = await interruptWhen(args, 'SIGTERM', '"event":"progress","epoch":2');
    expect(code).toBe(143);
    expect(stderr).toMatch(/interrupted in epoch 2 after [\d,]+ samples; saved to/);
    expect(loadModel(join(dir, 't.safetensors')).architecture.sizes).toEqual([784, 256, 10]);
  });

  it.runIf(supportedIsas.length)(
    'the addon loads and trains in several worker threads at once, and agrees with this thread',
    async () => {
      const train = takeFirst(realMnist().train, 3000);
      const here = new Network([784, 16, 10], { backend: new NativeBackend({ threads: 1 }) }).initWeights(5);
      await fit(here, train, { epochs: 1 });
      const source = `
      const { parentPort } = require('node:worker_threads');
      (async () => {
        const { loadMnist, Network, NativeBackend, train } = await import(${JSON.stringify(join(__dirname, '..', 'dist', 'index.js'))});
        const data = loadMnist().train;
        const small = { ...data, x: data.x.subarray(0, 3000 * 784), labels: data.labels.subarray(0, 3000), count: 3000 };
        const net = new Network([784, 16, 10], { backend: new NativeBackend({ threads: 1 }) }).initWeights(5);
        await train(net, small, { epochs: 1 });
        parentPort.postMessage(Array.from(net.params));
      })().catch((err) => parentPort.postMessage(String(err)));`;
      const results = await Promise.all(
        [1, 2, 3].map(
          () =>
            new Promise<unknown>((resolve, reject) => {
              const worker = new Worker(source, { eval: true });
              worker.once('message', resolve);
              worker.once('error', reject);
            }),
        ),
      );
      for (const params of results) expect(params).toEqual(Array.from(here.params));
    },
    60_000,
  );

  it.runIf(supportedIsas.length)(
    'a worker thread terminated in the middle of a native epoch ends alone; the process goes on',
    () => {
      // The addon's progress report arrived while the worker's environment was shutting down, and the
      // exception that calling into it raised aborted the whole process (exit 134).
      const body = `
      const { parentPort } = require('node:worker_threads');
      (async () => {
        const { loadMnist, Network, NativeBackend, train } = await import(${JSON.stringify(join(__dirname, '..', 'dist', 'index.js'))});
        const net = new Network([784, 256, 10], { backend: new NativeBackend({ threads: 2 }) }).initWeights(5);
        await train(net, loadMnist().train, { epochs: 1, onProgress: () => parentPort.postMessage('progress') });
      })();`;
      const parent = `
      const { Worker } = require('node:worker_threads');
      const worker = new Worker(${JSON.stringify(body)}, { eval: true });
      let reports = 0;
      worker.on('message', () => { if (++reports === 2) worker.terminate().then(() => console.log('terminated')); });`;
      const run = spawnSync(process.execPath, ['-e', parent], { encoding: 'utf8', timeout: 60_000 });
      expect([run.status, run.stdout.trim(), run.stderr]).toEqual([0, 'terminated', '']);
    },
  );

  it("train --json's peakMemoryMB is the run's own, not its parent's (a large benchmark spawning it)", () => {
    const held = Buffer.alloc(600 * 1024 * 1024, 1);
    const run = spawnSync(
      process.execPath,
      [join(__dirname, '..', 'bin', 'backprop.js'), 'train', '--epochs', '1', '--limit', '1000', '--json'],
      { encoding: 'utf8' },
    );
    const done = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { peakMemoryMB: number };
    expect(held[held.length - 1]).toBe(1);
    expect(done.peakMemoryMB).toBeGreaterThan(20);
    expect(done.peakMemoryMB).toBeLessThan(400);
  });

  it.each(['native', 'ts'])(
    '200 successive fit calls on one network keep the RSS flat (%s)',
    async (backend) => {
      if (backend === 'native' && !supportedIsas.length) return;
      // Each fit frees megabytes of buffers. glibc's adaptive mmap threshold soon keeps such blocks in
      // its heap, where the RSS then swung by 70–90 MB with the collector's timing (and this test
      // failed now and then); a fixed threshold hands them back to the system as they are freed.
      const env = { ...process.env, MALLOC_MMAP_THRESHOLD_: '131072' };
      const child = spawn(process.execPath, ['--expose-gc', join(__dirname, 'fixtures', 'fit-loop.mjs'), backend], {
        env,
      });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      await new Promise((resolve) => child.once('exit', resolve));
      const { rss, collected } = JSON.parse(out) as { rss: number[]; collected: number };
      // Every fit's samples are freed once it is done (a fit or worker that kept them would show here
      // even where its pages are never written and so never count in the RSS).
      expect(collected).toBeGreaterThanOrEqual(199);
      // 100 fits warm the allocators and the garbage collector up; the next 100 leave the RSS flat.
      expect(rss).toHaveLength(8);
      // Clean code moves by under 2 MB here when alone, up to 16 MB beside a busy process; a fit that
      // kept its 7 MB of buffers would add 700 MB, one that kept a tenth of them 70 MB.
      expect(Math.abs(rss[7] - rss[3])).toBeLessThan(32 * 1024 * 1024);
    },
    120_000,
  );
});
