import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import fc from 'fast-check';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Loss } from '../src/backends/activations.js';
import { NativeBackend } from '../src/backends/native.js';
import { TsBackend } from '../src/backends/ts.js';
import { TsWorkerBackend } from '../src/backends/ts-worker.js';
import { savedRunOf } from '../src/train/checkpoint.js';
import { loadCsv } from '../src/data/csv.js';
import { takeFirst } from '../src/data/dataset.js';
import { floatRows } from '../src/data/features.js';
import { readIdx } from '../src/data/idx.js';
import { bundledMnistDir } from '../src/data/mnist.js';
import { digitFromImage } from '../src/data/image.js';
import { writeFileAtomic } from '../src/io/atomic.js';
import { Network } from '../src/model/network.js';
import { loadModel, saveModel } from '../src/model/safetensors.js';
import { fit, type FitOptions } from '../src/train/fit.js';
import { idxBytes, interruptWhen, realMnist, runCli, supportedIsas, tempDir } from './helpers.js';

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
    expect(err).toEqual([
      `backprop: ${path}: cannot write (no space left on the device); the previous file, if any, is unchanged`,
    ]);
    expect(readFileSync(path).equals(good)).toBe(true);
    expect(loadModel(path).architecture.sizes).toEqual([784, 30, 10]);
    expect(readdirSync(small!)).toEqual(['m.safetensors']);
  });

  it('a parent of the save path that is a file: one line, exit 1', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'file'), 'x');
    const { code, err } = await runCli(
      '--limit',
      '200',
      '--epochs',
      '1',
      '--hidden',
      '4',
      '--save',
      join(dir, 'file', 'sub', 'm.safetensors'),
    );
    expect(code).toBe(1);
    expect(err).toHaveLength(1);
    expect(err[0]).toBe(
      `backprop: ${join(dir, 'file', 'sub', 'm.safetensors')}: cannot write (${join(dir, 'file')} is a file, not a folder); the previous file, if any, is unchanged`,
    );
  });

  it("a temporary file left by a killed writer is removed by the next save; a live writer's is kept", () => {
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

  it('only its own temporary files are touched: other names, other endings and other pids stay', () => {
    const dir = tempDir();
    const keep = [
      '.m.safetensors.abc.tmp',
      `.m.safetensors.${2 ** 22 + 1}.bak`,
      `m.safetensors.${2 ** 22 + 1}.tmp`,
      `.m.safetensors.${process.pid}.tmp.x`,
    ];
    for (const name of keep) writeFileSync(join(dir, name), 'x');
    writeFileAtomic(join(dir, 'm.safetensors'), 'new');
    expect(readdirSync(dir).sort()).toEqual([...keep, 'm.safetensors'].sort());
  });

  it.runIf(process.getuid?.() === 0)("a temporary file of a process it may not signal (another user's) is kept", () => {
    const dir = tempDir();
    chmodSync(dir, 0o777);
    // pid 1 belongs to root; a process of user nobody gets EPERM when it asks whether it runs.
    writeFileSync(join(dir, '.m.safetensors.1.tmp'), 'partial');
    // The module and what it imports, copied where that user can read them.
    const code = tempDir();
    chmodSync(code, 0o755);
    mkdirSync(join(code, 'io'));
    for (const file of ['io/atomic.js', 'io/files.js', 'errors.js'])
      writeFileSync(join(code, file), readFileSync(join(__dirname, '..', 'dist', file)));
    const script = `import(${JSON.stringify(join(code, 'io', 'atomic.js'))}).then((m) => m.writeFileAtomic(process.argv[1], 'new'))`;
    execFileSync(process.execPath, ['-e', script, join(dir, 'm.safetensors')], { uid: 65534, gid: 65534 });
    expect(readdirSync(dir).sort()).toEqual(['.m.safetensors.1.tmp', 'm.safetensors']);
  });

  it('text is written as UTF-8, bytes as they are, and no file descriptor is left open', () => {
    const dir = tempDir();
    const openFiles = (): number => readdirSync('/proc/self/fd').length;
    const before = openFiles();
    for (let i = 0; i < 20; i++) writeFileAtomic(join(dir, 'a.txt'), `é✓ ${'ü'.repeat(i)}`);
    writeFileAtomic(join(dir, 'b.bin'), Uint8Array.of(0, 255, 128));
    expect(openFiles()).toBe(before);
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe(`é✓ ${'ü'.repeat(19)}`);
    expect(Array.from(readFileSync(join(dir, 'b.bin')))).toEqual([0, 255, 128]);
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
  const pixels = (i: number): Buffer => Buffer.from(test!.x.subarray(i * 784, (i + 1) * 784));

  /** How many of the first `n` digits, written by `write` and read back, get the original's prediction. */
  async function agreement(
    n: number,
    write: (i: number, path: string) => Promise<unknown>,
    extension: string,
  ): Promise<number> {
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
  ] as const)(
    '%s at %i px (black on white: %s): the prediction of the original 28×28',
    async (format, size, inverted, n) => {
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
    },
  );

  it('white ink on a transparent background, and colour (RGB) pictures', async () => {
    const transparent = await agreement(
      50,
      (i, path) => {
        const rgba = Buffer.alloc(784 * 4, 255);
        pixels(i).forEach((v, p) => (rgba[p * 4 + 3] = v));
        return sharp(rgba, { raw: { width: 28, height: 28, channels: 4 } })
          .resize(140, 140)
          .png()
          .toFile(path);
      },
      'png',
    );
    expect(transparent).toBeGreaterThanOrEqual(0.95);
    // Blue ink on a cream page.
    const colour = await agreement(
      50,
      (i, path) => {
        const rgb = Buffer.alloc(784 * 3);
        pixels(i).forEach((v, p) =>
          rgb.set([250 - (v * 230) / 255, 245 - (v * 200) / 255, 225 - (v * 60) / 255], p * 3),
        );
        return sharp(rgb, { raw: { width: 28, height: 28, channels: 3 } })
          .resize(300, 300)
          .jpeg({ quality: 90 })
          .toFile(path);
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
    expect(mass(digit)).toBeCloseTo(mass(floatRows(test!.x, 784, 0, 1)), 0);
  });

  it('special files and folders are refused in one line, before reading', async () => {
    await expect(digitFromImage('/dev/zero')).rejects.toThrow(/\/dev\/zero: not a regular file/);
    await expect(digitFromImage(dir)).rejects.toThrow(/is a folder, not a file/);
  });
});

/** A copy of the bundled MNIST folder (images linked), with `edit` applied to the training labels' bytes. */
function mnistWithTrainLabels(edit: (labels: Buffer) => void, testEdit?: (labels: Buffer) => void): string {
  const dir = tempDir();
  const source = bundledMnistDir();
  for (const name of ['train-images-idx3-ubyte', 't10k-images-idx3-ubyte'])
    symlinkSync(join(source, name), join(dir, name));
  const train = readFileSync(join(source, 'train-labels-idx1-ubyte'));
  const test = readFileSync(join(source, 't10k-labels-idx1-ubyte'));
  edit(train.subarray(8));
  testEdit?.(test.subarray(8));
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), train);
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), test);
  return dir;
}

