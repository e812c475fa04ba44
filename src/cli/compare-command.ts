import { Network } from '../model/network.js';
import { fit, type FitResult } from '../train/fit.js';
import { EXIT } from '../errors.js';
import { describeBackend, describeTraining } from './report.js';
import {
  buildNetwork,
  fitOptions,
  outputsOf,
  prepareTraining,
  refuseClashes,
  trainSettings,
  type TrainSettings,
} from './setup.js';
import type { Io } from './io.js';
import { SAVE_OPTIONS, TRAIN_OPTIONS } from './specs.js';
import { omit } from './options.js';
import { writeFileAtomic } from '../io/atomic.js';
import { defineCommand } from './command.js';

interface CompareRow {
  label: string;
  result: FitResult;
  net: Network;
}

async function compare(settings: TrainSettings, report: string | undefined, io: Io): Promise<number> {
  const rows: CompareRow[] = [];
  let trainCount = 0;
  for (const backendName of ['native', 'ts']) {
    const { data, sizes, backend } = prepareTraining(settings, backendName);
    trainCount = data.train.count;
    const net = buildNetwork(settings, sizes, backend);
    const result = await fit(net, data.train, { ...fitOptions(settings), validation: data.validation ?? data.test });
    rows.push({ label: describeBackend(backend), result, net });
  }
  let maxDifference = 0;
  const [native, ts] = rows;
  for (let i = 0; i < native.net.params.length; i++) {
    maxDifference = Math.max(maxDifference, Math.abs(native.net.params[i] - ts.net.params[i]));
  }
  const epochs = native.result.history.length;
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
    Math.round(row.samplesPerSecond).toLocaleString('en-US'),
    `${row.speedup.toFixed(1)}×`,
    row.trainAccuracy?.toFixed(4) ?? '—',
    row.valAccuracy?.toFixed(4) ?? '—',
  ]);
  const difference = `largest difference between the two weight sets: ${maxDifference.toExponential(2)}`;
  if (report) {
    const { timingReport } = await import('../report/html.js');
    const html = await timingReport({
      title: `backprop compare: ${native.net.sizes.join('-')}`,
      config: {
        network: native.net.sizes.join('-'),
        training: describeTraining(settings),
        'largest weight difference': maxDifference.toExponential(2),
      },
      bars: rows.map((row) => ({ label: row.label, seconds: perEpoch(row), group: row.net.backend.name })),
      // Two bars on a linear axis: a speed-up of 36× looks like 36×.
      scale: 'linear',
      tables: [{ heading: 'The two backends', header, rows: cells }],
    });
    writeFileAtomic(report, html);
  }
  if (settings.json) {
    for (const row of table) io.out(JSON.stringify({ event: 'compare', ...row }));
    io.out(JSON.stringify({ event: 'done', maxWeightDifference: maxDifference }));
    return EXIT.ok;
  }
  io.out(
    `network ${native.net.sizes.join('-')}, ${epochs} epoch${epochs === 1 ? '' : 's'} of ${trainCount.toLocaleString('en-US')} samples, batch ${settings.batchSize}, learning rate ${settings.learningRate}, seed ${settings.seed}`,
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

const COMPARE_OPTIONS = omit(TRAIN_OPTIONS, [
  'backend',
  'progress-json',
  'quiet',
  'log-every',
  ...SAVE_OPTIONS.map((spec) => spec.name),
]);

export const compareCommand = defineCommand({
  summary: 'train the same network from the same seed on the native and ts backends, side by side',
  options: COMPARE_OPTIONS,
  run: (options, io) => {
    const settings = trainSettings(options);
    refuseClashes({ data: settings.dataDir, init: options.init }, outputsOf({ report: options.report }));
    return compare(settings, options.report, io);
  },
});
