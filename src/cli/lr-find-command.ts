import { EXIT, UsageError } from '../errors.js';
import { findLearningRate, type LrFindResult } from '../train/lr-find.js';
import { defineCommand } from './command.js';
import type { Io } from './io.js';
import type { Options } from './options.js';
import { describeBackend, describeNetwork } from './report.js';
import { buildNetwork, outputsOf, prepareTraining, refuseClashes, samplingOf, trainSettings } from './setup.js';
import { writeFileAtomic } from '../io/atomic.js';
import { LR_FIND_OPTIONS, TRAIN_OPTIONS, type TrainOptionName } from './specs.js';

const TRAIN_NAMES: ReadonlySet<string> = new Set(TRAIN_OPTIONS.map((spec) => spec.name));

const WIDTH = 60;
const HEIGHT = 12;

/** A rate as a person reads it: `3e-3`, `0.1`. */
function rate(value: number): string {
  return value >= 0.01 && value < 1000 ? String(Number(value.toPrecision(2))) : value.toExponential(0);
}

/**
 * The smoothed loss against the learning rate on a log axis, as text: one column per step of the
 * rate, the suggested rate marked under the axis.
 */
export function lossPlot(result: LrFindResult): string[] {
  const points = result.points.filter((p) => Number.isFinite(p.smoothed));
  const first = Math.log(points[0].learningRate);
  const last = Math.log(points.at(-1)!.learningRate);
  const column = (lr: number): number =>
    last > first ? Math.round(((Math.log(lr) - first) / (last - first)) * (WIDTH - 1)) : 0;
  // The loss axis ends at the first loss: what diverges above it is off the chart.
  const low = Math.min(...points.map((p) => p.smoothed));
  const high = Math.max(low * 1.0001, points[0].smoothed);
  const rows = Array.from({ length: HEIGHT }, () => new Array<string>(WIDTH).fill(' '));
  for (const p of points) {
    const level = Math.round(((Math.min(p.smoothed, high) - low) / (high - low)) * (HEIGHT - 1));
    rows[HEIGHT - 1 - level][column(p.learningRate)] = '•';
  }
  const label = (value: number): string => value.toFixed(3).padStart(7);
  const lines = rows.map((row, i) => {
    const edge = i === 0 ? label(high) : i === HEIGHT - 1 ? label(low) : ' '.repeat(7);
    return `${edge} │${row.join('')}`;
  });
  const marker = new Array<string>(WIDTH).fill(' ');
  marker[column(result.suggestion)] = '▲';
  const left = rate(points[0].learningRate);
  const right = rate(points.at(-1)!.learningRate);
  lines.push(`${' '.repeat(7)} └${'─'.repeat(WIDTH)}`);
  lines.push(`${' '.repeat(9)}${marker.join('')}`.trimEnd());
  lines.push(`${' '.repeat(9)}${left}${right.padStart(WIDTH - left.length)}  learning rate (log)`);
  return lines;
}

async function runLrFind(options: Options<typeof LR_FIND_OPTIONS>, io: Io): Promise<number> {
  if (options.startLr >= options.endLr)
    throw new UsageError(`--start-lr ${options.startLr} must be below --end-lr ${options.endLr}`);
  const settings = trainSettings({
    ...options,
    lr: options.startLr,
    epochs: undefined,
    steps: undefined,
    schedule: 'constant',
    warmup: 0,
    // fastai's probe draws its batches from a shuffled epoch.
    sampling: options.given.has('sampling') || options.shuffle ? samplingOf(options) : 'shuffle',
    given: new Set([...options.given].flatMap((name) => (TRAIN_NAMES.has(name) ? [name as TrainOptionName] : []))),
  });
  refuseClashes({ data: settings.dataDir }, outputsOf({ report: options.report }));
  const { data, sizes, backend, fallbackReason } = prepareTraining(settings);
  if (fallbackReason) io.err(`backprop: ${fallbackReason}`);
  const net = buildNetwork(settings, sizes, backend);
  const result = await findLearningRate(net, data.train, {
    start: options.startLr,
    end: options.endLr,
    steps: options.steps,
    batchSize: settings.batchSize,
    optimizer: settings.optimizer,
    sampling: settings.sampling,
    seed: settings.seed,
  });
  const { minimum, steepest, suggestion, diverged, points } = result;
  if (options.report) {
    const { lrFindReport } = await import('../report/html.js');
    const html = await lrFindReport({
      title: `backprop lr-find: ${sizes.join('-')}`,
      config: {
        network: `${sizes.join('-')} (${describeNetwork(net)})`,
        optimizer: settings.optimizer.name ?? 'sgd',
        batch: settings.batchSize,
        rates: `${rate(options.startLr)} to ${rate(options.endLr)} over ${options.steps} batches`,
        data: data.dir,
      },
      result,
    });
    writeFileAtomic(options.report, html);
  }
  if (settings.json) {
    for (const p of points) io.out(JSON.stringify({ event: 'lr', ...p }));
    io.out(JSON.stringify({ event: 'suggestion', learningRate: suggestion, minimum, steepest, diverged }));
    return EXIT.ok;
  }
  io.out(
    `learning-rate finder: ${sizes.join('-')} (${describeNetwork(net)}) on ${describeBackend(backend)}, ${settings.optimizer.name ?? 'sgd'}, batch ${settings.batchSize}`,
  );
  const end = diverged
    ? `the loss diverged at ${rate(points.at(-1)!.learningRate)} after ${points.length} batches`
    : `${points.length} batches up to ${rate(points.at(-1)!.learningRate)}`;
  io.out(`rates from ${rate(options.startLr)}, ${end}`);
  for (const line of lossPlot(result)) io.out(line);
  if (options.report) io.out(`wrote ${options.report}`);
  io.out(
    `suggested --lr ${rate(suggestion)} (fastai's valley; the lowest smoothed loss was at ${rate(minimum)}, it fell fastest at ${rate(steepest)})`,
  );
  return EXIT.ok;
}

export const lrFindCommand = defineCommand({
  summary: "find a learning rate: a short run with the rate growing exponentially, as fastai's lr_find",
  options: LR_FIND_OPTIONS,
  run: runLrFind,
});