describe('labels and classes', () => {
  it('one stray label of 200 in MNIST is refused, naming it and its sample; --classes 201 accepts it', async () => {
    const dir = mnistWithTrainLabels((labels) => (labels[31337] = 200));
    const { code, err } = await runCli('--data', dir, '--epochs', '1', '--limit', '100');
    expect(code).toBe(1);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(
      /train-labels-idx1-ubyte: classes 10, 11, 12, … 199 have no samples, yet label 200 \(sample 31338\) makes 201 classes/,
    );
    const declared = await runCli('--data', dir, '--epochs', '1', '--limit', '100', '--classes', '201', '--json');
    expect(declared.code).toBe(0);
    expect(declared.err).toEqual([]);
  });

  it('a test label the training labels never have is refused, naming it', async () => {
    const noNines = (labels: Buffer): void => labels.forEach((v, i) => (labels[i] = v === 9 ? 8 : v));
    const dir = mnistWithTrainLabels(noNines, (labels) => {
      noNines(labels);
      labels[4321] = 9;
    });
    const { code, err } = await runCli('--data', dir, '--epochs', '1', '--limit', '100');
    expect(code).toBe(1);
    expect(err[0]).toMatch(
      /t10k-labels-idx1-ubyte: label 9 \(sample 4322\) is not one of the 9 classes \(0–8\) of the training data/,
    );
  });

  it("CSV classes numbered from 1 are refused; a validation label outside the training rows' classes too", () => {
    const dir = tempDir();
    const rows = (labels: number[]): string => `a,b,label\n${labels.map((l, i) => `${i},${i * 2},${l}`).join('\n')}\n`;
    writeFileSync(join(dir, 'one.csv'), rows([1, 2, 3, 1, 2, 3]));
    expect(() => loadCsv(join(dir, 'one.csv'), { targetKind: 'classes' })).toThrow(
      /class 0 has no samples, yet label 3 \(row 3\) makes 4 classes/,
    );
    expect(loadCsv(join(dir, 'one.csv'), { targetKind: 'classes', classes: 4 }).train.outputs).toBe(4);
    // Up to four missing classes are listed; more are shortened.
    writeFileSync(join(dir, 'four.csv'), rows([0, 5, 0, 5]));
    expect(() => loadCsv(join(dir, 'four.csv'), { targetKind: 'classes' })).toThrow(
      /classes 1, 2, 3, 4 have no samples, yet label 5 \(row 2\)/,
    );
    writeFileSync(join(dir, 'five.csv'), rows([0, 6, 0, 6]));
    expect(() => loadCsv(join(dir, 'five.csv'), { targetKind: 'classes' })).toThrow(
      /classes 1, 2, 3, … 5 have no samples, yet label 6 \(row 2\)/,
    );
    writeFileSync(join(dir, 'val.csv'), rows([0, 1, 0, 1, 0, 2]));
    expect(() => loadCsv(join(dir, 'val.csv'), { targetKind: 'classes', valSplit: 0.2 })).toThrow(
      /validation rows\): label 2 \(row 6\) is not one of the 2 classes/,
    );
  });

  it('class names (the iris example): sorted classes, kept in the model, printed by predict', async () => {
    const dir = tempDir();
    const species = ['setosa', 'versicolor', 'virginica'];
    const lines = ['sepal_length,sepal_width,species'];
    for (let i = 0; i < 60; i++)
      lines.push(
        `${(4 + (i % 3) * 1.5 + (i % 7) * 0.05).toFixed(2)},${(3 - (i % 3) * 0.4).toFixed(2)},${species[(i * 2) % 3]}`,
      );
    // They first appear as setosa, virginica, versicolor; classes are numbered in sorted order.
    writeFileSync(join(dir, 'iris.csv'), `${lines.join('\n')}\n`);
    const data = loadCsv(join(dir, 'iris.csv'), { targetKind: 'classes' });
    expect(data.classNames).toEqual(species);
    expect(data.train.outputs).toBe(3);
    expect(Array.from(data.train.labels!.subarray(0, 3))).toEqual([0, 2, 1]);
    const model = join(dir, 'iris.safetensors');
    const trained = await runCli(
      '--data',
      join(dir, 'iris.csv'),
      '--hidden',
      '8',
      '--epochs',
      '40',
      '--batch',
      '6',
      '--normalize',
      'zscore',
      '--save',
      model,
    );
    expect(trained.code).toBe(0);
    const predicted = await runCli('predict', '--model', model, '--data', join(dir, 'iris.csv'));
    expect(predicted.code).toBe(0);
    expect(predicted.out[2]).toMatch(/^\s+setosa\s+versicolor\s+virginica$/);
    expect(predicted.out[3]).toMatch(/^\s*setosa\s+\d+/);
    const json = await runCli('predict', '--model', model, '--data', join(dir, 'iris.csv'), '--json');
    expect((JSON.parse(json.out[0]) as { classNames: string[] }).classNames).toEqual(species);
    const report = join(dir, 'iris.html');
    expect((await runCli('report', '--model', model, '--data', join(dir, 'iris.csv'), '--out', report)).code).toBe(0);
    const html = readFileSync(report, 'utf8');
    for (const name of species) expect(html).toContain(`>${name}</text>`);
    // A file with a class the model does not know is refused by name.
    writeFileSync(join(dir, 'new.csv'), 'sepal_length,sepal_width,species\n5,3,setosa\n6,2,unknown\n');
    const unknown = await runCli('predict', '--model', model, '--data', join(dir, 'new.csv'));
    expect([unknown.code, unknown.err]).toEqual([
      1,
      [
        `backprop: ${join(dir, 'new.csv')}: line 3: class 'unknown' is not one of the model's classes (setosa, versicolor, virginica)`,
      ],
    ]);
  });
});

