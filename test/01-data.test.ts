import { createHash } from 'node:crypto';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { takeFirst } from '../src/data/dataset.js';
import { floatRows } from '../src/data/features.js';
import { readIdx } from '../src/data/idx.js';
import { parseIdx } from '../src/data/idx-format.js';
import { classNamesOf, loadMnist, type Preprocessing } from '../src/data/mnist.js';
import { isDelimitedFile, loadCsv } from '../src/data/csv.js';
import { parseDecimal, readRecords } from '../src/data/csv-reader.js';
import fc from 'fast-check';
import { DataError } from '../src/errors.js';
import { idxBytes, realMnist, tempDir, writeTinyIdxSet } from './helpers.js';

describe('IDX reader', () => {
  it('reads dimensions and bytes of a valid file', () => {
    const idx = parseIdx(idxBytes([2, 3], [1, 2, 3, 4, 5, 6]), 'x');
    expect(idx.dims).toEqual([2, 3]);
    expect(Array.from(idx.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('reads a gzipped file like the plain one', () => {
    const dir = tempDir();
    const bytes = idxBytes([3], [7, 8, 9]);
    writeFileSync(join(dir, 'a.gz'), gzipSync(bytes));
    writeFileSync(join(dir, 'a'), bytes);
    expect(readIdx(join(dir, 'a.gz'))).toEqual(readIdx(join(dir, 'a')));
  });

  it('refuses a truncated file, naming the sizes', () => {
    const bytes = idxBytes([2, 3], [1, 2, 3, 4, 5, 6]).subarray(0, 15);
    expect(() => parseIdx(bytes, 'f.idx')).toThrow(/f\.idx: truncated \(header 2×3 needs 18 bytes, file has 15\)/);
  });

  it('refuses a truncated header and an empty file', () => {
    expect(() => parseIdx(idxBytes([2, 3], []).subarray(0, 9), 'f')).toThrow(DataError);
    expect(() => parseIdx(new Uint8Array(0), 'f')).toThrow(/no header/);
  });

  it('refuses a wrong magic number and a non-byte element type', () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]);
    expect(() => parseIdx(png, 'p')).toThrow(/not an IDX file \(magic number 0x89504e47/);
    const floats = idxBytes([1], [0]);
    floats[2] = 0x0d;
    expect(() => parseIdx(floats, 'f')).toThrow(/element type 0xd is not supported/);
  });

  it('refuses a corrupt gzip stream', () => {
    const dir = tempDir();
    const gz = gzipSync(idxBytes([3], [7, 8, 9]));
    writeFileSync(join(dir, 'a.gz'), gz.subarray(0, gz.length - 6));
    expect(() => readIdx(join(dir, 'a.gz'))).toThrow(/a\.gz: truncated: the gzip stream ends before its last byte/);
  });

  it('every header check, at its edge: the smallest valid header passes, one byte less does not', () => {
    const header = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes);
    expect(() => parseIdx(header(0, 0, 8), 'f')).toThrow(/f: truncated IDX file \(3 bytes, no header\)/);
    expect(() => parseIdx(header(0, 0, 8, 0), 'f')).toThrow(/f: IDX header declares no dimensions/);
    expect(() => parseIdx(header(0, 1, 8, 1), 'f')).toThrow(
      /f: not an IDX file \(magic number 0x00010801, expected 0x0000080N\)/,
    );
    expect(() => parseIdx(header(1, 0, 8, 1), 'f')).toThrow(/magic number 0x01000801/);
    expect(() => parseIdx(header(0, 0, 8, 2, 0, 0, 0, 0, 0, 0, 0), 'f')).toThrow(/f: truncated IDX header/);
    expect(parseIdx(header(0, 0, 8, 2, 0, 0, 0, 0, 0, 0, 0, 0), 'f').dims).toEqual([0, 0]);
    expect(() => parseIdx(header(0, 0, 8, 1, 0, 0, 0, 2, 7, 7, 7), 'f')).toThrow(
      /f: longer than its header says \(header 2 needs 10 bytes, file has 11\)/,
    );
  });

  it('gzip edges: too short to be gzip, garbage, a trailer that disagrees with the data, a header over 1 GiB, a stream cut short', () => {
    const dir = tempDir();
    const file = (name: string, bytes: Uint8Array): string => {
      writeFileSync(join(dir, name), bytes);
      return join(dir, name);
    };
    expect(() => readIdx(file('short.gz', new Uint8Array(17)))).toThrow(
      /short\.gz: not a valid gzip stream \(17 bytes\)/,
    );
    expect(() => readIdx(file('garbage.gz', new Uint8Array(18)))).toThrow(
      /garbage\.gz: not a valid gzip stream \(incorrect header check\)/,
    );
    const gz = gzipSync(idxBytes([3], [7, 8, 9]));
    gz.writeUInt32LE(2 ** 30, gz.length - 4);
    expect(() => readIdx(file('gib.gz', gz))).toThrow(/gib\.gz: not a valid gzip stream \(incorrect length check\)/);
    // 1 GiB of values exactly (a 4 × 256 MiB header) passes the size check and is inflated; one more value is refused.
    const header = (last: number): Buffer => idxBytes([4, 1 << 26, last], []);
    expect(() => readIdx(file('gib.gz', gzipSync(Buffer.concat([header(4), Buffer.alloc(16)]))))).toThrow(
      /gib\.gz: truncated \(header 4×67108864×4 needs 1073741840 bytes, file has 32\)/,
    );
    expect(() => readIdx(file('over.gz', gzipSync(header(5))))).toThrow(
      /over\.gz: its IDX header declares 1342177280 values, more than this reader takes \(1 GiB\)/,
    );
    const whole = gzipSync(idxBytes([100, 28, 28], new Uint8Array(78400).fill(7)));
    expect(() => readIdx(file('cut.gz', whole.subarray(0, whole.length - 20)))).toThrow(
      /cut\.gz: truncated: the gzip stream ends before its last byte \(the file was cut short\)/,
    );
  });

  it('a plain file over 1 GiB is refused before it is read (a sparse file: no disk, no memory)', () => {
    const path = join(tempDir(), 'big-idx');
    writeFileSync(path, '');
    truncateSync(path, 2 ** 30 + 4 + 4 * 255 + 1);
    const before = process.memoryUsage().rss;
    expect(() => readIdx(path)).toThrow(
      /big-idx: 1073742849 bytes is larger than an IDX file this reader takes \(1 GiB\)/,
    );
    expect(process.memoryUsage().rss - before).toBeLessThan(100 << 20);
  });

  it('names a missing file', () => {
    expect(() => readIdx('/nonexistent/file')).toThrow(/\/nonexistent\/file: cannot read \(no such file or folder\)/);
  });
});

describe('MNIST folders', () => {
  it('loads the four standard files, plain or gz, scaling pixels to [0, 1]', () => {
    for (const gz of [false, true]) {
      const { train, test } = loadMnist(writeTinyIdxSet({ gz }));
      expect(train.count).toBe(12);
      expect(test!.count).toBe(6);
      expect(train.features).toBe(16);
      expect(train.outputs).toBe(3);
      expect(train.x).toBeInstanceOf(Uint8Array);
      expect(train.x[1]).toBe(37);
      expect(floatRows(train.x, 16, 0, 1)[1]).toBe(Math.fround(37 / 255));
      expect(Array.from(train.labels!.subarray(0, 4))).toEqual([0, 1, 2, 0]);
    }
  });

  it('refuses image and label counts that differ', () => {
    const dir = writeTinyIdxSet();
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idxBytes([11], new Array(11).fill(0)));
    expect(() => loadMnist(dir)).toThrow(/has 12 images but .*train-labels-idx1-ubyte has 11 labels/);
  });

  it('names a missing folder and a missing file', () => {
    expect(() => loadMnist('/nonexistent')).toThrow(/data folder not found/);
    expect(() => loadMnist(tempDir())).toThrow(/missing train-images-idx3-ubyte/);
  });

  it('takes the first N samples as views', () => {
    const { train } = loadMnist(writeTinyIdxSet());
    const first = takeFirst(train, 5);
    expect(first.count).toBe(5);
    expect(first.x.length).toBe(5 * 16);
    expect(first.x.buffer).toBe(train.x.buffer);
  });

  it('the bundled MNIST has 60,000 + 10,000 28×28 images of 10 classes', () => {
    const { train, test } = realMnist();
    expect([train.count, test!.count, train.features, train.outputs]).toEqual([60000, 10000, 784, 10]);
    let max = 0;
    for (const v of floatRows(train.x, 784, 0, train.count)) max = Math.max(max, v);
    expect(max).toBe(1);
    expect(Array.from(train.labels!.subarray(0, 5))).toEqual([5, 0, 4, 1, 9]);
    expect(Array.from(test!.labels!.subarray(0, 5))).toEqual([7, 2, 1, 0, 4]);
  });

  it('reads every byte in place: labels deep in the files, class counts and pixel sums agree with numpy', () => {
    // Read independently with numpy from the raw IDX bytes (np.frombuffer(…)[8:] and [16:]).
    const { train, test } = realMnist();
    const at = (labels: Uint8Array, positions: number[]): number[] => positions.map((i) => labels[i]);
    expect(at(train.labels!, [0, 1, 2, 3, 4, 12345, 31337, 59998, 59999])).toEqual([5, 0, 4, 1, 9, 3, 9, 6, 8]);
    expect(at(test!.labels!, [0, 1, 4321, 9998, 9999])).toEqual([7, 2, 9, 5, 6]);
    // Every label, by digest: numpy's np.frombuffer(f.read(), np.uint8)[8:] of each labels file (two
    // labels swapped deep in the file pass the spot checks above, not these).
    const labelsSha = (a: Uint8Array): string => createHash('sha256').update(a).digest('hex');
    expect(labelsSha(train.labels!)).toBe('1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13');
    expect(labelsSha(test!.labels!)).toBe('ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5');
    const counts = new Array(10).fill(0);
    for (const label of train.labels!) counts[label]++;
    expect(counts).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    expect(train.x[31337 * 784 + 400]).toBe(253);
    let sum = 0;
    for (const v of train.x) sum += v;
    expect(sum).toBe(1567298545);
    // And the pixels as floats, byte for byte: the digests of the float32 arrays this loader kept
    // before it kept bytes (each pixel / 255, rounded once).
    const sha = (a: ArrayBufferView): string =>
      createHash('sha256')
        .update(Buffer.from(a.buffer, a.byteOffset, a.byteLength))
        .digest('hex');
    expect(sha(floatRows(train.x, 784, 0, train.count))).toBe(
      '257f039238a0be158bad088c051a53908383fd47df03a7b1c229bb7bc968f160',
    );
    expect(sha(floatRows(test!.x, 784, 0, test!.count))).toBe(
      'bc9f8f501f39b3ca61f899a2f402edf2024bde012b73223431b6bd735e47a165',
    );
  });
});

