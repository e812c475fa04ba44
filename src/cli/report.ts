import type { Backend, Evaluation } from '../backends/backend.js';
import { peakMemoryMB } from '../io/machine.js';
import type { Network } from '../model/network.js';
import { noiseRates } from '../model/layout.js';
import type { EpochMetrics, Progress } from '../train/fit.js';
import type { Schedule } from '../train/schedules.js';
import type { TrainSettings } from './setup.js';
import { readableNumber, grouped } from '../numbers.js';
import { describeAugmentation, type Augmentation } from '../train/augmentation.js';

/** Everything the header lines describe. */
export interface RunInfo {
  net: Network;
  backend: Backend;
  dataDir: string;
  trainCount: number;
  validationCount: number;
  /** The test samples scored once at the end, when validation data were held out of the training set. */
  testCount?: number;
  /** The validation data are the data set's test part (MNIST without --val-split, as the seed does). */
  validationIsTest: boolean;
  settings: TrainSettings;
}

export interface Summary {
  backend: Backend;
  trainSeconds: number;
  totalSeconds: number;
}

export interface Reporter {
  header(info: RunInfo): void;
  /** `best`: the epoch is the best so far (what --save-best keeps). */
  epoch(metrics: EpochMetrics, best: boolean): void;
  /** Training has ended, however: an epoch line held back by --log-every is printed now. */
  end(): void;
  /** The test set's score, once, after training on validation data held out of the training set. */
  test(score: Evaluation): void;
  done(summary: Summary): void;
}

type Write = (line: string) => void;

const fixed4 = (n: number): string => n.toFixed(4);

export function describeBackend(backend: Backend): string {
  if (backend.name !== 'native') return backend.name;
  return `native (${backend.isa}, ${backend.threads} thread${backend.threads === 1 ? '' : 's'})`;
}

/** `relu hidden, softmax output, cross-entropy`. */
export function describeNetwork(net: Network): string {
  const hidden = net.activations.slice(0, -1);
  const hiddenText = hidden.every((a) => a === hidden[0]) ? hidden[0] : hidden.join(', ');
  const noise = Object.entries(noiseRates(net.noise))
    .map(([kind, rates]) => `, ${kind} ${rates.every((p) => p === rates[0]) ? rates[0] : rates.join(', ')}`)
    .join('');
  return `${hidden.length ? `${hiddenText} hidden, ` : ''}${net.activations.at(-1)} output, ${net.loss}${net.bias ? '' : ', no biases'}${noise}`;
}

/** The training options as a person would write them: `batch 100, sgd learning rate 0.1, 20 epochs, seed 1, in order`. */
export function describeTraining(
  s: Pick<TrainSettings, 'optimizer' | 'steps' | 'epochs' | 'sampling' | 'batchSize' | 'learningRate' | 'seed'> & {
    augment?: Augmentation;
    schedule?: Schedule;
  },
): string {
  const opt = s.optimizer;
  const optimizer = opt.name === 'momentum' ? `momentum ${opt.momentum}` : (opt.name ?? 'sgd');
  const decay = opt.weightDecay ? `, weight decay ${opt.weightDecay}` : '';
  const length =
    s.steps === undefined
      ? `${s.epochs} epoch${s.epochs === 1 ? '' : 's'}`
      : `${grouped(s.steps)} step${s.steps === 1 ? '' : 's'}`;
  const sampling = { order: 'in order', shuffle: 'shuffled', random: 'random draws' }[s.sampling];
  const { name, warmup: steps } = s.schedule ?? { name: 'constant', warmup: 0 };
  const warmup = steps > 0 ? ` after ${grouped(steps)} warm-up steps` : '';
  const schedule = name !== 'constant' || warmup ? ` (${name}${warmup})` : '';
  const augment = s.augment ? `, augmented (${describeAugmentation(s.augment)})` : '';
  return `batch ${s.batchSize}, ${optimizer} learning rate ${s.learningRate}${schedule}${decay}, ${length}, seed ${s.seed}, ${sampling}${augment}`;
}

/** The epoch line of the human report, e.g. `epoch 3/20  train acc 0.9329  error 0.2262 | val acc …`. */
export function epochLine(m: EpochMetrics): string {
  const part = (accuracy: number | undefined, error: number): string =>
    accuracy === undefined
      ? `error ${readableNumber(error)}`
      : `acc ${fixed4(accuracy)}  error ${readableNumber(error)}`;
  const val = m.valError === undefined ? '' : ` | val ${part(m.valAccuracy, m.valError)}`;
  return `epoch ${m.epoch}/${m.epochs}  train ${part(m.trainAccuracy, m.trainError)}${val} | ${m.trainSeconds.toFixed(2)} s`;
}

/**
 * `line` in pieces of at most `columns` characters, broken after a `, ` or before a ` | `, else at a
 * space (the continuations indented); a piece with no space at all is left long rather than cut.
 */