describe('real-world CSV files', () => {
  const dir = tempDir();
  const header = ['x 1', 'x,2', 'label'];
  const rows = [
    [1.5, -2, 0],
    [0.25, 3e-3, 1],
    [-7, 1e5, 2],
    [4, 0.5, 1],
  ];
  let expected: ReturnType<typeof loadCsv>;
  beforeAll(() => {
    const path = join(dir, 'plain.csv');
    writeFileSync(path, `"x 1","x,2",label\n${rows.map((r) => r.join(',')).join('\n')}\n`);
    expected = loadCsv(path, { targetKind: 'classes' });
  });

  it.each([
    ['BOM and CRLF', 'a.csv', `\uFEFF"x 1","x,2",label\r\n${rows.map((r) => r.join(',')).join('\r\n')}\r\n`],
    ['CR only (old Mac)', 'b.csv', `"x 1","x,2",label\r${rows.map((r) => r.join(',')).join('\r')}`],
    [
      'every cell quoted, spaces around',
      'c.CSV',
      `"x 1" , "x,2", "label"\n${rows.map((r) => r.map((v) => ` "${v}" `).join(',')).join('\n')}\n`,
    ],
    [
      'semicolons and decimal commas',
      'd.csv',
      `x 1;"x,2";label\n${rows.map((r) => r.map((v) => String(v).replace('.', ',')).join(';')).join('\n')}\n`,
    ],
    ['tabs (.tsv)', 'e.tsv', `x 1\tx,2\tlabel\n${rows.map((r) => r.join('\t')).join('\n')}\n`],
    ['blank lines and no final newline', 'f.csv', `"x 1","x,2",label\n\n${rows.map((r) => r.join(',')).join('\n\n')}`],
  ])('%s: the same samples as the plain file', (_, name, text) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    const data = loadCsv(path, { targetKind: 'classes' });
    expect(data.features).toEqual(header.slice(0, 2));
    expect(Array.from(data.train.x)).toEqual(Array.from(expected.train.x));
    expect(Array.from(data.train.labels!)).toEqual(Array.from(expected.train.labels!));
  });

  it('a quoted cell holding the delimiter, a quote and a line break counts lines right', () => {
    const path = join(dir, 'q.csv');
    writeFileSync(path, 'x,label\n1,"a, ""b""\nc"\n2,"a, ""b""\nc"\n3,d\n');
    const data = loadCsv(path, { targetKind: 'classes' });
    expect(data.classNames).toEqual(['a, "b"\nc', 'd']);
    expect(Array.from(data.train.labels!)).toEqual([0, 0, 1]);
    writeFileSync(path, 'x,label\n1,"a, ""b""\nc"\n2,"a, ""b""\nc"\nd,x\n');
    expect(() => loadCsv(path, { targetKind: 'classes' })).toThrow(/q\.csv: line 6, column 1: 'd' is not a number/);
    writeFileSync(path, 'x,label\n"1,0\n');
    expect(() => loadCsv(path, { targetKind: 'classes' })).toThrow(/line 2: a quoted cell is never closed/);
  });

  it('--delimiter and an upper-case .CSV from the command line', async () => {
    const path = join(dir, 'SEMI.CSV');
    writeFileSync(
      path,
      `a;b;label\n${Array.from({ length: 30 }, (_, i) => `${i % 5},${i % 3};${(i % 7) / 10};${i % 2}`).join('\n')}\n`,
    );
    const run = await runCli(
      '--data',
      path,
      '--delimiter',
      'semicolon',
      '--hidden',
      '3',
      '--epochs',
      '1',
      '--batch',
      '5',
      '--json',
    );
    expect(run.code).toBe(0);
    expect(run.err).toEqual([]);
  });

  it('a cell beyond float32 (1e39) is a data error naming it, not a divergence', async () => {
    const path = join(dir, 'big.csv');
    writeFileSync(path, 'a,label\n1,0\n1e39,1\n');
    const { code, err } = await runCli('--data', path, '--hidden', '2', '--epochs', '1', '--batch', '1');
    expect([code, err]).toEqual([
      1,
      [`backprop: ${path}: line 3, column 1: '1e39' is beyond the float32 range (±3.4e38)`],
    ]);
  });

  it('200,000 rows load (no argument-count limit), every label and value in place', () => {
    const path = join(dir, 'many.csv');
    const n = 200_000;
    const lines = ['a,b,label'];
    for (let i = 0; i < n; i++) lines.push(`${i},${(i % 1000) / 8},${i % 10}`);
    writeFileSync(path, `${lines.join('\n')}\n`);
    const data = loadCsv(path, { targetKind: 'classes' });
    expect(data.train.count).toBe(n);
    expect(data.train.outputs).toBe(10);
    for (const i of [0, 1, 122_001, 199_999]) {
      expect(data.train.x[i * 2]).toBe(i);
      expect(data.train.x[i * 2 + 1]).toBe((i % 1000) / 8);
      expect(data.train.labels![i]).toBe(i % 10);
    }
  });

  it('records longer than the read window, and numbers of every form, parse as Number() does', () => {
    const path = join(dir, 'wide.csv');
    // A 4 KiB window (the default is 4 MiB) makes each 80 KB record span it and grow it five times.
    const width = 6_000;
    const values = Array.from(
      { length: width },
      (_, i) =>
        [`${i}.125`, `-${i}e-3`, `.5`, `1234567890123456789`, `0.1000000000000000055511151231257827`, `+7`, `2E+2`][
          i % 7
        ],
    );
    writeFileSync(path, `${values.join(',')},0\n${values.join(',')},1\n`);
    const data = loadCsv(path, { targetKind: 'classes', chunkBytes: 1 << 12 });
    expect(data.train.count).toBe(2);
    expect(Array.from(data.train.x.subarray(0, width))).toEqual(values.map((v) => Math.fround(Number(v))));
  });
});

