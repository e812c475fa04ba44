import { grouped } from '../numbers.js';
import { Network } from '../model/network.js';
import { fit, type FitResult } from '../train/fit.js';
import { fitSettingsOf } from '../train/checkpoint.js';
import { EXIT, UsageError } from '../errors.js';
import { describeBackend, describeTraining } from './report.js';
import { buildNetwork, outputsOf, prepareTraining, refuseClashes, trainSettings, type TrainSettings } from './setup.js';
import type { Io } from './io.js';
import { SAVE_OPTIONS, TRAIN_OPTIONS } from './specs.js';
import { omit, type OptionSpec } from './options.js';
import { writeFileAtomic } from '../io/atomic.js';
import { defineCommand } from './command.js';

interface CompareRow {
  label: string;
  result: FitResult;
  net: Network;
}

const COMPARABLE = ['native', 'wasm', 'ts'] as const;

/** `--backends native,wasm,ts`: two or more backends, each once. */
function backendsOf(list: string): string[] {
  const names = list.split(',').map((name) => name.trim());
  const unknown = names.find((name) => !(COMPARABLE as readonly string[]).includes(name));
  if (unknown !== undefined)
    throw new UsageError(`--backends: unknown backend '${unknown}' (expected ${COMPARABLE.join(', ')})`);
  if (new Set(names).size !== names.length) throw new UsageError(`--backends names a backend twice: ${list}`);
  if (names.length < 2) throw new UsageError('--backends needs two backends or more to compare');
  return names;
}

/** The largest difference between two weight sets. */
function largestDifference(a: Float32Array, b: Float32Array): number {
  let largest = 0;
  for (let i = 0; i < a.length; i++) largest = Math.max(largest, Math.abs(a[i] - b[i]));
  return largest;
}

async function compare(
  settings: TrainSettings,
  backends: string[],
  report: string | undefined,
  io: Io,
): Promise<number> {
  const rows: CompareRow[] = [];
  let trainCount = 0;
  for (const backendName of backends) {
    const { data, sizes, backend } = prepareTraining(settings, backendName);
    trainCount = data.train.count;
    const net = buildNetwork(settings, sizes, backend);
    const result = await fit(net, data.train, { ...fitSettingsOf(settings), validation: data.validation ?? data.test });
    rows.push({ label: describeBackend(backend), result, net });
  }
  const pairs = rows.flatMap((a, i) =>
    rows.slice(i + 1).map((b) => ({
      pair: `${a.net.backend.name}–${b.net.backend.name}`,
      difference: largestDifference(a.net.params, b.net.params),
    })),
  );
  const maxDifference = Math.max(...pairs.map((p) => p.difference));
  const [first] = rows;
  const ts = rows.find((row) => row.net.backend.name === 'ts') ?? rows.at(-1)!;
  const epochs = first.result.history.length;
  const perEpoch = (row: CompareRow): number => row.result.trainSeconds / epochs;
  const table = rows.map((row) => {
    const last = row.result.history.at(-1)!;
    return {
      backend: row.net.backend.name,
      isa: row.net.backend.isa,
      threads: row.net.backend.threads,
      secondsPerEpoch: perEpoch(row),
      samplesPerSecond: trainCount / perEpoch(row),
      speedup: perEpoch(ts) / perEpoch(row),
      trainAccuracy: last.trainAccuracy,
      trainError: last.trainError,
      valAccuracy: last.valAccuracy,
    };
  });
  const header = ['backend', 's/epoch', 'samples/s', 'speed-up', 'train acc', 'val acc'];
  const cells = table.map((row, i) => [
    rows[i].label,
    row.secondsPerEpoch.toFixed(3),
    grouped(Math.round(row.samplesPerSecond)),
    `${row.speedup.toFixed(1)}×`,
    row.trainAccuracy?.toFixed(4) ?? '—',
    row.valAccuracy?.toFixed(4) ?? '—',
  ]);
  const difference =
    pairs.length === 1
      ? `largest difference between the two weight sets: ${maxDifference.toExponential(2)}`
      : `largest weight differences: ${pairs.map((p) => `${p.pair} ${p.difference.toExponential(2)}`).join(', ')}`;
  if (report) {
    const { timingReport } = await import('../report/html.js');
    const html = await timingReport({
      title: `backprop compare: ${first.net.sizes.join('-')}`,
      config: {
        network: first.net.sizes.join('-'),
        training: describeTraining(settings),
        'largest weight difference': maxDifference.toExponential(2),
      },
      bars: rows.map((row) => ({ label: row.label, seconds: perEpoch(row), group: row.net.backend.name })),
      // Two bars on a linear axis: a speed-up of 36× looks like 36×.
      scale: 'linear',
      tables: [{ heading: rows.length === 2 ? 'The two backends' : 'The backends', header, rows: cells }],
    });
    writeFileAtomic(report, html);
  }
  if (settings.json) {
    for (const row of table) io.out(JSON.stringify({ event: 'compare', ...row }));
    io.out(
      JSON.stringify({
        event: 'done',
        maxWeightDifference: maxDifference,
        ...(pairs.length > 1 && { weightDifferences: Object.fromEntries(pairs.map((p) => [p.pair, p.difference])) }),
      }),
    );
    return EXIT.ok;
  }
  io.out(
    `network ${first.net.sizes.join('-')}, ${epochs} epoch${epochs === 1 ? '' : 's'} of ${grouped(trainCount)} samples, batch ${settings.batchSize}, learning rate ${settings.learningRate}, seed ${settings.seed}`,
  );
  const widths = header.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c].length)));
  const format = (row: string[]): string =>
    row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  io.out(format(header));
  for (const row of cells) io.out(format(row));
  io.out(difference);
  if (report) io.out(`wrote ${report}`);
  return EXIT.ok;
}

const COMPARE_OPTIONS = [
  ...omit(TRAIN_OPTIONS, ['backend', 'progress-json', 'quiet', 'log-every', ...SAVE_OPTIONS.map((spec) => spec.name)]),
  {
    name: 'backends',
    group: 'backend',
    kind: { type: 'text' },
    value: 'LIST',
    help: `the backends to compare, two or more of ${COMPARABLE.join(', ')} (default native,ts)`,
  },
] as const satisfies readonly OptionSpec[];

export const compareCommand = defineCommand({
  summary: 'train the same network from the same seed on several backends (native and ts by default), side by side',
  options: COMPARE_OPTIONS,
  run: (options, io) => {
    const { backends, given, ...train } = options;
    const settings = trainSettings({
      ...train,
      given: new Set([...given].flatMap((name) => (name === 'backends' ? [] : [name]))),
    });
    refuseClashes({ data: settings.dataDir, init: options.init }, outputsOf({ report: options.report }));
    return compare(settings, backendsOf(backends ?? 'native,ts'), options.report, io);
  },
});
