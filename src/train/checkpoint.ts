import { optimizerDefaults, OptimizerState, type Backend, type OptimizerName } from '../backends/backend.js';
import { DELIMITER_NAMES, NORMALIZATIONS, type DelimiterName, type Normalization } from '../data/csv.js';
import { isPreprocessing, type Preprocessing } from '../data/preprocessing.js';
import { DataError } from '../errors.js';
import { architectureOf, networkFromFile, type Network } from '../model/network.js';
import type { ModelFile } from '../model/safetensors.js';
import { FIT_DEFAULTS, type EpochMetrics, type FitResult, type FitSettings } from './fit.js';
import { givenSetting, settingOf, TRAINING_SETTINGS, validSettings, withSetting } from './settings.js';

/**
 * Checkpoints: a run saved so that it continues exactly, by the library or by `backprop train`
 * (either reads the other's). The model file holds the weights, the optimizer state, the settings
 * the run trained with, its history and how far into the next epoch it got.
 */

/**
 * How a run trained, as its checkpoint saves it: enough to continue it exactly. The library saves
 * the fit settings and the hidden sizes; `backprop train` adds where its data came from.
 */
export type SavedTraining = FitSettings &
  Required<Pick<FitSettings, keyof typeof FIT_DEFAULTS>> & {
    /** β1, β2 and ε only when they were not the defaults (files saved by `backprop train` never hold them). */
    optimizer: {
      name: OptimizerName;
      momentum: number;
      weightDecay: number;
      beta1?: number;
      beta2?: number;
      epsilon?: number;
    };
    hidden: number[];
    /** Absent for the bundled MNIST (its folder differs between installs). */
    data?: string;
    limit?: number;
    classes?: number;
    /** How a CSV file was read (absent for IDX data, and in files saved before it was kept). */
    csv?: SavedCsv;
    /** The share of an IDX training set held out for validation (a CSV file's is in `csv`). */
    valSplit?: number;
  };

/** The options that read a CSV file, as saved. */
export interface SavedCsv {
  target?: string[];
  normalize?: Normalization;
  valSplit?: number;
  delimiter?: DelimiterName;
}

/** Everything a checkpoint keeps in a model file besides the tensors, checked. */
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
  return (
    isObject(value) &&
    validSettings(value) &&
    Array.isArray(value.hidden) &&
    value.hidden.every((n) => isCount(n, 1)) &&
    (value.data === undefined || typeof value.data === 'string') &&
    (value.valSplit === undefined || validShare(value.valSplit)) &&
    (value.csv === undefined || validCsv(value.csv))
  );
}

const validShare = (value: unknown): boolean => typeof value === 'number' && value > 0 && value < 1;

function validCsv(value: unknown): value is SavedCsv {
  return (
    isObject(value) &&
    (value.target === undefined || (Array.isArray(value.target) && value.target.every((t) => typeof t === 'string'))) &&
    (value.normalize === undefined || (NORMALIZATIONS as readonly unknown[]).includes(value.normalize)) &&
    (value.valSplit === undefined || validShare(value.valSplit)) &&
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

const FIT_SETTINGS = TRAINING_SETTINGS.filter((setting) => !setting.dataOnly);

/** The settings of `options` as a checkpoint saves them, the defaults filled in. */
export function savedTrainingOf(net: Network, options: FitSettings): SavedTraining {
  const learningRate = options.learningRate ?? FIT_DEFAULTS.learningRate;
  const { beta1, beta2, epsilon } = options.optimizer ?? {};
  const { name, momentum, weightDecay } = optimizerDefaults(
    options.optimizer?.name ?? 'sgd',
    learningRate,
    options.optimizer,
  );
  const given = { ...options, optimizer: { name, momentum, weightDecay, beta1, beta2, epsilon } };
  const defaults: Partial<Record<string, unknown>> = FIT_DEFAULTS;
  const saved = FIT_SETTINGS.reduce<FitSettings>(
    (training, setting) => withSetting(training, setting, givenSetting(given, setting) ?? defaults[setting.path[0]]),
    {},
  );
  return { ...saved, hidden: net.sizes.slice(1, -1) } as SavedTraining;
}

/** The fit settings held in `settings`: a checkpoint's saved training, or the command line's. */
export function fitSettingsOf(settings: object): FitSettings {
  return FIT_SETTINGS.reduce<FitSettings>(
    (options, setting) => withSetting(options, setting, settingOf(settings, setting)),
    {},
  );
}

/** Where a run is: what `fit` returned, or the history and samples into the next epoch of a run in progress. */
export type RunPoint = Pick<FitResult, 'history' | 'interrupted'>;

/**
 * The model file of a checkpoint: `net` with `state`, trained by `training`, at `point` (stopped
 * part-way through an epoch, or after its last). `extra` adds to the metadata.
 */
export function checkpointOf(
  net: Network,
  state: OptimizerState,
  training: SavedTraining,
  point: RunPoint,
  extra: { preprocessing?: Preprocessing } = {},
): ModelFile {
  // A run that stopped part-way is resumed there; patience and divergence end it after a whole epoch.
  const samplesDone = point.interrupted?.reason === 'stopped' ? point.interrupted.samplesDone : 0;
  return {
    architecture: architectureOf(net),
    params: net.params,
    optimizer: { first: state.first, second: state.second, scalars: Array.from(state.scalars) },
    extra: { history: point.history, samplesDone, training, ...extra } satisfies SavedRun,
  };
}

/** The network of a checkpoint on `backend`, and its state of the optimizer `name`. */
export function restoreRun(
  file: ModelFile,
  name: OptimizerName,
  backend: Backend,
  path: string,
): { net: Network; state: OptimizerState } {
  const net = networkFromFile(file.architecture, file.params, backend);
  if (!file.optimizer)
    throw new DataError(`${path} holds no optimizer state: it is a model, not a checkpoint to resume`);
  const state = new OptimizerState(net.parameterCount, name, backend.memory);
  if (state.first.length !== file.optimizer.first.length || state.second.length !== file.optimizer.second.length) {
    throw new DataError(`${path}: its optimizer state does not fit the model`);
  }
  state.first.set(file.optimizer.first);
  state.second.set(file.optimizer.second);
  state.scalars.set(file.optimizer.scalars);
  return { net, state };
}