describe('special files never hang or flood memory', () => {
  const fifo = join(tempDir(), 'pipe');
  execFileSync('mkfifo', [fifo]);
  execFileSync('mkfifo', [`${fifo}.json`]);

  it.each([
    ['--data', '/dev/zero/'],
    ['--data', '/dev/zero.csv'],
  ])('%s %s: one line, exit 1', async (...args) => {
    const { code, err } = await runCli(...args, '--epochs', '1');
    expect(code).toBe(1);
    expect(err).toHaveLength(1);
  });

  it('/dev/zero and a FIFO as IDX, CSV, model or image are refused before reading', async () => {
    expect(() => readIdx('/dev/zero')).toThrow(/\/dev\/zero: not a regular file/);
    expect(() => loadCsv(fifo, { targetKind: 'classes' })).toThrow(/pipe: not a regular file/);
    const model = await runCli('predict', '--model', fifo);
    expect([model.code, model.err]).toEqual([
      1,
      [`backprop: ${fifo}: not a regular file (a device, pipe or socket cannot be read as data)`],
    ]);
    const weights = await runCli('--init', `${fifo}.json`, '--epochs', '1');
    expect(weights.code).toBe(1);
    expect(weights.err[0]).toMatch(/pipe\.json: not a regular file/);
    const folder = await runCli('predict', '--model', tempDir());
    expect(folder.code).toBe(1);
    expect(folder.err[0]).toMatch(/is a folder, not a file$/);
  });

  it('a gzip bomb is refused from its IDX header, or at the size its header declares', () => {
    const dir = tempDir();
    // An MNIST header, then 1 GiB of zeros in 16 members: inflated no further than the header's 47 MB.
    const member = gzipSync(Buffer.alloc(64 << 20));
    writeFileSync(
      join(dir, 'bomb.gz'),
      Buffer.concat([gzipSync(idxBytes([60000, 28, 28], [])), ...Array.from({ length: 16 }, () => member)]),
    );
    const before = process.memoryUsage().rss;
    expect(() => readIdx(join(dir, 'bomb.gz'))).toThrow(
      /inflates to more than the 47040016 bytes its IDX header declares/,
    );
    expect(process.memoryUsage().rss - before).toBeLessThan(200 << 20);
    // Zeros without a header are no IDX file, refused from their first bytes.
    writeFileSync(join(dir, 'zeros.gz'), member);
    expect(() => readIdx(join(dir, 'zeros.gz'))).toThrow(/zeros\.gz: IDX element type 0x0 is not supported/);
  });

  it('a process memory limit (ulimit -v) gives one line, whatever runs out', () => {
    const cli = join(__dirname, '..', 'bin', 'backprop.js');
    const run = (limitKb: number, args: string): { status: number | null; stderr: string } => {
      try {
        execFileSync('bash', ['-c', `ulimit -v ${limitKb}; exec "${process.execPath}" "${cli}" ${args}`], {
          stdio: 'pipe',
        });
        return { status: 0, stderr: '' };
      } catch (err) {
        const e = err as { status: number | null; stderr: Buffer };
        return { status: e.status, stderr: e.stderr.toString() };
      }
    };
    // 256 threads' stacks do not fit in 1.5 GB: the thread that cannot start ended the process
    // (std::system_error) before the pool stopped the others and said so.
    const threads = run(1_500_000, '--threads 256 --limit 100 --epochs 1');
    expect([threads.status, threads.stderr.trim().split('\n')]).toEqual([
      1,
      [expect.stringMatching(/^backprop: cannot start 256 threads \(.+\).*use fewer --threads$/)],
    ]);
    const { status, stderr } = run(1_500_000, '--hidden 100000 --limit 100 --epochs 1');
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/the process memory limit \(ulimit -v\) leaves about/);
    expect([1, 2]).toContain(status);
  });
});

