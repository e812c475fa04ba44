import { existsSync } from 'node:fs';
import { OPTIMIZERS, type OptimizerName } from '../backends/backend.js';
import { bundledMnistDir, type Preprocessing } from '../data/mnist.js';
import { DataError, UsageError } from '../errors.js';
import type { ModelFile } from '../model/safetensors.js';
import { SAMPLINGS, type EpochMetrics, type Sampling } from '../train/fit.js';
import { SCHEDULES, type Schedule } from '../train/schedules.js';
import type { TrainOptionName, TrainOptions } from './specs.js';
import type { TrainSettings } from './setup.js';

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

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isCount = (value: unknown, min = 0): value is number => Number.isInteger(value) && (value as number) >= min;
const isFiniteAtLeast = (value: unknown, min: number): value is number => typeof value === 'number' && Number.isFinite(value) && value >= min;
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
    (value.schedule === undefined || (isObject(value.schedule) && (SCHEDULES as readonly unknown[]).includes(value.schedule.name) && isCount(value.schedule.warmup))) &&
    (OPTIMIZERS as readonly unknown[]).includes(optimizer.name) &&
    isFiniteAtLeast(optimizer.momentum, 0) &&
    isFiniteAtLeast(optimizer.weightDecay, 0)
  );
}

function validPreprocessing(value: unknown, inputs: number): value is Preprocessing {
  if (!isObject(value)) return false;
  if (value.kind === 'idx') return isFiniteAtLeast(value.scale, 0);
  const numbers = (v: unknown): boolean => Array.isArray(v) && v.length === inputs && v.every((n) => typeof n === 'number' && Number.isFinite(n));
  return (
    value.kind === 'csv' &&
    numbers(value.shift) &&
    numbers(value.scale) &&
    Array.isArray(value.features) &&
    (value.classNames === undefined || (Array.isArray(value.classNames) && value.classNames.every((n) => typeof n === 'string')))
  );
}

/** The run information of a model file; a field that is there but malformed is refused in one line. */
export function savedRunOf(file: ModelFile, path: string): SavedRun {
  const { history = [], samplesDone = 0, training, preprocessing } = file.extra;
  const bad = (field: string): DataError => new DataError(`${path}: its metadata field ${field} is not what backprop saves; the file was edited or damaged`);
  if (!validHistory(history)) throw bad('history');
  if (!isCount(samplesDone)) throw bad('samplesDone');
  if (training !== undefined && !validTraining(training)) throw bad('training');
  if (preprocessing !== undefined && !validPreprocessing(preprocessing, file.architecture.sizes[0])) throw bad('preprocessing');
  return { history, samplesDone, training, preprocessing };
}

/**
 * The settings that continue the run saved in `path`: the saved ones, which an option given on the
 * command line may not contradict (it would silently change the run). `--epochs` may extend it.
 */
export function resumedSettings(options: TrainOptions, asked: TrainSettings, file: ModelFile, run: SavedRun, path: string): TrainSettings {
  const { architecture } = file;
  const saved = run.training;
  const conflict = (option: TrainOptionName, given: unknown, had: unknown): UsageError =>
    new UsageError(`--${option} ${String(given)} contradicts ${path}, which was trained with ${String(had)}; leave --${option} out to continue that run`);
  const check = (option: TrainOptionName, given: unknown, had: unknown): void => {
    if (options.given.has(option) && String(given) !== String(had)) throw conflict(option, given, had);
  };
  const hiddenActivations = architecture.activations.slice(0, -1);
  check('hidden', asked.hidden, architecture.sizes.slice(1, -1));
  check('activation', options.activation, hiddenActivations.every((a) => a === hiddenActivations[0]) ? hiddenActivations[0] : hiddenActivations);
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
    throw new UsageError(`--momentum applies to --optimizer momentum, and ${path} was trained with ${saved.optimizer.name}`);
  }
  const schedule = saved.schedule ?? { name: 'constant', warmup: 0 };
  check('schedule', asked.schedule.name, schedule.name);
  check('warmup', asked.schedule.warmup, schedule.warmup);
  check('sampling', asked.sampling, saved.sampling);
  if (options.given.has('shuffle') && saved.sampling !== 'shuffle') throw conflict('shuffle', '', `--sampling ${saved.sampling}`);
  check('limit', asked.limit, saved.limit);
  check('classes', asked.classes, saved.classes);
  check('steps', asked.steps, saved.steps);
  const done = run.history.length;
  const epochs = options.given.has('epochs') ? asked.epochs : saved.epochs;
  if (saved.steps === undefined && epochs <= done) {
    throw new UsageError(`${path} has ${done} epoch${done === 1 ? '' : 's'} done; --epochs ${epochs} would train nothing (give more than ${done})`);
  }
  return {
    ...asked,
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
    dataDir: options.given.has('data') ? asked.dataDir : savedData(saved, path),
  };
}

/** The data folder or file the run trained on, which must still be there. */
function savedData(saved: SavedTraining, path: string): string {
  if (saved.data === undefined) return bundledMnistDir();
  if (!existsSync(saved.data)) throw new DataError(`${path} trained on ${saved.data}, which is not there any more; give --data with the same data`);
  return saved.data;
}
