// The adversarial battery of the third round: paths that alias, runs resumed from CSV files, models
// asked about another kind of data, text in other encodings, files damaged in new ways, sizes that
// never finish. Each case failed (destroyed a file, crashed, or gave a wrong answer with exit 0)
// before its fix.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { deflateSync, gzipSync } from 'node:zlib';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { loadModel as loadNetwork } from '../src/index.js';
import { main } from '../src/cli/main.js';
import { loadModel, saveModel } from '../src/model/safetensors.js';
import { gradcheckWork, MAX_GRADCHECK_WORK } from '../src/train/gradcheck.js';
import { idxBytes, interruptWhen, realMnist, runCli, tempDir, writeTinyIdxSet } from './helpers.js';

const bin = join(__dirname, '..', 'bin', 'backprop.js');

function runBin(
  args: string[],
  options: { env?: Record<string, string>; stdout?: number } = {},
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...options.env },
    stdio: ['ignore', options.stdout ?? 'pipe', 'pipe'],
  });
  return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr };
}

/** A one-line error and its exit code. */
async function refusal(...args: string[]): Promise<[number, string]> {
  const { code, err } = await runCli(...args);
  expect(err, args.join(' ')).toHaveLength(1);
  return [code, err[0]];
}

/** MNIST digits as CSV rows: 784 pixel values 0–255, then the label. */
function mnistCsv(path: string, part: 'train' | 'test', count: number): string {
  const data = part === 'train' ? realMnist().train : realMnist().test!;
  const rows = Array.from(
    { length: count },
    (_, i) => `${Array.from(data.x.subarray(i * 784, (i + 1) * 784)).join(',')},${data.labels![i]}`,
  );
  writeFileSync(path, `${rows.join('\n')}\n`);
  return path;
}

/** The same digits as an IDX folder (train and test parts), pixels as bytes. */
function mnistIdx(dir: string, count: number): string {
  mkdirSync(dir, { recursive: true });
  const { train, test } = realMnist();
  for (const [prefix, data] of [
    ['train', train],
    ['t10k', test!],
  ] as const) {
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte`), idxBytes([count, 28, 28], data.x.subarray(0, count * 784)));
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte`), idxBytes([count], data.labels!.subarray(0, count)));
  }
  return dir;
}

describe('an output that is an input or another output is refused before anything is written', () => {
  const dir = tempDir();
  const data = writeTinyIdxSet();
  const model = join(dir, 'm.safetensors');
  const train = (...args: string[]): Promise<{ code: number }> =>
    runCli('--data', data, '--hidden', '3', '--epochs', '1', '--batch', '4', ...args);

  it('train, export and report name the clash and leave every file as it was', async () => {
    expect((await train('--save', model)).code).toBe(0);
    const before = readFileSync(model);
    const csv = join(dir, 'd.csv');
    writeFileSync(csv, 'a,b,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n');
    const cases: [string[], string][] = [
      [
        ['--data', data, '--save', join(dir, 'n'), '--report', join(dir, 'n')],
        `--report ${join(dir, 'n')} and --save ${join(dir, 'n')} are the same file; give each its own path`,
      ],
      [
        ['--resume', model, '--epochs', '2', '--report', model],
        `--report ${model} is the file of --resume ${model}: writing it would destroy it; give another path`,
      ],
      [
        ['export', '--model', model, '--out', model],
        `--out ${model} is the file of --model ${model}: writing it would destroy it; give another path`,
      ],
      [
        ['report', '--model', model, '--out', model],
        `--out ${model} is the file of --model ${model}: writing it would destroy it; give another path`,
      ],
      [
        ['--data', csv, '--save', csv, '--batch', '2'],
        `--save ${csv} is the file of --data ${csv}: writing it would destroy it; give another path`,
      ],
      [
        ['--data', data, '--save', join(data, 'train-images-idx3-ubyte')],
        `--save ${join(data, 'train-images-idx3-ubyte')} is the file of --data ${join(data, 'train-images-idx3-ubyte')}: writing it would destroy it; give another path`,
      ],
    ];
    const csvBefore = readFileSync(csv);
    for (const [args, message] of cases) expect(await refusal(...args)).toEqual([2, `backprop: ${message}`]);
    expect(readFileSync(model).equals(before)).toBe(true);
    expect(readFileSync(csv).equals(csvBefore)).toBe(true);
  });

  it('through a symbolic link, a hard link and a path spelled another way', async () => {
    const link = join(dir, 'link.safetensors');
    const hard = join(dir, 'hard.safetensors');
    symlinkSync(model, link);
    linkSync(model, hard);
    for (const out of [link, hard, join(dir, '.', 'sub', '..', 'm.safetensors')]) {
      mkdirSync(join(dir, 'sub'), { recursive: true });
      const [code, message] = await refusal('export', '--model', model, '--out', out);
      expect([code, message]).toEqual([
        2,
        `backprop: --out ${out} is the file of --model ${model}: writing it would destroy it; give another path`,
      ]);
    }
  });

  it('--resume m --save m continues the run in place', async () => {
    expect((await train('--save', join(dir, 'again.safetensors'))).code).toBe(0);
    expect(
      (
        await runCli(
          '--resume',
          join(dir, 'again.safetensors'),
          '--epochs',
          '2',
          '--save',
          join(dir, 'again.safetensors'),
        )
      ).code,
    ).toBe(0);
    expect((loadModel(join(dir, 'again.safetensors')).extra.history as unknown[]).length).toBe(2);
  });

  it('a save to the stream the log goes to, a pipe or a terminal is refused; /dev/null is written', () => {
    const log = join(dir, 'log.txt');
    const fd = openSync(log, 'w');
    const redirected = runBin(
      ['--data', data, '--hidden', '3', '--epochs', '1', '--batch', '4', '--save', '/dev/stdout'],
      { stdout: fd },
    );
    closeSync(fd);
    expect([redirected.status, redirected.stderr.trim()]).toEqual([
      2,
      'backprop: --save /dev/stdout is the standard output; a model or report needs a file',
    ]);
    expect(readFileSync(log, 'utf8')).toBe('');
    const fifo = join(dir, 'fifo');
    spawnSync('mkfifo', [fifo]);
    const piped = runBin(['--data', data, '--hidden', '3', '--epochs', '1', '--batch', '4', '--save', fifo]);
    expect([piped.status, piped.stderr.trim()]).toEqual([
      2,
      `backprop: --save ${fifo} is a pipe; a model or report needs a file`,
    ]);
    expect(
      runBin(['--data', data, '--hidden', '3', '--epochs', '1', '--batch', '4', '--save', '/dev/null']).status,
    ).toBe(0);
  });
});