describe('resume continues the saved run', () => {
  const dir = tempDir();
  const model = join(dir, 'run.safetensors');
  const run = [
    '--hidden',
    '12',
    '--limit',
    '1000',
    '--batch',
    '50',
    '--shuffle',
    '--lr',
    '0.05',
    '--optimizer',
    'momentum',
    '--momentum',
    '0.8',
  ];

  beforeAll(async () => {
    expect((await runCli(...run, '--epochs', '2', '--save', model, '--json')).code).toBe(0);
  });

  it('with only --resume and more --epochs, the saved options are used: the weights of one uninterrupted run', async () => {
    const resumed = join(dir, 'resumed.safetensors');
    const continued = await runCli('--resume', model, '--epochs', '3', '--save', resumed, '--json');
    expect(continued.code).toBe(0);
    expect(continued.err).toEqual([`backprop: resuming ${model} after epoch 2, with its saved settings`]);
    const straight = join(dir, 'straight.safetensors');
    expect((await runCli(...run, '--epochs', '3', '--save', straight, '--json')).code).toBe(0);
    const [a, b] = [loadModel(resumed), loadModel(straight)];
    expect(Buffer.from(a.params.buffer).equals(Buffer.from(b.params.buffer))).toBe(true);
    expect(a.extra.training).toEqual(b.extra.training);
    expect((a.extra.training as { hidden: number[] }).hidden).toEqual([12]);
  });

  it.each([
    [['--hidden', '64'], '--hidden 64 contradicts', 'trained with 12'],
    [['--lr', '0.1'], '--lr 0.1 contradicts', 'trained with 0.05'],
    [['--sampling', 'order'], '--sampling order contradicts', 'trained with shuffle'],
    [['--momentum', '0.9'], '--momentum 0.9 contradicts', 'trained with 0.8'],
    [['--limit', '500'], '--limit 500 contradicts', 'trained with 1000'],
    [['--epochs', '1'], 'has 2 epochs done; --epochs 1 would train nothing', ''],
    [['--epochs', '2'], 'has 2 epochs done; --epochs 2 would train nothing', ''],
  ])('--resume with %j is refused, naming both values', async (extra, first, second) => {
    const { code, err } = await runCli('--resume', model, ...extra);
    expect(code).toBe(2);
    expect(err).toHaveLength(1);
    expect(err[0]).toContain(first);
    expect(err[0]).toContain(second);
  });

  it('a mid-epoch checkpoint on fewer samples than it was saved in is refused in one line', async () => {
    const file = loadModel(model);
    const edited = join(dir, 'midway.safetensors');
    saveModel(edited, { ...file, extra: { ...file.extra, training: undefined, samplesDone: 900 } });
    const { code, err } = await runCli(
      '--resume',
      edited,
      '--limit',
      '500',
      '--hidden',
      '12',
      '--batch',
      '50',
      '--optimizer',
      'momentum',
      '--momentum',
      '0.8',
      '--lr',
      '0.05',
    );
    expect([code, err]).toEqual([
      1,
      [
        `backprop: ${edited} was saved 900 samples into an epoch, and the training data have 500: they are not the data it trained on`,
      ],
    ]);
  });

  it("Ctrl-C during the last epoch's evaluation stops there: exit 130, the complete run saved", async () => {
    const path = join(dir, 'eval.safetensors');
    // The last batch's progress: training is over, the evaluation of 10,600 samples begins.
    const args = ['--hidden', '2048', '--limit', '600', '--epochs', '1', '--json', '--progress-json', '--save', path];
    const { code, stderr } = await interruptWhen(args, 'SIGINT', '"samplesDone":600,"samples":600');
    expect(code).toBe(130);
    expect(stderr).toMatch(/interrupted after (epoch 1; saved to|the last epoch; the finished run is saved to) /);
    expect(savedRunOf(loadModel(path), path).history).toHaveLength(1);
  });
});

