import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TsBackend } from '../src/backends/ts.js';
import { takeFirst } from '../src/data/dataset.js';
import { digitFromImage } from '../src/data/image.js';
import { writeFileAtomic } from '../src/io/atomic.js';
import { Network } from '../src/model/network.js';
import { loadModel } from '../src/model/safetensors.js';
import { fit } from '../src/train/fit.js';
import { realMnist, runCli, tempDir } from './helpers.js';

/** A 4 MiB tmpfs, mounted where this user may mount (root, as CI runs); undefined elsewhere. */
function smallFilesystem(): string | undefined {
  const dir = tempDir();
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir], { stdio: 'ignore' });
    return dir;
  } catch {
    return undefined;
  }
}

describe('saving never destroys what was saved', () => {
  const small = smallFilesystem();
  afterAll(() => {
    if (small) execFileSync('umount', [small]);
  });

  it('a mounted 4 MiB file system is available for the full-disk test (root, as in CI)', () => {
    // Without it the next test cannot run; say so rather than pass quietly.
    expect(small ?? (process.getuid?.() === 0 ? 'mount failed' : 'not root')).toBe(small);
  });

  it.runIf(small)('a model too large for the disk: exit 1, one line, and the good model stays loadable', async () => {
    const path = join(small!, 'm.safetensors');
    const first = await runCli('--limit', '500', '--epochs', '1', '--hidden', '30', '--save', path);
    expect(first.code).toBe(0);
    const good = readFileSync(path);
    // 784×3000 float32 weights are 9.4 MB: the write runs out of space part-way.
    const { code, err } = await runCli('--limit', '200', '--epochs', '1', '--hidden', '3000', '--save', path);
    expect(code).toBe(1);
    expect(err).toEqual([`backprop: ${path}: cannot write (no space left on the device); the previous file, if any, is unchanged`]);
    expect(readFileSync(path).equals(good)).toBe(true);
    expect(loadModel(path).architecture.sizes).toEqual([784, 30, 10]);
    expect(readdirSync(small!)).toEqual(['m.safetensors']);
  });

  it('a parent of the save path that is a file: one line, exit 1', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'file'), 'x');
    const { code, err } = await runCli('--limit', '200', '--epochs', '1', '--hidden', '4', '--save', join(dir, 'file', 'sub', 'm.safetensors'));
    expect(code).toBe(1);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/m\.safetensors: cannot write \(a parent of the path is a file, not a folder\)/);
  });

  it('a temporary file left by a killed writer is removed by the next save; a live writer\'s is kept', () => {
    const dir = tempDir();
    const path = join(dir, 'm.safetensors');
    // pid 2^22 + 1 is above Linux's largest pid: no process has it.
    const orphan = join(dir, `.m.safetensors.${2 ** 22 + 1}.tmp`);
    const live = join(dir, `.m.safetensors.${process.ppid}.tmp`);
    const other = join(dir, `.n.safetensors.${2 ** 22 + 1}.tmp`);
    for (const file of [orphan, live, other]) writeFileSync(file, 'partial');
    writeFileAtomic(path, 'new');
    expect(existsSync(orphan)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(existsSync(other)).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe('new');
  });

  it('a folder in place of the file is refused whole', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'm.safetensors'));
    expect(() => writeFileAtomic(join(dir, 'm.safetensors'), 'x')).toThrow(/cannot write/);
    expect(readdirSync(dir)).toEqual(['m.safetensors']);
  });
});

describe('predict --image on real digits', () => {
  const { train, test } = realMnist();
  const digits = 200;
  let net: Network;
  let original: Uint8Array;
  const dir = tempDir();

  beforeAll(async () => {
    net = new Network([784, 64, 10], { backend: new TsBackend() }).initWeights(1);
    await fit(net, takeFirst(train, 6000), { epochs: 3 });
    original = net.predict(test!.x.subarray(0, digits * 784));
  });

  /** The 28×28 MNIST digit `i` as 8-bit pixels, light ink on black. */
  const pixels = (i: number): Buffer => Buffer.from(Uint8Array.from(test!.x.subarray(i * 784, (i + 1) * 784), (v) => Math.round(v * 255)));

  /** How many of the first `n` digits, written by `write` and read back, get the original's prediction. */
  async function agreement(n: number, write: (i: number, path: string) => Promise<unknown>, extension: string): Promise<number> {
    let same = 0;
    for (let i = 0; i < n; i++) {
      const path = join(dir, `${i}.${extension}`);
      await write(i, path);
      if (net.predict(await digitFromImage(path))[0] === original[i]) same++;
    }
    return same / n;
  }

  const gray = (i: number) => sharp(pixels(i), { raw: { width: 28, height: 28, channels: 1 } });

  it.each([
    ['PNG', 28, false, digits],
    ['PNG', 28, true, digits],
    ['PNG', 100, false, 50],
    ['PNG', 224, true, 50],
    ['JPEG', 224, false, 50],
    ['JPEG', 224, true, 50],
    ['JPEG', 1000, true, 20],
  ] as const)('%s at %i px (black on white: %s): the prediction of the original 28×28', async (format, size, inverted, n) => {
    const share = await agreement(
      n,
      (i, path) => {
        let image = gray(i).resize(size, size, { kernel: 'cubic' });
        if (inverted) image = image.negate();
        return (format === 'PNG' ? image.png() : image.jpeg({ quality: 90 })).toFile(path);
      },
      format.toLowerCase(),
    );
    expect(share).toBeGreaterThanOrEqual(0.95);
  });

  it('white ink on a transparent background, and colour (RGB) pictures', async () => {
    const transparent = await agreement(
      50,
      (i, path) => {
        const rgba = Buffer.alloc(784 * 4, 255);
        pixels(i).forEach((v, p) => (rgba[p * 4 + 3] = v));
        return sharp(rgba, { raw: { width: 28, height: 28, channels: 4 } }).resize(140, 140).png().toFile(path);
      },
      'png',
    );
    expect(transparent).toBeGreaterThanOrEqual(0.95);
    // Blue ink on a cream page.
    const colour = await agreement(
      50,
      (i, path) => {
        const rgb = Buffer.alloc(784 * 3);
        pixels(i).forEach((v, p) => rgb.set([250 - (v * 230) / 255, 245 - (v * 200) / 255, 225 - (v * 60) / 255], p * 3));
        return sharp(rgb, { raw: { width: 28, height: 28, channels: 3 } }).resize(300, 300).jpeg({ quality: 90 }).toFile(path);
      },
      'jpg',
    );
    expect(colour).toBeGreaterThanOrEqual(0.95);
  });

  it('a digit read back from a 28 px PNG is the original, up to a whole-pixel shift', async () => {
    const path = join(dir, 'same.png');
    await gray(0).png().toFile(path);
    const digit = await digitFromImage(path);
    const mass = (x: ArrayLike<number>): number => Array.from(x).reduce((a, b) => a + b, 0);
    expect(mass(digit)).toBeCloseTo(mass(test!.x.subarray(0, 784)), 0);
  });

  it('special files and folders are refused in one line, before reading', async () => {
    await expect(digitFromImage('/dev/zero')).rejects.toThrow(/\/dev\/zero: not a regular file/);
    await expect(digitFromImage(dir)).rejects.toThrow(/is a folder, not a file/);
  });
});