describe('--resume restores how the data were read', () => {
  const dir = tempDir();
  // Three classes of very different scales: unscaled, their inputs would swamp the network.
  const rows = Array.from(
    { length: 300 },
    (_, i) => `${(1000 + 400 * (i % 3) + ((i * 37) % 101)).toFixed(1)},${((i * 13) % 7) / 100},${i % 3}`,
  );
  const csv = join(dir, 'a.csv');
  writeFileSync(csv, `big,small,label\n${rows.join('\n')}\n`);
  const options = [
    '--data',
    csv,
    '--normalize',
    'zscore',
    '--val-split',
    '0.2',
    '--hidden',
    '6',
    '--batch',
    '10',
    '--shuffle',
    '--seed',
    '7',
  ];

  it('a normalised CSV run resumed gives the weights of one uninterrupted run, seed and split included', async () => {
    const whole = join(dir, 'whole.safetensors');
    const half = join(dir, 'half.safetensors');
    expect((await runCli(...options, '--epochs', '4', '--save', whole)).code).toBe(0);
    expect((await runCli(...options, '--epochs', '2', '--save', half)).code).toBe(0);
    const resumed = await runCli('--resume', half, '--epochs', '4', '--save', half);
    expect(resumed.code).toBe(0);
    expect(Buffer.from(loadModel(half).params.buffer).equals(Buffer.from(loadModel(whole).params.buffer))).toBe(true);
    const training = loadModel(half).extra.training as { seed: number; csv: unknown };
    expect(training.seed).toBe(7);
    expect(training.csv).toEqual({ normalize: 'zscore', valSplit: 0.2 });
  });

  it('other data, or an option the run did not have, is refused naming both', async () => {
    const half = join(dir, 'half.safetensors');
    expect(await refusal('--resume', half, '--epochs', '9', '--data', writeTinyIdxSet())).toEqual([
      2,
      expect.stringMatching(
        new RegExp(
          `^backprop: --data .* contradicts ${half}, which trained on ${csv}; leave --data out to continue that run$`,
        ),
      ),
    ]);
    expect(await refusal('--resume', half, '--epochs', '9', '--limit', '100')).toEqual([
      2,
      `backprop: --limit 100 contradicts ${half}, which was trained without --limit; leave --limit out to continue that run`,
    ]);
    expect(await refusal('--resume', half, '--epochs', '9', '--normalize', 'minmax')).toEqual([
      2,
      `backprop: --normalize minmax contradicts ${half}, which was trained with zscore; leave --normalize out to continue that run`,
    ]);
    // The same file named again is no contradiction.
    expect((await runCli('--resume', half, '--epochs', '5', '--data', csv)).code).toBe(0);
  });

  it('every saved setting at a value other than its default: one run, or one epoch and a resume without options, end in the same bits', async () => {
    const settings = [
      '--hidden',
      '12,7',
      '--activation',
      'tanh,relu',
      '--lr',
      '0.05',
      '--batch',
      '50',
      '--seed',
      '9',
      '--optimizer',
      'momentum',
      '--momentum',
      '0.8',
      '--weight-decay',
      '0.0001',
      '--schedule',
      'cosine',
      '--warmup',
      '5',
      '--sampling',
      'random',
      '--limit',
      '30000',
      '--init',
      'he',
    ];
    const whole = join(dir, 'every-whole.safetensors');
    const part = join(dir, 'every-part.safetensors');
    expect((await runCli(...settings, '--epochs', '3', '--save', whole)).code).toBe(0);
    // Interrupted once its first epoch line is out, saved where it stopped, then resumed with no option but --save.
    const stopped = await interruptWhen([...settings, '--epochs', '3', '--save', part], 'SIGINT', 'epoch 1/3');
    expect(stopped.code).toBe(130);
    const resumed = await runCli('--resume', part, '--save', part);
    expect(resumed.code).toBe(0);
    const a = loadModel(whole);
    const b = loadModel(part);
    expect(b.extra.training).toMatchObject({
      batchSize: 50,
      learningRate: 0.05,
      seed: 9,
      sampling: 'random',
      limit: 30000,
      schedule: { name: 'cosine', warmup: 5 },
    });
    expect(b.extra.training).toMatchObject({
      optimizer: { name: 'momentum', momentum: 0.8, weightDecay: 0.0001 },
      hidden: [12, 7],
    });
    expect(b.architecture).toEqual(a.architecture);
    expect((b.extra.history as unknown[]).length).toBe(3);
    expect(Buffer.from(b.params.buffer).equals(Buffer.from(a.params.buffer))).toBe(true);
    expect(Buffer.from(b.optimizer!.first.buffer).equals(Buffer.from(a.optimizer!.first.buffer))).toBe(true);
  });

  it('a damaged count of samples is blamed on the field, not on the data', async () => {
    const half = join(dir, 'half.safetensors');
    const file = loadModel(half);
    const damaged = join(dir, 'damaged.safetensors');
    saveModel(damaged, { ...file, extra: { ...file.extra, samplesDone: 1e12 } });
    expect(await refusal('--resume', damaged, '--epochs', '9')).toEqual([
      1,
      `backprop: ${damaged}: its metadata field samplesDone is not what backprop saves; the file was edited or damaged`,
    ]);
  });
});