describe('model files edited or damaged', () => {
  const dir = tempDir();
  const good = join(dir, 'good.safetensors');
  beforeAll(async () => {
    expect(
      (await runCli('--hidden', '4', '--limit', '200', '--epochs', '1', '--optimizer', 'adam', '--save', good)).code,
    ).toBe(0);
  });

  /** The good file with its JSON header edited (the tensors, and so the checksum, unchanged). */
  function edited(
    name: string,
    edit: (header: Record<string, unknown>, meta: Record<string, string>) => unknown,
  ): string {
    const bytes = readFileSync(good);
    const length = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + length).toString()) as Record<string, unknown>;
    const replaced = edit(header, header.__metadata__ as Record<string, string>);
    const json = Buffer.from(JSON.stringify(replaced === undefined ? header : replaced));
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(json.length));
    const path = join(dir, name);
    writeFileSync(path, Buffer.concat([prefix, json, bytes.subarray(8 + length)]));
    return path;
  }

  const extra = (meta: Record<string, string>, change: Record<string, unknown>): void => {
    meta.extra = JSON.stringify({ ...JSON.parse(meta.extra), ...change });
  };

  it.each([
    ['header null', () => edited('a', () => null), /not a safetensors file \(its header is not a JSON object\)/],
    [
      'optimizer_scalars "{"',
      () => edited('b', (_, m) => void (m.optimizer_scalars = '{')),
      /optimizer_scalars in its metadata is not valid JSON/,
    ],
    [
      'optimizer_scalars of 2',
      () => edited('c', (_, m) => void (m.optimizer_scalars = '[1,2]')),
      /optimizer_scalars in its metadata is not \[steps/,
    ],
    [
      'extra "null"',
      () => edited('d', (_, m) => void (m.extra = 'null')),
      /extra in its metadata is not a JSON object/,
    ],
    [
      'a history that is not an array',
      () => edited('e', (_, m) => extra(m, { history: 'lots' })),
      /metadata field history is not what backprop saves/,
    ],
    ['samplesDone −5', () => edited('f', (_, m) => extra(m, { samplesDone: -5 })), /metadata field samplesDone/],
    [
      'a metadata value that is not a string',
      () => edited('g', (h) => void ((h.__metadata__ as Record<string, unknown>).version = 1)),
      /__metadata__ is not a table of strings/,
    ],
    [
      'overlapping data_offsets',
      () =>
        edited('h', (h) => {
          const bias = h['layers.0.bias'] as { data_offsets: number[] };
          bias.data_offsets = [0, bias.data_offsets[1] - bias.data_offsets[0]];
        }),
      /overlaps another tensor's bytes/,
    ],
  ])('%s: one line, exit 1, for predict and --resume', async (_, make, message) => {
    const path = make();
    for (const args of [
      ['predict', '--model', path],
      ['--resume', path, '--epochs', '3'],
    ]) {
      const { code, err } = await runCli(...args);
      expect(code).toBe(1);
      expect(err).toHaveLength(1);
      expect(err[0]).toMatch(message);
    }
  });

  it('a 5 GiB file is refused from its header, before anything is read', async () => {
    const path = join(dir, 'huge.safetensors');
    writeFileSync(path, readFileSync(good));
    truncateSync(path, 5 * 1024 ** 3);
    const { code, err } = await runCli('predict', '--model', path);
    expect(code).toBe(1);
    expect(err[0]).toMatch(/bytes after the last tensor \(the file is longer than its header says\)/);
  });
});