describe('MNIST folders: what they may not be', () => {
  it('refuses images that are not an image array, labels that are not a vector, empty sets and mismatched test images', () => {
    const zeros = (dims: number[]): Buffer => idxBytes(dims, new Array(dims.reduce((a, b) => a * b, 1)).fill(0));
    const cases: [Record<string, Buffer>, RegExp][] = [
      [
        { 'train-images-idx3-ubyte': zeros([12 * 16]) },
        /train-images-idx3-ubyte: expected an image array \(N × rows × cols\), got 1 dimension/,
      ],
      [
        { 't10k-labels-idx1-ubyte': zeros([6, 1]) },
        /t10k-labels-idx1-ubyte: expected a label vector, got 2 dimensions/,
      ],
      [
        { 't10k-images-idx3-ubyte': zeros([0, 4, 4]), 't10k-labels-idx1-ubyte': zeros([0]) },
        /t10k-images-idx3-ubyte: holds no images/,
      ],
      [
        { 't10k-images-idx3-ubyte': zeros([6, 5, 5]) },
        /t10k-images-idx3-ubyte: images have 25 pixels, the training images 16/,
      ],
    ];
    for (const [files, message] of cases) {
      const dir = writeTinyIdxSet();
      for (const [file, bytes] of Object.entries(files)) writeFileSync(join(dir, file), bytes);
      expect(() => loadMnist(dir)).toThrow(message);
    }
    const dir = writeTinyIdxSet();
    expect(() => loadMnist(join(dir, 'train-images-idx3-ubyte'))).toThrow(/train-images-idx3-ubyte: not a folder/);
  });

  it('records how its pixels become features, and names classes by number', () => {
    const { train, preprocessing } = loadMnist(writeTinyIdxSet());
    expect(preprocessing).toEqual({ kind: 'idx', scale: 1 / 255 });
    expect(takeFirst(train, train.count)).toBe(train);
    expect(takeFirst(train, train.count - 1).count).toBe(train.count - 1);
    expect(classNamesOf(preprocessing, 3)).toEqual(['0', '1', '2']);
    expect(classNamesOf(undefined, 2)).toEqual(['0', '1']);
    const csv: Preprocessing = { kind: 'csv', features: ['a'], shift: [0], scale: [1] };
    expect(classNamesOf(csv, 2)).toEqual(['0', '1']);
    expect(
      classNamesOf({ kind: 'csv', features: ['a'], shift: [0], scale: [1], classNames: ['ant', 'cat'] }, 2),
    ).toEqual(['ant', 'cat']);
  });
});

