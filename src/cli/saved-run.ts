import { existsSync } from 'node:fs';
import { sameFile } from '../io/files.js';
import { OPTIMIZERS, type OptimizerName } from '../backends/backend.js';
import { bundledMnistDir, type Preprocessing } from '../data/mnist.js';
import { DELIMITER_NAMES, NORMALIZATIONS, type DelimiterName, type Normalization } from '../data/csv.js';
import { isPreprocessing } from '../data/preprocessing.js';
import { DataError, UsageError } from '../errors.js';
import type { ModelFile } from '../model/safetensors.js';
import { SAMPLINGS, type EpochMetrics, type Sampling } from '../train/fit.js';
import { SCHEDULES, type Schedule } from '../train/schedules.js';
import type { TrainOptionName, TrainOptions } from './specs.js';
import { refuseCsvOptions, type TrainSettings } from './setup.js';

/** How `train` ran, as it saves it with the model: enough to continue the run exactly. */
export interface SavedTraining {
  batchSize: number;
  learningRate: number;
  optimizer: { name: OptimizerName; momentum: number; weightDecay: number };
  /** Absent in files saved before schedules: constant, no warm-up. */
  schedule?: Schedule;
  epochs: number;
  steps?: number;
  sampling: Sampling;
  seed: number;
  hidden: number[];
  /** Absent for the bundled MNIST (its folder differs between installs). */
  data?: string;
  limit?: number;
  classes?: number;
  /** How a CSV file was read (absent for IDX data, and in files saved before it was kept). */
  csv?: SavedCsv;
}

/** The options that read a CSV file, as saved. */
export interface SavedCsv {
  target?: string[];
  normalize?: Normalization;
  valSplit?: number;
  delimiter?: DelimiterName;
}

/** The CSV options of a run as they are saved (the scaling is saved with the preprocessing). */
export function savedCsvOf({ target, normalize, valSplit, delimiter }: TrainSettings['csv']): SavedCsv {
  return { target, normalize, valSplit, delimiter };
}