describe('the library API refuses what it cannot do', () => {
  const data = takeFirst(realMnist().train, 300);
  const backends = [
    ['ts', () => new TsWorkerBackend()],
    ...(supportedIsas.length ? [['native', () => new NativeBackend({ threads: 1 })] as const] : []),
  ] as const;

  it.each([
    [{ learningRate: -1 }, RangeError, /learningRate must be a positive finite number/],
    [{ learningRate: 1e-320 }, RangeError, /learningRate must be a positive finite number that float32 can hold/],
    [{ epochs: NaN }, RangeError, /epochs must be a whole number/],
    [{ steps: -5 }, RangeError, /steps must be a whole number from 1/],
    [{ sampling: 'sideways' }, RangeError, /sampling must be one of order, shuffle, random/],
    [{ batchSize: '10' }, TypeError, /batchSize must be a number/],
    [{ optimizer: { name: 'lion' } }, RangeError, /optimizer.name must be one of/],
    [{ optimizer: { name: 'momentum', momentum: Infinity } }, RangeError, /optimizer.momentum must be a number/],
    [{ onProgress: 'yes' }, TypeError, /onProgress must be a function/],
    [{ learningrate: 0.1 }, TypeError, /fit: learningrate is not an option \(did you mean learningRate\?\)/],
    [
      { optimizer: { name: 'adam', beta: 0.9 } },
      TypeError,
      /fit: optimizer\.beta is not an option \(the options: name, momentum, beta1, beta2, epsilon, weightDecay\)/,
    ],
  ])('fit(%j) rejects with a %s naming the field', async (options, type, message) => {
    const net = new Network([784, 4, 10]).initWeights(1);
    const before = net.params.slice();
    const promise = fit(net, data, options as FitOptions);
    await expect(promise).rejects.toThrow(type);
    await expect(promise).rejects.toThrow(message);
    expect(net.params).toEqual(before);
  });

  it('NaN or infinite inputs and labels beyond the outputs are refused before training', async () => {
    const x = floatRows(data.x, 784, 0, data.count);
    x[5 * 784 + 17] = NaN;
    await expect(fit(new Network([784, 4, 10]), { ...data, x })).rejects.toThrow(
      /train\.x holds NaN at sample 5, feature 17/,
    );
    const labels = data.labels!.slice();
    labels[3] = 10;
    await expect(fit(new Network([784, 4, 10]), data, { validation: { ...data, labels } })).rejects.toThrow(
      /validation\.labels\[3\] is 10, but the network has 10 outputs/,
    );
    expect(() => new Network([3, 2], { loss: 'hinge' as Loss })).toThrow(/unknown loss 'hinge'/);
  });

  it.each(backends)('two fit calls on one network at once: the second is refused (%s)', async (_, make) => {
    const net = new Network([784, 8, 10], { backend: make() }).initWeights(1);
    const first = fit(net, data, { epochs: 2 });
    await expect(fit(net, data, { epochs: 1 })).rejects.toThrow(/already|being trained/);
    await first;
    await expect(fit(net, data, { epochs: 1 })).resolves.toBeDefined();
  });

  it.each(backends)('an already-aborted signal trains nothing (%s)', async (_, make) => {
    const net = new Network([784, 8, 10], { backend: make() }).initWeights(1);
    const before = net.params.slice();
    const result = await fit(net, data, { epochs: 1, signal: AbortSignal.abort() });
    expect(result.interrupted).toEqual({ reason: 'stopped', epoch: 1, samplesDone: 0 });
    expect(net.params).toEqual(before);
  });

  it.each(backends)(
    'an exception in onProgress rejects fit with it, and no warning is printed (%s)',
    async (_, make) => {
      const net = new Network([784, 8, 10], { backend: make() }).initWeights(1);
      const warnings: unknown[] = [];
      const onWarning = (w: unknown): number => warnings.push(w);
      process.on('warning', onWarning);
      const failure = new Error('the callback broke');
      let calls = 0;
      await expect(
        fit(net, data, {
          batchSize: 10,
          epochs: 3,
          onProgress: () => {
            calls++;
            throw failure;
          },
        }),
      ).rejects.toBe(failure);
      await new Promise((resolve) => setTimeout(resolve, 50));
      process.off('warning', onWarning);
      expect(calls).toBe(1);
      expect(warnings).toEqual([]);
    },
  );
});