describe('a model applies its own preprocessing to whatever kind of data it is given', () => {
  const dir = tempDir();
  const trainCsv = mnistCsv(join(dir, 'train.csv'), 'train', 3000);
  const testCsv = mnistCsv(join(dir, 'test.csv'), 'test', 500);
  const idx = mnistIdx(join(dir, 'idx'), 500);
  const csvModel = join(dir, 'csv.safetensors');
  const idxModel = join(dir, 'idx.safetensors');
  const ready = (async () => {
    expect(
      (await runCli('--data', trainCsv, '--normalize', 'zscore', '--hidden', '16', '--epochs', '2', '--save', csvModel))
        .code,
    ).toBe(0);
    expect((await runCli('--limit', '3000', '--hidden', '16', '--epochs', '2', '--save', idxModel)).code).toBe(0);
  })();
  const scored = async (...args: string[]): Promise<{ accuracy: number; error: number }> => {
    const { code, out } = await runCli('predict', '--json', ...args);
    expect(code).toBe(0);
    return JSON.parse(out[0]) as { accuracy: number; error: number };
  };

  it('the same digits as CSV and as IDX score the same on either model', async () => {
    await ready;
    const csvOnCsv = await scored('--model', csvModel, '--data', testCsv);
    const csvOnIdx = await scored('--model', csvModel, '--data', idx);
    expect(csvOnIdx.accuracy).toBe(csvOnCsv.accuracy);
    expect(csvOnIdx.error).toBeCloseTo(csvOnCsv.error, 6);
    expect(csvOnCsv.accuracy).toBeGreaterThan(0.6);
    const idxOnIdx = await scored('--model', idxModel, '--data', idx);
    const idxOnCsv = await scored('--model', idxModel, '--data', testCsv);
    expect(idxOnCsv).toEqual(idxOnIdx);
  });

  it("a CSV model evaluates its own file when no --data is given; a picture of a digit is read as that model's columns", async () => {
    await ready;
    expect(await scored('--model', csvModel)).toEqual(await scored('--model', csvModel, '--data', trainCsv));
    const { test } = realMnist();
    const pictures: string[] = [];
    for (let i = 0; i < 20; i++) {
      pictures.push(join(dir, `digit-${i}.png`));
      await sharp(Buffer.from(test!.x.subarray(i * 784, (i + 1) * 784)), {
        raw: { width: 28, height: 28, channels: 1 },
      })
        .resize(112, 112)
        .png()
        .toFile(pictures[i]);
    }
    const read = async (model: string): Promise<number[]> => {
      const { code, out } = await runCli('predict', '--model', model, '--image', ...pictures, '--json');
      expect(code).toBe(0);
      return out.map((line) => (JSON.parse(line) as { digit: number }).digit);
    };
    const labels = Array.from(test!.labels!.subarray(0, 20));
    const right = (digits: number[]): number => digits.filter((d, i) => d === labels[i]).length;
    // Unscaled, the zscore model read every picture as one or two classes.
    expect(right(await read(csvModel))).toBeGreaterThanOrEqual(15);
    expect(right(await read(idxModel))).toBeGreaterThanOrEqual(15);
  });

  it('ONNX of a normalised CSV model takes raw rows and names its classes; the library predicts from raw rows too', async () => {
    const species = ['setosa', 'versicolor', 'virginica'];
    const flowers = Array.from({ length: 150 }, (_, i) => {
      const c = i % 3;
      return [50 + 10 * c + (i % 5), 30 - 3 * c + (i % 4), 15 + 20 * c + (i % 6), 2 + 7 * c + (i % 3), species[c]];
    });
    const csv = join(dir, 'iris.csv');
    writeFileSync(csv, `sl,sw,pl,pw,species\n${flowers.map((f) => f.join(',')).join('\n')}\n`);
    const model = join(dir, 'iris.safetensors');
    expect(
      (
        await runCli(
          '--data',
          csv,
          '--target',
          'species',
          '--normalize',
          'zscore',
          '--hidden',
          '8',
          '--epochs',
          '40',
          '--batch',
          '10',
          '--save',
          model,
        )
      ).code,
    ).toBe(0);
    const onnx = join(dir, 'iris.onnx');
    expect((await runCli('export', '--model', model, '--out', onnx)).code).toBe(0);
    const session = await ort.InferenceSession.create(onnx);
    const raw = Float32Array.from(flowers.flatMap((f) => f.slice(0, 4) as number[]));
    const { output } = await session.run({ input: new ort.Tensor('float32', raw, [150, 4]) });
    const probabilities = output.data as Float32Array;
    const predicted = Array.from({ length: 150 }, (_, r) =>
      [0, 1, 2].reduce((best, c) => (probabilities[r * 3 + c] > probabilities[r * 3 + best] ? c : best), 0),
    );
    expect(predicted.filter((p, r) => p === r % 3).length).toBeGreaterThan(140);
    expect(new Set(predicted).size).toBe(3);
    // metadata_props: an entry of key "class_names" and value the names as JSON.
    const names = Buffer.from(JSON.stringify(species));
    const entry = Buffer.concat([
      Buffer.from([0x0a, 11]),
      Buffer.from('class_names'),
      Buffer.from([0x12, names.length]),
      names,
    ]);
    expect(readFileSync(onnx).includes(entry)).toBe(true);
    const net = loadNetwork(model);
    expect(Array.from(net.predict(raw))).toEqual(predicted);
  });

  it('a regression on large values learns scaled targets and reports a readable error; ONNX gives the values in their units', async () => {
    const houses = Array.from({ length: 200 }, (_, i) => {
      const rooms = 1 + (i % 6);
      const area = 40 + ((i * 17) % 160);
      return [rooms, area, 50_000 + 1_500 * area + 20_000 * rooms];
    });
    const csv = join(dir, 'houses.csv');
    writeFileSync(csv, `rooms,area,price\n${houses.map((h) => h.join(',')).join('\n')}\n`);
    const model = join(dir, 'houses.safetensors');
    const { code, out } = await runCli(
      '--data',
      csv,
      '--target',
      'price',
      '--loss',
      'mse',
      '--hidden',
      '16',
      '--optimizer',
      'adam',
      '--lr',
      '0.01',
      '--normalize',
      'zscore',
      '--epochs',
      '60',
      '--batch',
      '10',
      '--save',
      model,
    );
    expect(code).toBe(0);
    const last = out.find((line) => line.startsWith('epoch 60/60'))!;
    const error = Number(/train error (\S+)/.exec(last)![1]);
    expect(error).toBeLessThan(0.05);
    const onnx = join(dir, 'houses.onnx');
    expect((await runCli('export', '--model', model, '--out', onnx)).code).toBe(0);
    const session = await ort.InferenceSession.create(onnx);
    const raw = Float32Array.from(houses.flatMap((h) => h.slice(0, 2)));
    const values = (await session.run({ input: new ort.Tensor('float32', raw, [200, 2]) })).output.data as Float32Array;
    const worst = Math.max(...houses.map((h, i) => Math.abs(values[i] - h[2]) / h[2]));
    expect(worst).toBeLessThan(0.1);
  });
});