/** Everything `train` keeps in a model file besides the tensors, checked. */
export interface SavedRun {
  history: EpochMetrics[];
  /** Samples done of the epoch after the last in `history` (a checkpoint taken mid-epoch). */
  samplesDone: number;
  /** Absent in a model written by the library or another tool. */
  training?: SavedTraining;
  preprocessing?: Preprocessing;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isCount = (value: unknown, min = 0): value is number => Number.isInteger(value) && (value as number) >= min;
const isFiniteAtLeast = (value: unknown, min: number): value is number =>
  typeof value === 'number' && Number.isFinite(value) && value >= min;
const optionalFinite = (value: unknown): boolean => value === undefined || value === null || typeof value === 'number';

function validHistory(value: unknown): value is EpochMetrics[] {
  return (
    Array.isArray(value) &&
    value.every(
      (m, i) =>
        isObject(m) &&
        m.epoch === i + 1 &&
        isCount(m.epochs, 1) &&
        isCount(m.steps) &&
        typeof m.trainError === 'number' &&
        optionalFinite(m.trainAccuracy) &&
        optionalFinite(m.valAccuracy) &&
        optionalFinite(m.valError),
    )
  );
}

function validTraining(value: unknown): value is SavedTraining {
  if (!isObject(value) || !isObject(value.optimizer)) return false;
  const { optimizer } = value;
  return (
    isCount(value.batchSize, 1) &&
    isFiniteAtLeast(value.learningRate, Number.MIN_VALUE) &&
    isCount(value.epochs, 1) &&
    (value.steps === undefined || isCount(value.steps, 1)) &&
    (SAMPLINGS as readonly unknown[]).includes(value.sampling) &&
    isCount(value.seed) &&
    Array.isArray(value.hidden) &&
    value.hidden.every((n) => isCount(n, 1)) &&
    (value.data === undefined || typeof value.data === 'string') &&
    (value.limit === undefined || isCount(value.limit, 1)) &&
    (value.classes === undefined || isCount(value.classes, 1)) &&
    (value.schedule === undefined ||
      (isObject(value.schedule) &&
        (SCHEDULES as readonly unknown[]).includes(value.schedule.name) &&
        isCount(value.schedule.warmup))) &&
    (OPTIMIZERS as readonly unknown[]).includes(optimizer.name) &&
    isFiniteAtLeast(optimizer.momentum, 0) &&
    isFiniteAtLeast(optimizer.weightDecay, 0) &&
    (value.csv === undefined || validCsv(value.csv))
  );
}

function validCsv(value: unknown): value is SavedCsv {
  return (
    isObject(value) &&
    (value.target === undefined || (Array.isArray(value.target) && value.target.every((t) => typeof t === 'string'))) &&
    (value.normalize === undefined || (NORMALIZATIONS as readonly unknown[]).includes(value.normalize)) &&
    (value.valSplit === undefined ||
      (typeof value.valSplit === 'number' && value.valSplit > 0 && value.valSplit < 1)) &&
    (value.delimiter === undefined || (DELIMITER_NAMES as readonly unknown[]).includes(value.delimiter))
  );
}

/** The run information of a model file; a field that is there but malformed is refused in one line. */
export function savedRunOf(file: ModelFile, path: string): SavedRun {
  const { history = [], samplesDone = 0, training, preprocessing } = file.extra;
  const bad = (field: string): DataError =>
    new DataError(`${path}: its metadata field ${field} is not what backprop saves; the file was edited or damaged`);
  if (!validHistory(history)) throw bad('history');
  // No data set holds 2³² samples: a larger count is damage, not other data.
  if (!isCount(samplesDone) || samplesDone >= 2 ** 32) throw bad('samplesDone');
  if (training !== undefined && !validTraining(training)) throw bad('training');
  if (
    preprocessing !== undefined &&
    !isPreprocessing(preprocessing, file.architecture.sizes[0], file.architecture.sizes.at(-1)!)
  )
    throw bad('preprocessing');
  return { history, samplesDone, training, preprocessing };
}

/**
 * The settings that continue the run saved in `path`: the saved ones, which an option given on the
 * command line may not contradict (it would silently change the run). `--epochs` may extend it.
 */
export function resumedSettings(
  options: TrainOptions,
  asked: TrainSettings,
  file: ModelFile,
  run: SavedRun,
  path: string,
): TrainSettings {
  const { architecture } = file;
  const saved = run.training;
  // A value as the option is written: a list comma-separated.
  const text = (value: unknown): string => (Array.isArray(value) ? value.join(',') : String(value));
  const conflict = (option: TrainOptionName, given: unknown, had: unknown): UsageError => {
    const trained = had === undefined ? `without --${option}` : `with ${text(had)}`;
    return new UsageError(
      `--${option} ${text(given)} contradicts ${path}, which was trained ${trained}; leave --${option} out to continue that run`,
    );
  };
  const check = (option: TrainOptionName, given: unknown, had: unknown): void => {
    if (options.given.has(option) && text(given) !== text(had)) throw conflict(option, given, had);
  };
  const hiddenActivations = architecture.activations.slice(0, -1);
  check('hidden', asked.hidden, architecture.sizes.slice(1, -1));
  check(
    'activation',
    options.activation,
    hiddenActivations.every((a) => a === hiddenActivations[0]) ? hiddenActivations[0] : hiddenActivations,
  );
  check('output', asked.network.output, architecture.activations.at(-1));
  check('loss', asked.network.loss, architecture.loss);
  if ((options.given.has('no-bias') || options.given.has('bias')) && asked.network.bias !== architecture.bias) {
    throw conflict(asked.network.bias ? 'bias' : 'no-bias', '', architecture.bias ? 'biases' : 'no biases');
  }
  if (!saved) return { ...asked, hidden: architecture.sizes.slice(1, -1) };
  check('lr', asked.learningRate, saved.learningRate);
  check('batch', asked.batchSize, saved.batchSize);
  check('seed', asked.seed, saved.seed);
  check('optimizer', asked.optimizer.name, saved.optimizer.name);
  check('momentum', asked.optimizer.momentum, saved.optimizer.momentum);
  check('weight-decay', asked.optimizer.weightDecay, saved.optimizer.weightDecay);
  if (options.given.has('momentum') && saved.optimizer.name !== 'momentum') {
    throw new UsageError(
      `--momentum applies to --optimizer momentum, and ${path} was trained with ${saved.optimizer.name}`,
    );
  }
  const schedule = saved.schedule ?? { name: 'constant', warmup: 0 };
  check('schedule', asked.schedule.name, schedule.name);
  check('warmup', asked.schedule.warmup, schedule.warmup);
  check('sampling', asked.sampling, saved.sampling);
  if (options.given.has('shuffle') && saved.sampling !== 'shuffle')
    throw conflict('shuffle', '', `--sampling ${saved.sampling}`);
  check('limit', asked.limit, saved.limit);
  check('classes', asked.classes, saved.classes);
  check('steps', asked.steps, saved.steps);
  const done = run.history.length;
  const epochs = options.given.has('epochs') ? asked.epochs : saved.epochs;
  if (saved.steps === undefined && epochs <= done) {
    throw new UsageError(
      `${path} has ${done} epoch${done === 1 ? '' : 's'} done; --epochs ${epochs} would train nothing (give more than ${done})`,
    );
  }
  const csv = resumedCsv(asked, saved, run);
  return {
    ...asked,
    csv,
    hidden: saved.hidden,
    epochs,
    steps: saved.steps,
    learningRate: saved.learningRate,
    optimizer: saved.optimizer,
    schedule,
    batchSize: saved.batchSize,
    seed: saved.seed,
    sampling: saved.sampling,
    limit: saved.limit,
    classes: saved.classes,
    dataDir: resumedData(options.given.has('data') ? asked.dataDir : undefined, saved, path),
  };

  /** The CSV reading of the run, its scaling restored as saved (never fitted again), which options may not contradict. */
  function resumedCsv(asked: TrainSettings, saved: SavedTraining, run: SavedRun): TrainSettings['csv'] {
    const preprocessing = run.preprocessing?.kind === 'csv' ? run.preprocessing : undefined;
    if (!preprocessing) {
      refuseCsvOptions(asked.csv, true);
      return asked.csv;
    }
    // Files saved before the CSV options were kept name their target and delimiter in the preprocessing.
    const had: SavedCsv = saved.csv ?? {
      target: preprocessing.target,
      delimiter: preprocessing.delimiter,
      valSplit: asked.csv.valSplit,
    };
    if (saved.csv) {
      check('normalize', asked.csv.normalize, had.normalize);
      check('val-split', asked.csv.valSplit, had.valSplit);
    }
    check('target', asked.csv.target, had.target);
    check('delimiter', asked.csv.delimiter, had.delimiter);
    const { shift, scale, targetShift, targetScale } = preprocessing;
    const targetScaling = targetShift && targetScale ? { shift: targetShift, scale: targetScale } : undefined;
    return { ...had, scaling: { shift, scale }, targetScaling };
  }
}

/**
 * The data folder or file the run trained on: the saved one, which --data may name again but not
 * contradict; where the saved one is gone, --data says where it went.
 */
function resumedData(given: string | undefined, saved: SavedTraining, path: string): string {
  const had = saved.data ?? bundledMnistDir();
  const there = existsSync(had);
  if (given !== undefined && there && !sameFile(given, had)) {
    const trained = saved.data === undefined ? 'the bundled MNIST' : had;
    throw new UsageError(
      `--data ${given} contradicts ${path}, which trained on ${trained}; leave --data out to continue that run`,
    );
  }
  if (there) return had;
  if (given !== undefined) return given;
  throw new DataError(`${path} trained on ${had}, which is not there any more; give --data with the same data`);
}