describe('options that cannot act are errors', () => {
  it.each([
    [['--momentum', '0.5'], /--momentum applies to --optimizer momentum, not sgd/],
    [['--optimizer', 'adam', '--momentum', '0.5'], /--momentum applies to --optimizer momentum, not adam/],
    [['--lr', '1e-320'], /--lr 1e-320 is 0 in float32/],
  ])('%j: exit 2, one line', async (args, message) => {
    const { code, err } = await runCli(...args, '--limit', '100', '--epochs', '1');
    expect(code).toBe(2);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(message);
  });

  it('a divergence names the option most likely at fault', async () => {
    const network = ['--loss', 'mse', '--activation', 'tanh', '--limit', '2000', '--epochs', '3', '--hidden', '8'];
    const momentum = await runCli(...network, '--optimizer', 'momentum', '--momentum', '0.999', '--lr', '2');
    expect(momentum.code).toBe(3);
    expect(momentum.err.at(-1)).toMatch(
      /with momentum 0\.999, learning rate 2; try a smaller --momentum than 0\.999 \(e\.g\. 0\.9\), a smaller --lr/,
    );
    const decay = await runCli(
      '--weight-decay',
      '50',
      '--lr',
      '1',
      '--limit',
      '2000',
      '--epochs',
      '3',
      '--hidden',
      '8',
    );
    expect(decay.code).toBe(3);
    expect(decay.err.at(-1)).toMatch(
      /with sgd, learning rate 1, weight decay 50; try a smaller --weight-decay than 50 \(e\.g\. 5\), a smaller --lr/,
    );
  });
});

describe('CSV dialects, property-based (fast-check)', () => {
  it('any table written in any dialect reads back as the same float32 samples and labels', () => {
    const dir = tempDir();
    const cell = fc.oneof(
      fc.integer({ min: -1e6, max: 1e6 }),
      fc.double({ min: -1e30, max: 1e30, noNaN: true }),
      fc.double({ min: -1, max: 1, noNaN: true }),
    );
    const dialect = fc.record({
      delimiter: fc.constantFrom(',', ';', '\t'),
      newline: fc.constantFrom('\n', '\r\n', '\r'),
      bom: fc.boolean(),
      quoteAll: fc.boolean(),
      header: fc.boolean(),
      spaces: fc.boolean(),
      finalNewline: fc.boolean(),
      names: fc.boolean(),
      // Tiny read windows put every kind of boundary (in a quote, between CR and LF) between two reads.
      chunk: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.constant(1 << 22)),
    });
    const table = fc.integer({ min: 1, max: 5 }).chain((width) =>
      fc.array(fc.tuple(fc.array(cell, { minLength: width, maxLength: width }), fc.nat(3)), {
        minLength: 2,
        maxLength: 30,
      }),
    );
    let file = 0;
    fc.assert(
      fc.property(dialect, table, (d, rows) => {
        const width = rows[0][0].length;
        const names = ['alpha', 'beta, "b"', 'gamma\nline', 'delta'];
        const format = (text: string): string => {
          const quoted = d.quoteAll || text.includes(d.delimiter) || text.includes('"') || /[\r\n]/.test(text);
          const body = quoted ? `"${text.replaceAll('"', '""')}"` : text;
          return d.spaces ? ` ${body} ` : body;
        };
        // Decimal commas go with semicolons and tabs, as spreadsheets write them.
        const text = (v: number): string => (Object.is(v, -0) ? '-0' : String(v));
        const number = (v: number): string => (d.delimiter === ',' ? text(v) : text(v).replace('.', ','));
        const lines = rows.map(([values, label]) =>
          [...values.map((v) => format(number(v))), format(d.names ? names[label] : String(label))].join(d.delimiter),
        );
        if (d.header)
          lines.unshift(
            [...Array.from({ length: width }, (_, j) => format(`feature ${j}`)), format('class')].join(d.delimiter),
          );
        const path = join(dir, `t${file++}.csv`);
        writeFileSync(path, `${d.bom ? '\uFEFF' : ''}${lines.join(d.newline)}${d.finalNewline ? d.newline : ''}`);
        const labels = rows.map(([, label]) => label);
        const used = [...new Set(labels)].sort((a, b) => (d.names ? names[a].localeCompare(names[b], 'en') : a - b));
        const hasGap = !d.names && used.some((label, i) => label !== i);
        let data;
        try {
          data = loadCsv(path, {
            targetKind: 'classes',
            delimiter: d.delimiter === ',' ? 'comma' : d.delimiter === ';' ? 'semicolon' : 'tab',
            chunkBytes: d.chunk,
          });
        } catch (err) {
          // The only refusal allowed: numeric labels with a gap (0 and 2 without 1).
          expect(hasGap).toBe(true);
          expect((err as Error).message).toMatch(/no samples/);
          return;
        }
        expect(hasGap).toBe(false);
        expect(Array.from(data.train.x)).toEqual(rows.flatMap(([values]) => values.map((v) => Math.fround(v))));
        const classOf = d.names ? (label: number) => data.classNames!.indexOf(names[label]) : (label: number) => label;
        expect(Array.from(data.train.labels!)).toEqual(labels.map(classOf));
      }),
      { numRuns: 500, seed: 7 },
    );
  });
});