describe('CSV files', () => {
  const write = (name: string, text: string): string => {
    const path = join(tempDir(), name);
    writeFileSync(path, text);
    return path;
  };

  it('reads a header, features and a class column (the last by default)', () => {
    const { train, test, features } = loadCsv(write('a.csv', 'x,y,label\n1,2,0\n3,4,1\n5,6,2\n'), {
      targetKind: 'classes',
    });
    expect(features).toEqual(['x', 'y']);
    expect(Array.from(train.x)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(train.labels!)).toEqual([0, 1, 2]);
    expect(train.outputs).toBe(3);
    expect(test).toBeUndefined();
  });

  it('reads TSV without a header, names target columns, and holds out the last rows', () => {
    const path = write('b.tsv', '1\t10\t0.5\n2\t20\t1.5\n3\t30\t2.5\n4\t40\t3.5\n');
    const { train, test } = loadCsv(path, { targetKind: 'values', target: ['0', '2'], valSplit: 0.25 });
    expect(train.count).toBe(3);
    expect(Array.from(train.x)).toEqual([10, 20, 30]);
    expect(Array.from(train.targets!)).toEqual([1, 0.5, 2, 1.5, 3, 2.5]);
    expect(test!.count).toBe(1);
    expect(Array.from(test!.targets!)).toEqual([4, 3.5]);
  });

  it('fits min-max and z-score on the training rows only', () => {
    const path = write('c.csv', 'x,t\n0,0\n10,1\n20,0\n100,1\n');
    const minmax = loadCsv(path, { targetKind: 'classes', normalize: 'minmax', valSplit: 0.25 });
    expect(Array.from(minmax.train.x)).toEqual([0, 0.5, 1]);
    expect(minmax.test!.x[0]).toBe(5);
    const z = loadCsv(path, { targetKind: 'classes', normalize: 'zscore', valSplit: 0.25 });
    expect(z.train.x[1]).toBeCloseTo(0, 6);
    expect(z.scaling.scale[0]).toBeCloseTo(Math.sqrt(200 / 3), 5);
  });

  it('names the line of a ragged row, a non-numeric cell, a bad label; refuses an empty file', () => {
    expect(() => loadCsv(write('d.csv', 'x,y\n1,2\n3\n'), { targetKind: 'classes' })).toThrow(
      /d\.csv: line 3 has 1 cells, expected 2/,
    );
    expect(() => loadCsv(write('e.csv', 'x,y\n1,2\n\nabc,1\n'), { targetKind: 'classes' })).toThrow(
      /e\.csv: line 4, column 1: 'abc' is not a number/,
    );
    expect(() => loadCsv(write('k.csv', 'x,y\n1,2\n\n3,abc\n'), { targetKind: 'classes' })).toThrow(
      /k\.csv: line 4: class label 'abc' among numeric labels/,
    );
    expect(() => loadCsv(write('i.csv', 'x,y\n1e999,2\n'), { targetKind: 'classes' })).toThrow(
      /line 2, column 1: '1e999' is beyond the float32 range/,
    );
    expect(() => loadCsv(write('j.csv', 'x,y\nNaN,2\n'), { targetKind: 'classes' })).toThrow(/'NaN' is not a number/);
    expect(() => loadCsv(write('f.csv', 'x,y\n1,2.5\n'), { targetKind: 'classes' })).toThrow(
      /line 2: class label '2\.5' is not an integer/,
    );
    expect(() => loadCsv(write('g.csv', ''), { targetKind: 'classes' })).toThrow(/holds no data rows/);
    expect(() => loadCsv(write('h.csv', 'x,y\n1,2\n'), { targetKind: 'classes', target: ['z'] })).toThrow(
      /has no column 'z'/,
    );
  });
});