describe('text that is not what it seems', () => {
  const dir = tempDir();
  const file = (name: string, bytes: string | Buffer): string => {
    writeFileSync(join(dir, name), bytes);
    return join(dir, name);
  };

  it('a quote never closed is refused with the line it opened on, however far from the end', async () => {
    const rows = Array.from({ length: 150 }, (_, i) => `${i},${i % 2}`);
    rows[19] = '"19,1';
    const path = file('quote.csv', `x,label\n${rows.join('\n')}\n`);
    expect(await refusal('--data', path, '--batch', '5')).toEqual([
      1,
      `backprop: ${path}: line 21: a quoted cell is never closed`,
    ]);
  });

  it('Latin-1 class names are refused, never merged into one class', async () => {
    const rows = ['caf\xe9', 'caf\xe8', 'th\xe9'].flatMap((name, c) =>
      Array.from({ length: 4 }, (_, i) => `${c + i},${name}`),
    );
    const path = file('latin1.csv', Buffer.from(`x,label\n${rows.join('\n')}\n`, 'latin1'));
    expect(await refusal('--data', path, '--batch', '2')).toEqual([
      1,
      `backprop: ${path}: line 2, column 2: 'caf\uFFFD' is not UTF-8 text (a Latin-1 or Windows-1252 file?); save the file as UTF-8`,
    ]);
    // The same names in UTF-8 are three classes.
    const utf8 = file('utf8.csv', `x,label\n${rows.join('\n')}\n`);
    const { code, out } = await runCli('--data', utf8, '--batch', '2', '--epochs', '1', '--json');
    expect(code).toBe(0);
    expect(out).toHaveLength(2);
  });

  it('UTF-16 and UTF-32 files are named as such', async () => {
    const text = 'x,label\n1,0\n2,1\n';
    const utf16 = file('utf16.csv', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]));
    expect(await refusal('--data', utf16)).toEqual([
      1,
      `backprop: ${utf16}: is UTF-16 text (its byte-order mark says so); save it as UTF-8 text`,
    ]);
    const bare = file('bare16.csv', Buffer.from(text, 'utf16le'));
    expect(await refusal('--data', bare)).toEqual([
      1,
      `backprop: ${bare}: holds a NUL byte at offset 1: UTF-16 text without a byte-order mark, or not text at all; save it as UTF-8 text`,
    ]);
  });

  it('a 50 MB cell is named by its start, not repeated whole', async () => {
    const path = file('huge.csv', `x,label\n1,0\n${'z'.repeat(50_000_000)},1\n`);
    const [code, message] = await refusal('--data', path);
    expect(code).toBe(1);
    expect(message).toBe(
      `backprop: ${path}: line 3, column 1: '${'z'.repeat(40)}…' (50,000,000 characters) is not a number`,
    );
  });

  it('the wrong --delimiter says what the first line looks like; class names with --loss mse say mse needs numbers', async () => {
    const path = file('comma.csv', 'a,b,label\n1,2,0\n3,4,1\n');
    expect(await refusal('--data', path, '--delimiter', 'tab')).toEqual([
      2,
      `backprop: ${path}: has one column with --delimiter tab, so no features are left beside the target; its first line looks comma-separated (give --delimiter comma, or leave --delimiter out)`,
    ]);
    const named = file('named.csv', 'a,b,label\n1,2,cat\n3,4,dog\n');
    expect(await refusal('--data', named, '--loss', 'mse', '--batch', '1')).toEqual([
      1,
      `backprop: ${named}: line 2, column 3: the target 'cat' is not a number; the squared error (mse) learns numbers, class names are learned by cross-entropy (the default loss)`,
    ]);
  });

  it('a validation split of a file sorted by class warns that classes are missing from it', async () => {
    const rows = Array.from({ length: 30 }, (_, i) => `${i},${Math.floor(i / 10)}`);
    const path = file('sorted.csv', `x,label\n${rows.join('\n')}\n`);
    const { code, err } = await runCli('--data', path, '--val-split', '0.2', '--batch', '4', '--epochs', '1');
    expect(code).toBe(0);
    expect(err).toEqual([
      'backprop: the validation rows (the last 0.2 of the file) hold no samples of class 0, 1: is the file sorted by class? Shuffle its rows first for a fair validation split',
    ]);
  });
});