export function wrap(line: string, columns: number | undefined): string[] {
  if (!columns || line.length <= columns) return [line];
  const lines: string[] = [];
  let rest = line;
  while (rest.length > columns) {
    const window = rest.slice(0, columns + 1);
    let at = Math.max(window.lastIndexOf(', ') + 1, window.lastIndexOf(' | '));
    if (at <= 2) at = window.lastIndexOf(' ');
    if (at <= 2) break;
    lines.push(rest.slice(0, at).trimEnd());
    rest = `  ${rest.slice(at).trimStart()}`;
  }
  return [...lines, rest];
}

/**
 * The text report: a header, the epoch lines (every `every`th and the last; at the end, the best
 * epoch's when it was not among them), the times.
 */
export function humanReporter(write: Write, every = 1, columns?: number): Reporter {
  let held: string | undefined;
  let best: { line: string; shown: boolean } | undefined;
  const writeWrapped = (line: string): void => wrap(line, columns).forEach((part) => write(part));
  return {
    header(info) {
      writeWrapped(
        `network ${info.net.sizes.join('-')} (${describeNetwork(info.net)}), ${grouped(info.net.parameterCount)} parameters`,
      );
      writeWrapped(`backend ${describeBackend(info.backend)} | data ${info.dataDir} (${dataCounts(info)})`);
      writeWrapped(describeTraining(info.settings));
    },
    epoch(metrics, isBest) {
      const line = epochLine(metrics);
      const shown = metrics.epoch % every === 0 || metrics.epoch === metrics.epochs;
      if (isBest) best = { line, shown };
      held = shown ? undefined : line;
      if (shown) write(line);
    },
    end() {
      if (held) write(held);
      if (best && !best.shown && best.line !== held) write(`${best.line}  (the best)`);
      held = undefined;
      best = undefined;
    },
    test(score) {
      const accuracy = score.accuracy === undefined ? '' : `acc ${fixed4(score.accuracy)}  `;
      write(`test ${accuracy}error ${readableNumber(score.error)} (the test set, scored once after training)`);
    },
    done(summary) {
      write(
        `training time ${summary.trainSeconds.toFixed(2)} s (evaluation excluded), total ${summary.totalSeconds.toFixed(2)} s`,
      );
    },
  };
}

/** `60,000 train, 10,000 validation: the test set`, or with validation held out, the three parts. */
function dataCounts(info: RunInfo): string {
  const validation = `${grouped(info.validationCount)} validation${info.validationIsTest ? ': the test set' : ''}`;
  const test = info.testCount === undefined ? '' : `, ${grouped(info.testCount)} test`;
  return `${grouped(info.trainCount)} train, ${validation}${test}`;
}

/** JSON lines on stdout, one object per event; nothing else goes to stdout. */
export function jsonReporter(write: Write): Reporter {
  return {
    header() {},
    end() {},
    test(score) {
      write(JSON.stringify({ event: 'test', accuracy: score.accuracy, error: score.error }));
    },
    epoch(m) {
      write(
        JSON.stringify({
          event: 'epoch',
          epoch: m.epoch,
          epochs: m.epochs,
          trainAccuracy: m.trainAccuracy,
          trainError: m.trainError,
          valAccuracy: m.valAccuracy,
          valError: m.valError,
          trainSeconds: m.trainSeconds,
          evalSeconds: m.evalSeconds,
          steps: m.steps,
        }),
      );
    },
    done(summary) {
      write(
        JSON.stringify({
          event: 'done',
          backend: summary.backend.name,
          isa: summary.backend.isa,
          threads: summary.backend.threads,
          trainSeconds: summary.trainSeconds,
          totalSeconds: summary.totalSeconds,
          peakMemoryMB: peakMemoryMB(),
        }),
      );
    },
  };
}

/** A progress bar for the status line: `epoch 3/20 ████░░░░ 31,000/60,000  850,000 samples/s  ETA 0.4 s  error 0.2311`. */
export function progressLine(p: Progress, samplesPerSecond: number): string {
  const width = 24;
  const filled = Math.round((width * p.samplesDone) / p.samples);
  const eta = samplesPerSecond > 0 ? (p.samples - p.samplesDone) / samplesPerSecond : 0;
  return (
    `epoch ${p.epoch}/${p.epochs} ${'█'.repeat(filled)}${'░'.repeat(width - filled)} ${grouped(p.samplesDone)}/${grouped(p.samples)}` +
    `  ${grouped(Math.round(samplesPerSecond))} samples/s  ETA ${eta.toFixed(1)} s  error ${p.runningError.toFixed(4)}`
  );
}

const BLOCKS = '▁▂▃▄▅▆▇█';

/** One row of a small chart: the values as block characters scaled between their min and max. */
export function sparkline(label: string, values: number[]): string {
  const min = Math.min(...values);
  const max = Math.max(...values);
  const bars = values
    .map((v) => BLOCKS[max > min ? Math.round(((v - min) / (max - min)) * (BLOCKS.length - 1)) : BLOCKS.length - 1])
    .join('');
  return `${label} ${bars} ${values[0].toFixed(4)} → ${values[values.length - 1].toFixed(4)}`;
}