describe('CSV options and refusals, against values worked out by hand', () => {
  const write = (name: string, text: string): string => {
    const path = join(tempDir(), name);
    writeFileSync(path, text);
    return path;
  };
  const f = Math.fround;

  it('scales every column of every row, and keeps a constant column finite', () => {
    const path = write('s.csv', 'x,y,c,t\n1,10,5,0\n2,30,5,1\n4,20,5,0\n');
    const minmax = loadCsv(path, { targetKind: 'classes', normalize: 'minmax' });
    expect(Array.from(minmax.train.x)).toEqual([0, 0, 0, f(1 / 3), 1, 0, 1, 0.5, 0]);
    expect(minmax.scaling).toEqual({ shift: [1, 10, 5], scale: [3, 20, 1] });
    const z = loadCsv(path, { targetKind: 'classes', normalize: 'zscore' });
    const std = (v: number[]): number =>
      Math.sqrt(v.reduce((a, b) => a + (b - v.reduce((p, q) => p + q) / 3) ** 2, 0) / 3);
    expect(z.scaling).toEqual({ shift: [7 / 3, 20, 5], scale: [std([1, 2, 4]), std([10, 30, 20]), 1] });
    expect(Array.from(z.train.x.subarray(3, 6))).toEqual([
      f((2 - 7 / 3) / std([1, 2, 4])),
      f(10 / std([10, 30, 20])),
      0,
    ]);
    const given = loadCsv(path, { targetKind: 'classes', scaling: { shift: [1, 0, 0], scale: [2, 1, 1] } });
    expect(Array.from(given.train.x.subarray(0, 6))).toEqual([0, 10, 5, 0.5, 30, 5]);
    expect(() => loadCsv(path, { targetKind: 'classes', scaling: { shift: [0], scale: [1] } })).toThrow(
      /has 3 feature columns, the model was trained on 1/,
    );
  });

  it('holds out the last rows, and refuses a share that leaves none to train on', () => {
    const path = write('v.csv', 'x,t\n1,0\n2,1\n3,0\n4,1\n');
    const { train, test } = loadCsv(path, { targetKind: 'classes', valSplit: 0.5 });
    expect([train.count, Array.from(train.x), test!.count, Array.from(test!.x), Array.from(test!.labels!)]).toEqual([
      2,
      [1, 2],
      2,
      [3, 4],
      [0, 1],
    ]);
    expect(() => loadCsv(path, { targetKind: 'classes', valSplit: 0.9 })).toThrow(
      /a validation share of 0\.9 leaves no training rows of 4/,
    );
    const unseen = write('u.csv', 'x,t\n1,0\n2,1\n3,2\n');
    expect(() => loadCsv(unseen, { targetKind: 'classes', valSplit: 0.34 })).toThrow(/u\.csv \(validation rows\)/);
  });

  it('finds target columns by name or index, and refuses targets that cannot be', () => {
    const path = write('t.csv', 'a,b,c\n1,0,3\n4,1,6\n');
    expect(Array.from(loadCsv(path, { targetKind: 'classes', target: ['1'] }).train.x)).toEqual([1, 3, 4, 6]);
    expect(Array.from(loadCsv(path, { targetKind: 'classes', target: ['b'] }).train.labels!)).toEqual([0, 1]);
    expect(() => loadCsv(path, { targetKind: 'classes', target: ['3'] })).toThrow(
      /has no column '3' to use as the target \(columns: a, b, c\)/,
    );
    expect(() => loadCsv(path, { targetKind: 'classes', target: ['1x'] })).toThrow(/has no column '1x'/);
    expect(() => loadCsv(path, { targetKind: 'classes', target: ['a', 'b'] })).toThrow(
      /class labels come from one target column, 2 were given/,
    );
    expect(() => loadCsv(path, { targetKind: 'values', target: ['a', 'b', 'c'] })).toThrow(/every column is a target/);
    expect(() => loadCsv(write('h.csv', 'a,b,c\n'), { targetKind: 'classes' })).toThrow(/holds no data rows/);
    expect(loadCsv(write('n.csv', '7,8,0\n'), { targetKind: 'classes' }).features).toEqual(['0', '1']);
    expect([
      isDelimitedFile('a.CSV'),
      isDelimitedFile('a.tsv'),
      isDelimitedFile('a.csv.gz'),
      isDelimitedFile('a.csvx'),
    ]).toEqual([true, true, false, false]);
  });

  it('numbers class labels 0…255, names them in sorted order or by a model, and refuses the rest', () => {
    const named = loadCsv(write('c.csv', 'x,kind\n1,cat\n2,ant\n3,cat\n'), { targetKind: 'classes' });
    expect([named.classNames, Array.from(named.train.labels!), named.train.outputs]).toEqual([
      ['ant', 'cat'],
      [1, 0, 1],
      2,
    ]);
    const known = loadCsv(write('k.csv', 'x,kind\n1,cat\n2,ant\n'), {
      targetKind: 'classes',
      classNames: ['dog', 'cat', 'ant'],
    });
    expect([known.classNames, Array.from(known.train.labels!)]).toEqual([
      ['dog', 'cat', 'ant'],
      [1, 2],
    ]);
    expect(() => loadCsv(write('e.csv', 'x,kind\n1,emu\n'), { targetKind: 'classes', classNames: ['cat'] })).toThrow(
      /line 2: class 'emu' is not one of the model's classes \(cat\)/,
    );
    expect(
      Array.from(loadCsv(write('m.csv', 'x,t\n1,255\n2,0\n'), { targetKind: 'classes', classes: 256 }).train.labels!),
    ).toEqual([255, 0]);
    for (const bad of ['256', '-1', '1.5']) {
      expect(() => loadCsv(write('b.csv', `x,t\n1,0\n2,${bad}\n`), { targetKind: 'classes' })).toThrow(
        `line 3: class label '${bad}' is not an integer from 0 to 255`,
      );
    }
    const many = Array.from({ length: 257 }, (_, i) => `${i},c${i}`).join('\n');
    expect(() => loadCsv(write('l.csv', `x,t\n${many}\n`), { targetKind: 'classes' })).toThrow(
      /line 258: more than 256 different class labels/,
    );
    expect(loadCsv(write('d.csv', 'x,t\n1,0\n2,2\n'), { targetKind: 'classes', classes: 4 }).train.outputs).toBe(4);
  });
});