describe('files damaged in ways the first rounds never tried', () => {
  const dir = tempDir();
  const data = writeTinyIdxSet();
  const model = join(dir, 'm.safetensors');
  const ready = runCli('--data', data, '--hidden', '3', '--epochs', '1', '--batch', '4', '--save', model);

  /** The model with its metadata edited by `edit`, checksummed again. */
  async function edited(name: string, edit: (meta: Record<string, string>) => void): Promise<string> {
    await ready;
    const bytes = readFileSync(model);
    const length = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8')) as {
      __metadata__: Record<string, string>;
    };
    edit(header.__metadata__);
    const json = Buffer.from(JSON.stringify(header));
    const size = Buffer.alloc(8);
    size.writeBigUInt64LE(BigInt(json.length));
    const path = join(dir, name);
    writeFileSync(path, Buffer.concat([size, json, bytes.subarray(8 + length)]));
    return path;
  }

  it('a missing version, a missing architecture, an output no run saves: named, exit 1, no training hint', async () => {
    const cases: [string, (meta: Record<string, string>) => void, string][] = [
      [
        'no-version',
        (meta) => delete meta.version,
        'its metadata has no format version; the file was edited or damaged',
      ],
      [
        'no-architecture',
        (meta) => delete meta.architecture,
        'its metadata has no architecture (sizes, activations, loss)',
      ],
      [
        'relu-output',
        (meta) => (meta.architecture = meta.architecture.replace('"softmax"', '"relu"')),
        'the architecture in its metadata has a relu output with the cross-entropy error, which backprop never saves; the file was edited or damaged',
      ],
    ];
    for (const [name, edit, message] of cases) {
      const path = await edited(`${name}.safetensors`, edit);
      for (const command of [
        ['predict', '--model', path],
        ['--resume', path, '--epochs', '3'],
        ['export', '--model', path, '--out', join(dir, 'x.onnx')],
      ]) {
        expect(await refusal(...command)).toEqual([1, `backprop: ${path}: ${message}`]);
      }
    }
  });

  it('an IDX of 0-pixel images names the file; a .gz cut short says so; a loop of links says so', async () => {
    const empty = tempDir();
    copyFileSync(join(data, 'train-labels-idx1-ubyte'), join(empty, 'train-labels-idx1-ubyte'));
    copyFileSync(join(data, 't10k-labels-idx1-ubyte'), join(empty, 't10k-labels-idx1-ubyte'));
    copyFileSync(join(data, 't10k-images-idx3-ubyte'), join(empty, 't10k-images-idx3-ubyte'));
    writeFileSync(join(empty, 'train-images-idx3-ubyte'), idxBytes([12, 0, 28], []));
    expect(await refusal('--data', empty)).toEqual([
      1,
      `backprop: ${join(empty, 'train-images-idx3-ubyte')}: its images have no pixels (12×0×28)`,
    ]);

    const cut = tempDir();
    for (const name of ['train-labels-idx1-ubyte', 't10k-labels-idx1-ubyte', 't10k-images-idx3-ubyte'])
      copyFileSync(join(data, name), join(cut, name));
    const gz = gzipSync(
      idxBytes(
        [200, 28, 28],
        Array.from({ length: 200 * 784 }, (_, i) => (i * 7) % 256),
      ),
    );
    writeFileSync(join(cut, 'train-images-idx3-ubyte.gz'), gz.subarray(0, gz.length - 100));
    expect(await refusal('--data', cut)).toEqual([
      1,
      `backprop: ${join(cut, 'train-images-idx3-ubyte.gz')}: truncated: the gzip stream ends before its last byte (the file was cut short)`,
    ]);

    const loop = join(dir, 'loop');
    symlinkSync(join(dir, 'loop2'), loop);
    symlinkSync(loop, join(dir, 'loop2'));
    expect(await refusal('--data', loop)).toEqual([1, `backprop: ${loop}: cannot read (a loop of symbolic links)`]);
  });

  it('writes that cannot happen say why in words', async () => {
    await ready;
    writeFileSync(join(dir, 'plain'), 'x');
    const cases: [string[], string][] = [
      [
        [
          'bench',
          '--out',
          '/dev/full',
          '--hidden',
          '8',
          '--batch',
          '100',
          '--no-peers',
          '--no-deeper',
          '--whole-runs',
          '0',
          '--repeats',
          '1',
          '--seconds',
          '0.01',
          '--isa',
          'scalar',
        ],
        '/dev/full/latest.json: cannot write (/dev/full is a device or other special file, not a folder); the previous file, if any, is unchanged',
      ],
      [
        ['export', '--model', model, '--out', join(dir, 'plain', 'm.onnx')],
        `${join(dir, 'plain', 'm.onnx')}: cannot write (${join(dir, 'plain')} is a file, not a folder); the previous file, if any, is unchanged`,
      ],
      [
        ['export', '--model', model, '--out', '/proc/version'],
        '/proc/version: cannot write (the folder /proc does not take new files); the previous file, if any, is unchanged',
      ],
    ];
    for (const [args, message] of cases) {
      const { code, err } = await runCli(...args);
      expect([code, err.at(-1)]).toEqual([1, `backprop: ${message}`]);
    }
  });
});

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** A grey PNG that declares `width` × `height` pixels and holds a hundred bytes of them. */
function pngHeader(width: number, height: number): Buffer {
  const crc = (bytes: Buffer): number => {
    let c = 0xffffffff;
    for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer): Buffer => {
    const body = Buffer.concat([Buffer.from(type), data]);
    const framed = Buffer.alloc(body.length + 8);
    framed.writeUInt32BE(data.length, 0);
    body.copy(framed, 4);
    framed.writeUInt32BE(crc(body), body.length + 4);
    return framed;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  return Buffer.concat([
    Buffer.from('89504e470d0a1a0a', 'hex'),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(100))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('sizes that would never finish or never fit', () => {
  it('--hidden with 3,000 layers is one line and exit 2', async () => {
    expect(await refusal('--hidden', Array(3000).fill('1').join(','), '--epochs', '1')).toEqual([
      2,
      'backprop: a network has at most 62 hidden layers, this one has 3000',
    ]);
  });

  it('gradcheck checks a sample of each large tensor, finishes, and refuses a size it could not', async () => {
    expect(gradcheckWork([64, 64, 64, 64, 64], true, 256)).toBeLessThan(MAX_GRADCHECK_WORK / 4);
    const { code, out } = await runCli(
      'gradcheck',
      '--hidden',
      '64,64',
      '--rows',
      '32',
      '--inputs',
      '64',
      '--outputs',
      '16',
    );
    expect(code).toBe(0);
    expect(out[1]).toMatch(/^ {2}layer 1 weight {3}largest relative error \S+ \(64 of 4,096 entries, at random\)$/);
    const [status, message] = await refusal(
      'gradcheck',
      '--hidden',
      Array(40).fill('64').join(','),
      '--rows',
      '256',
      '--inputs',
      '64',
      '--outputs',
      '64',
    );
    expect(status).toBe(2);
    expect(message).toMatch(
      /^backprop: a gradient check of 64-(64-)+64 on 256 samples takes about \d+·10⁹ multiply-adds in float64 \(several minutes\); give fewer --rows or smaller layers \(at most 30·10⁹\)$/,
    );
  });

  it('a picture past the pixel limit is refused from its header; many large pictures are read one at a time, each reported', async () => {
    const dir = tempDir();
    // A PNG of 20,000 × 20,000 pixels whose data are a hundred bytes: refused before anything is decoded.
    const header = join(dir, 'huge.png');
    writeFileSync(header, pngHeader(20000, 20000));
    const model = join(dir, 'm.safetensors');
    expect((await runCli('--limit', '2000', '--epochs', '1', '--save', model)).code).toBe(0);
    const one = await runCli('predict', '--model', model, '--image', header);
    expect([one.code, one.err]).toEqual([
      1,
      [
        `backprop: ${header}: the picture is 20000×20000 pixels, more than backprop reads (268 megapixels); scale it down`,
      ],
    ]);
    // Eight pictures of 6,000 × 6,000 pixels (36 MB each, decoded whole): the peak stays that of about one.
    const big = join(dir, 'big.png');
    await sharp({ create: { width: 6000, height: 6000, channels: 3, background: 'white' } })
      .composite([
        {
          input: Buffer.from(
            '<svg width="6000" height="6000"><rect x="2500" y="1000" width="1000" height="4000"/></svg>',
          ),
        },
      ])
      .png()
      .toFile(big);
    const args = ['predict', '--model', model, '--image', ...Array(8).fill(big), join(dir, 'missing.png'), big];
    const run = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, bin, ...args], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stdout.trim().split('\n')).toHaveLength(9);
    const lines = run.stderr.trim().split('\n');
    expect(lines[0]).toBe(`backprop: ${join(dir, 'missing.png')}: cannot read (no such file or folder)`);
    expect(Number(lines.at(-1)) / 1024).toBeLessThan(600);
  });
});

describe('what a new user typed', () => {
  it('BACKPROP_ISA in capitals is the ISA; info says which backend would run', () => {
    const upper = runBin(['info', '--json'], { env: { BACKPROP_ISA: 'SCALAR' } });
    expect(upper.status).toBe(0);
    if ((JSON.parse(upper.stdout) as { backend: string }).backend === 'native')
      expect(JSON.parse(upper.stdout)).toMatchObject({ isaSelected: 'scalar' });
    const ts = runBin(['info', '--json'], { env: { BACKPROP_BACKEND: 'ts' } });
    expect(JSON.parse(ts.stdout)).toMatchObject({ backend: 'ts' });
    expect(JSON.parse(ts.stdout)).not.toHaveProperty('isaSelected');
  });

  it('help as a new user asks for it: example --help, example alone, help train, bench --help', async () => {
    const example = await runCli('example', '--help');
    expect([example.code, example.out[0].split('\n')[0]]).toEqual([0, 'usage: backprop example tutorial [options]']);
    expect(await refusal('example')).toEqual([
      2,
      'backprop: example needs the name of one: `backprop example tutorial` (see `backprop example --help`)',
    ]);
    const help = await runCli('help', 'train');
    expect(help.out[0].split('\n').slice(0, 2)).toEqual([
      'usage: backprop train [options]',
      expect.stringMatching(/CSV file/),
    ]);
    expect((await runCli('bench', '--help')).out.join('\n')).toMatch(/PyTorch/);
  });

  it("the tutorial's CSV run, as its README gives it, prints a few epoch lines, and predict --outputs the 8 outputs", async () => {
    const dir = tempDir();
    const folder = join(__dirname, '..', 'examples', 'tutorial-3-2-1');
    const model = join(dir, 'tutorial.safetensors');
    const trained = await runCli(
      'train',
      '--data',
      join(folder, 'tutorial.csv'),
      '--loss',
      'mse',
      '--hidden',
      '2',
      '--activation',
      'bipolar',
      '--output',
      'bipolar',
      '--no-bias',
      '--init',
      join(folder, 'weights.json'),
      '--lr',
      '0.01',
      '--batch',
      '1',
      '--sampling',
      'random',
      '--steps',
      '10000',
      '--log-every',
      '250',
      '--save',
      model,
    );
    expect(trained.code).toBe(0);
    expect(trained.out.filter((line) => line.startsWith('epoch ')).length).toBeLessThanOrEqual(6);
    const predicted = await runCli('predict', '--model', model, '--outputs');
    expect(predicted.out).toHaveLength(9);
    expect(predicted.out[0]).toBe('sample 1: output -0.0864   target -1.0000');
    const readme = readFileSync(join(folder, 'README.md'), 'utf8');
    expect(readme).toContain(predicted.out[0]);
    expect(readme).toContain(predicted.out.at(-1));
  });

  it("train's notes on stderr are wrapped to the terminal's width", async () => {
    const dir = tempDir();
    const model = join(dir, 'm.safetensors');
    const data = writeTinyIdxSet();
    expect((await runCli('--data', data, '--hidden', '3', '--epochs', '1', '--batch', '4', '--save', model)).code).toBe(
      0,
    );
    const err: string[] = [];
    const code = await main(['--resume', model, '--epochs', '2'], {
      out: () => {},
      err: (line) => err.push(line),
      errColumns: 50,
    });
    expect(code).toBe(0);
    expect(err.length).toBeGreaterThan(1);
    // A piece is cut at spaces only: one that holds none (the model's path) may stay longer.
    for (const line of err) expect(line.length <= 50 || !line.trim().includes(' '), line).toBe(true);
    expect(err.join(' ').replace(/\s+/g, ' ')).toBe(
      `backprop: resuming ${model} after epoch 1, with its saved settings`,
    );
  });

  it('one epoch is one epoch; --image and --data together are refused', async () => {
    const { out } = await runCli('--data', writeTinyIdxSet(), '--hidden', '3', '--epochs', '1', '--batch', '4');
    expect(out[2]).toMatch(/, 1 epoch, seed 1, in order$/);
    expect(await refusal('predict', '--model', 'm', '--image', 'a.png', '--data', 'd')).toEqual([
      2,
      'backprop: --image and --data contradict each other: predict reads pictures, or evaluates data',
    ]);
  });
});

/**
 * Whether another user can run the command from this clone: every folder above it searchable by
 * others (a clone inside `mktemp -d`, mode 700, is not, and the other user would meet "cannot find
 * module" instead of the refusal under test).
 */
function othersCanRun(path: string): boolean {
  const folders: string[] = [];
  for (let dir = dirname(path); folders.at(-1) !== dir; dir = dirname(dir)) folders.push(dir);
  return folders.every((dir) => (statSync(dir).mode & 0o001) !== 0) && (statSync(path).mode & 0o004) !== 0;
}

describe('permissions', () => {
  it.runIf(process.getuid?.() === 0 && othersCanRun(bin))(
    'a folder that cannot be read is named with the reason, as another user would meet it',
    () => {
      const dir = tempDir();
      const data = join(dir, 'private.csv');
      writeFileSync(data, 'x,label\n1,0\n2,1\n');
      chmodSync(dir, 0o700);
      const run = spawnSync(process.execPath, [bin, '--data', data], {
        encoding: 'utf8',
        uid: 65534,
        gid: 65534,
        cwd: '/',
      });
      expect([run.status, run.stderr.trim()]).toEqual([1, `backprop: ${data}: cannot read (permission denied)`]);
      expect(statSync(data).size).toBeGreaterThan(0);
      rmSync(dir, { recursive: true });
    },
  );
});

describe('reports, read as a browser shows them', () => {
  it('one epoch gets whole-number ticks; a regression its final error and short axis labels; compare its figures; bench its targets', async () => {
    const dir = tempDir();
    const one = join(dir, 'one.html');
    expect(
      (await runCli('--data', writeTinyIdxSet(), '--hidden', '3', '--epochs', '1', '--batch', '4', '--report', one))
        .code,
    ).toBe(0);
    expect(readFileSync(one, 'utf8')).not.toMatch(/>1\.0{5,}<\/text>/);
    const rows = Array.from(
      { length: 60 },
      (_, i) => `${i % 6},${40 + i},${50_000 + 1_500 * (40 + i) + 20_000 * (i % 6)}`,
    );
    const csv = join(dir, 'houses.csv');
    writeFileSync(csv, `rooms,area,price\n${rows.join('\n')}\n`);
    const regression = join(dir, 'regression.html');
    const trained = await runCli(
      '--data',
      csv,
      '--loss',
      'mse',
      '--hidden',
      '4',
      '--epochs',
      '3',
      '--batch',
      '10',
      '--report',
      regression,
    );
    expect(trained.code).toBe(0);
    const html = readFileSync(regression, 'utf8');
    const last = /train error (\S+)/.exec(trained.out.find((line) => line.startsWith('epoch 3/3'))!)![1];
    expect(html).toContain(`Final epoch (3): training error ${last}`);
    expect(html).not.toMatch(/>\d{1,3}(,\d{3}){3,}<\/text>/);
    const compare = join(dir, 'compare.html');
    const compared = await runCli(
      'compare',
      '--data',
      writeTinyIdxSet(),
      '--hidden',
      '4',
      '--epochs',
      '1',
      '--batch',
      '4',
      '--report',
      compare,
    );
    expect(compared.out.at(-1)).toBe(`wrote ${compare}`);
    const speedup = compared.out[2].trim().split(/\s{2,}/)[3];
    expect(readFileSync(compare, 'utf8')).toContain(`<td>${speedup}</td>`);
    expect(readFileSync(compare, 'utf8')).not.toContain('log scale');
    const bench = join(dir, 'bench.html');
    const benched = await runCli(
      'bench',
      '--hidden',
      '8',
      '--batch',
      '100',
      '--no-peers',
      '--no-deeper',
      '--repeats',
      '1',
      '--seconds',
      '0.02',
      '--isa',
      'scalar',
      '--whole-runs',
      '0',
      '--report',
      bench,
    );
    expect(benched.code).toBe(0);
    expect(benched.out).not.toContainEqual(expect.stringMatching(/issue 10|measured not measured|\b1 batches/));
    expect(readFileSync(bench, 'utf8')).toMatch(
      /<h2>Targets<\/h2><table class="figures">.*seed network \(H 30, batch 100\)/s,
    );
  });
});