describe('the CSV reader, against independent readings', () => {
  const dir = tempDir();

  it('parses every decimal form as Number() does, with a decimal point or comma', () => {
    const digits = fc.string({ unit: fc.constantFrom(...'0123456789'), maxLength: 24 });
    const number = fc
      .record({
        sign: fc.constantFrom('', '-', '+'),
        whole: digits,
        fraction: fc.option(digits),
        exponent: fc.option(
          fc.tuple(
            fc.constantFrom('e', 'E'),
            fc.constantFrom('', '-', '+'),
            fc.string({ unit: fc.constantFrom(...'0123456789'), maxLength: 3 }),
          ),
        ),
      })
      .map(
        ({ sign, whole, fraction, exponent }) =>
          `${sign}${whole}${fraction === null ? '' : `.${fraction}`}${exponent ? exponent.join('') : ''}`,
      )
      .filter((text) => text !== '');
    fc.assert(
      fc.property(number, fc.boolean(), (text, comma) => {
        const written = comma ? text.replace('.', ',') : text;
        const bytes = Buffer.from(`#${written}#`);
        expect(Object.is(parseDecimal(bytes, 1, bytes.length - 1, comma), Number(text)), written).toBe(true);
      }),
      { numRuns: 3000 },
    );
    for (const text of ['1,5', '1.5.5', '1e5e5', '--1', '1-', ' 1', 'e5', '.', '.e1', '0x10', 'Infinity', '1_000']) {
      expect(parseDecimal(Buffer.from(text), 0, text.length, false), text).toBeNaN();
    }
  });

  /** Every record of `text` (as `name`) with the line it starts on, read through windows of `chunk` bytes. */
  const records = (text: string, chunk?: number, name = 'r.csv'): [number, string[]][] => {
    const path = join(dir, name);
    writeFileSync(path, text);
    const found: [number, string[]][] = [];
    readRecords(
      path,
      undefined,
      (r) => void found.push([r.line, Array.from({ length: r.count }, (_, i) => r.text(i))]),
      chunk,
    );
    return found;
  };

  it('line numbers and cells survive every line end, quoted line breaks and any window size', () => {
    const text = 'a,b,c\r\n1,2,3\r4,5,6\n"x\r\ny",7,8\r\n\r\n"q""r",9,10\r"s\rt",11,12\n';
    const want: [number, string[]][] = [
      [1, ['a', 'b', 'c']],
      [2, ['1', '2', '3']],
      [3, ['4', '5', '6']],
      [4, ['x\r\ny', '7', '8']],
      [7, ['q"r', '9', '10']],
      [8, ['s\rt', '11', '12']],
    ];
    for (const chunk of [undefined, 1, 2, 3, 4, 5, 7, 11])
      expect(records(text, chunk), `window ${chunk}`).toEqual(want);
    // The quick counting pass names the same lines.
    writeFileSync(join(dir, 'ragged.csv'), `${text}13,14\n`);
    for (const chunkBytes of [undefined, 3]) {
      expect(() => loadCsv(join(dir, 'ragged.csv'), { targetKind: 'classes', chunkBytes })).toThrow(
        /ragged\.csv: line 10 has 2 cells, expected 3/,
      );
    }
  });

  it('takes the delimiter the first line has most of, outside quotes; .tsv is tab in any case', () => {
    expect(records('"a;b;c",d,e\n1,2,3\n')[0][1]).toEqual(['a;b;c', 'd', 'e']);
    expect(records('a;b;c\n1,5;2,5;0\n')[1][1]).toEqual(['1,5', '2,5', '0']);
    expect(records('a\tb;c\n1\t2;3\n')[0][1]).toEqual(['a\tb', 'c']);
    expect(records('a,b\n1;2;3;4;5\n')[1][1]).toEqual(['1;2;3;4;5']);
    expect(records('a,b\tc\n', undefined, 'x.TSV')[0][1]).toEqual(['a,b', 'c']);
    expect(records('\ufeffa;b\n')[0][1]).toEqual(['a', 'b']);
    expect(records('\ufeff\ufeffa;b\n')[0][1]).toEqual(['\ufeffa', 'b']);
    // Delimiters inside quotes do not count, however many; a tab-separated .csv (Excel's "Unicode
    // text") is found by its tabs; only a name ending in .tsv means tabs whatever the line holds.
    expect(records('"a;b;c;d",e\n')[0][1]).toEqual(['a;b;c;d', 'e']);
    expect(records('a\tb\tc\n1\t2\t3\n')[1][1]).toEqual(['1', '2', '3']);
    expect(records('a,b\tc\n', undefined, 'x.tsv.csv')[0][1]).toEqual(['a', 'b\tc']);
  });

  it('an empty quoted cell is a value, not a blank line; quotes inside an unquoted cell stay as written', () => {
    expect(records('label\n""\nb\n').map(([, cells]) => cells)).toEqual([['label'], [''], ['b']]);
    expect(records('label\n\nb\n').map(([, cells]) => cells)).toEqual([['label'], ['b']]);
    expect(records('x\na""b\n"a""b"\n').map(([, cells]) => cells)).toEqual([['x'], ['a""b'], ['a"b']]);
  });

  it('text after a closing quote is refused with its line; a row count is right past quoted line breaks', () => {
    const path = join(dir, 'after.csv');
    writeFileSync(path, 'a,b\n1,2\n"x"y,3\n');
    expect(() => loadCsv(path, { targetKind: 'values' })).toThrow(
      /after\.csv: line 3: text after the closing quote of a cell/,
    );
    writeFileSync(path, 'a,b\n"one\ntwo",1\n"three\rfour",2\n5\n');
    expect(() => loadCsv(path, { targetKind: 'classes' })).toThrow(/after\.csv: line 6 has 1 cells, expected 2/);
    writeFileSync(path, '\na,b\n1\n');
    expect(() => loadCsv(path, { targetKind: 'classes' })).toThrow(/after\.csv: line 3 has 1 cells, expected 2/);
    writeFileSync(path, '\n\na,label\n1,0\n\n2,1\n');
    const data = loadCsv(path, { targetKind: 'classes' });
    expect([data.features, data.train.count, Array.from(data.train.labels!)]).toEqual([['a'], 2, [0, 1]]);
  });
});
