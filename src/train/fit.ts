import {
  DIVERGED,
  OPTIMIZERS,
  OptimizerState,
  optimizerDefaults,
  Workspace,
  EVAL_ROWS,
  type OptimizerSettings,
  type Samples,
} from '../backends/backend.js';
import type { Network } from '../model/network.js';
import { Rng } from '../model/rng.js';
import type { Memory } from '../memory.js';
import { learningRateAt, SCHEDULES, type Schedule } from './schedules.js';
import { augmentationParams, fieldBank, type Augmentation } from './augmentation.js';
import type { Dataset } from '../data/dataset.js';

export interface EpochMetrics {
  epoch: number;
  epochs: number;
  /** SGD steps (batches) taken so far. */
  steps: number;
  /** Only when the data have class labels. */
  trainAccuracy?: number;
  trainError: number;
  valAccuracy?: number;
  valError?: number;
  /** Training only, as the seed measures it. */
  trainSeconds: number;
  /** Evaluating the train and validation sets after the epoch. */
  evalSeconds: number;
}

/**
 * How each epoch visits the training samples: `order` (0, 1, 2, …, like the seed), `shuffle` (a new
 * permutation every epoch), or `random` (draws with replacement, the tutorial's "one randomly chosen
 * training vector per step").
 */
export const SAMPLINGS = ['order', 'shuffle', 'random'] as const;
export type Sampling = (typeof SAMPLINGS)[number];

/** The seed's training defaults, for the library and the command line alike. */
export const FIT_DEFAULTS = { batchSize: 100, learningRate: 0.1, epochs: 20, seed: 1, sampling: 'order' } as const;

export interface FitOptions {
  validation?: Samples;
  /** Default 100, as in the seed. */
  batchSize?: number;
  /** Default 0.1, as in the seed. */
  learningRate?: number;
  /** Default plain SGD, as in the seed. */
  optimizer?: Partial<Omit<OptimizerSettings, 'learningRate'>>;
  /** Default 20, as in the seed. */
  epochs?: number;
  /** Train this many SGD steps in all instead of whole epochs (the last epoch is cut short). */
  steps?: number;
  /** Default `order`. */
  sampling?: Sampling;
  /** Seeds the sampling (the weights are seeded by `Network.initWeights`). */
  seed?: number;
  /** Varies the learning rate over the run (default: constant, no warm-up). */
  schedule?: Schedule;
  onEpoch?: (metrics: EpochMetrics) => void;
  /** Called about 50 times an epoch while it trains. */
  onProgress?: (progress: Progress) => void;
  /** Stop when the validation error (the training error without validation data) has not improved for this many epochs. */
  patience?: number;
  /** Checked after every batch: non-zero stops training there (for Ctrl-C). */
  stop?: Int32Array;
  /** Aborting it stops training after the current batch; `fit` then resolves with `interrupted`. */
  signal?: AbortSignal;
  /** The optimizer's state, to keep (for checkpoints) or to resume from; a fresh one by default. */
  state?: OptimizerState;
  /** Continue a run that stopped at this point: the epochs it completed and the samples into the next. */
  resume?: { history: EpochMetrics[]; samplesDone: number };
  /**
   * Distort the training images anew each epoch (image data: bytes with a `shape`); the training
   * figures are still measured on the images as they are.
   */
  augment?: Augmentation;
}

/**
 * The options that say how a run trains — a row each of TRAINING_SETTINGS, what a checkpoint saves —
 * as against those that feed, watch or stop it.
 */
export type FitSettings = Omit<
  FitOptions,
  'validation' | 'onEpoch' | 'onProgress' | 'patience' | 'stop' | 'signal' | 'state' | 'resume'
>;

/** Where a run stopped early. */
export interface Interruption {
  /** `diverged`: the error became NaN or infinite (the weights are not worth keeping). */
  reason: 'stopped' | 'patience' | 'diverged';
  /** The epoch in progress (stopped; with no samples done, the one about to begin) or the last one completed (patience). */
  epoch: number;
  /** Samples into that epoch (0 after a completed epoch). */
  samplesDone: number;
}

export interface Progress {
  epoch: number;
  epochs: number;
  samplesDone: number;
  samples: number;
  /** The mean error of the epoch's batches so far, each measured before its step. */
  runningError: number;
}

export interface FitResult {
  history: EpochMetrics[];
  interrupted?: Interruption;
  /** Seconds spent training, evaluation excluded. */
  trainSeconds: number;
  /** Seconds spent in `fit`, evaluation included. */
  totalSeconds: number;
  /** The optimizer's state at the end (`options.state`, or the one `fit` made): for a checkpoint. */
  state: OptimizerState;
}

/** Epoch e's distorted copy of the training images, in one buffer that every epoch rewrites. */
function augmenter(
  net: Network,
  train: Samples,
  spec: Augmentation,
  seed: number,
): (epoch: number) => Promise<Samples> {
  const [rows, cols] = (train as Partial<Dataset>).shape!;
  const bank = fieldBank(spec, rows, cols, seed);
  const out = net.backend.memory.uint8(train.x.length);
  return async (epoch) => {
    const params = augmentationParams(spec, train.count, seed, epoch);
    await net.backend.augment({ images: train.x as Uint8Array, count: train.count, rows, cols, params, bank, out });
    return { ...train, x: out };
  };
}

/** The order in which epoch `epoch` visits `count` samples: a function of seed and epoch only. */
export function sampleOrder(
  sampling: Sampling,
  count: number,
  length: number,
  seed: number,
  epoch: number,
): Uint32Array | null {
  const rng = new Rng((seed ^ Math.imul(epoch, 0x9e3779b9)) >>> 0);
  if (sampling === 'random') return Uint32Array.from({ length }, () => rng.below(count));
  if (sampling === 'order') return length === count ? null : Uint32Array.from({ length }, (_, i) => i);
  const order = Uint32Array.from({ length: count }, (_, i) => i);
  rng.shuffle(order);
  return order.subarray(0, length);
}

function optimizerSettings(learningRate: number, overrides: FitOptions['optimizer'] = {}): OptimizerSettings {
  const name = overrides.name ?? 'sgd';
  if (!(OPTIMIZERS as readonly string[]).includes(name)) {
    throw new RangeError(`fit: optimizer.name must be one of ${OPTIMIZERS.join(', ')}, got '${String(name)}'`);
  }
  const settings = optimizerDefaults(name, learningRate, overrides);
  const check = (name: string, value: number, min: number, below?: number): void => {
    if (
      typeof value !== 'number' ||
      !Number.isFinite(value) ||
      value < min ||
      (below !== undefined && value >= below)
    ) {
      throw new RangeError(
        `fit: optimizer.${name} must be a number from ${min}${below === undefined ? '' : ` to below ${below}`}, got ${String(value)}`,
      );
    }
  };
  check('momentum', settings.momentum, 0);
  check('weightDecay', settings.weightDecay, 0);
  check('beta1', settings.beta1, 0, 1);
  check('beta2', settings.beta2, 0, 1);
  check('epsilon', settings.epsilon, Number.MIN_VALUE);
  return settings;
}

/** Every field of FitOptions, and of its optimizer: a key not among them is a typo (`learningrate`), refused. */
const FIT_KEYS = new Set<string>([
  'validation',
  'augment',
  'batchSize',
  'learningRate',
  'optimizer',
  'epochs',
  'steps',
  'sampling',
  'seed',
  'schedule',
  'onEpoch',
  'onProgress',
  'patience',
  'stop',
  'signal',
  'state',
  'resume',
] satisfies (keyof FitOptions)[]);
const OPTIMIZER_KEYS = new Set<string>([
  'name',
  'momentum',
  'beta1',
  'beta2',
  'epsilon',
  'weightDecay',
] satisfies (keyof NonNullable<FitOptions['optimizer']>)[]);

function refuseUnknownKeys(object: object, known: Set<string>, where: string): void {
  const unknown = Object.keys(object).find((key) => !known.has(key));
  if (unknown === undefined) return;
  const close = [...known].find((key) => key.toLowerCase() === unknown.toLowerCase());
  throw new TypeError(
    `fit: ${where}${unknown} is not an option${close ? ` (did you mean ${where}${close}?)` : ` (the options: ${[...known].join(', ')})`}`,
  );
}

/** Refuses options that are not what `fit` documents, naming the field (TypeError or RangeError). */
function checkOptions(options: FitOptions): void {
  refuseUnknownKeys(options, FIT_KEYS, '');
  if (options.optimizer) refuseUnknownKeys(options.optimizer, OPTIMIZER_KEYS, 'optimizer.');
  const integer = (
    name: 'batchSize' | 'epochs' | 'steps' | 'patience' | 'seed',
    min: number,
    max = Number.MAX_SAFE_INTEGER,
  ): void => {
    const value = options[name];
    if (value === undefined) return;
    if (typeof value !== 'number') throw new TypeError(`fit: ${name} must be a number, got ${typeof value}`);
    if (!Number.isInteger(value) || value < min || value > max)
      throw new RangeError(`fit: ${name} must be a whole number from ${min} to ${max}, got ${value}`);
  };
  integer('batchSize', 1);
  integer('epochs', 1);
  integer('steps', 1);
  integer('patience', 1);
  integer('seed', 0, 2 ** 32 - 1);
  const { learningRate } = options;
  if (
    learningRate !== undefined &&
    !(typeof learningRate === 'number' && Number.isFinite(learningRate) && Math.fround(learningRate) > 0)
  ) {
    throw new RangeError(
      `fit: learningRate must be a positive finite number that float32 can hold (at least 1.4e-45), got ${String(learningRate)}`,
    );
  }
  const { schedule } = options;
  if (schedule !== undefined) {
    if (!(SCHEDULES as readonly string[]).includes(schedule.name))
      throw new RangeError(`fit: schedule.name must be one of ${SCHEDULES.join(', ')}, got '${String(schedule.name)}'`);
    if (!Number.isInteger(schedule.warmup) || schedule.warmup < 0)
      throw new RangeError(
        `fit: schedule.warmup must be a whole number of steps from 0, got ${String(schedule.warmup)}`,
      );
  }
  if (options.sampling !== undefined && !(SAMPLINGS as readonly string[]).includes(options.sampling)) {
    throw new RangeError(`fit: sampling must be one of ${SAMPLINGS.join(', ')}, got '${String(options.sampling)}'`);
  }
  for (const name of ['onEpoch', 'onProgress'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function')
      throw new TypeError(`fit: ${name} must be a function`);
  }
}

/** Refuses samples a network cannot train on: wrong lengths, missing or out-of-range labels, NaN or infinite values. */
/** Augmentation warps images: bytes with a shape of rows × cols. */
function checkImages(train: Samples): void {
  const shape = (train as Partial<Dataset>).shape;
  if (!(train.x instanceof Uint8Array) || !shape || shape[0] * shape[1] * train.count !== train.x.length)
    throw new RangeError('fit: augment needs images: train.x of bytes and train.shape [rows, cols] (an IDX set)');
}

function checkSamples(net: Network, data: Samples, name: string): void {
  const inputs = net.sizes[0];
  const outputs = net.sizes[net.sizes.length - 1];
  const { x } = data;
  if (!(x instanceof Float32Array || x instanceof Uint8Array))
    throw new TypeError(`fit: ${name}.x must be a Float32Array (or a Uint8Array of pixels)`);
  if (!Number.isInteger(data.count) || data.count < 1 || x.length < data.count * inputs) {
    throw new RangeError(
      `fit: ${name} must hold count (${data.count}) rows of ${inputs} features in x (${x.length} values)`,
    );
  }
  // Bytes are always finite. Floats get one quick pass (NaN and ±∞ times 0 are NaN, every finite
  // value gives 0), and only if that finds something, a second to say where.
  let probe = 0;
  if (x instanceof Float32Array) for (let i = 0; i < data.count * inputs; i++) probe += x[i] * 0;
  if (probe !== 0) {
    const i = x.findIndex((v) => !Number.isFinite(v));
    throw new RangeError(
      `fit: ${name}.x holds ${x[i]} at sample ${Math.floor(i / inputs)}, feature ${i % inputs}; inputs must be finite numbers`,
    );
  }
  if (net.loss === 'mse' && data.targets) {
    for (let i = 0; i < data.count * outputs; i++) {
      if (!Number.isFinite(data.targets[i]))
        throw new RangeError(`fit: ${name}.targets holds ${data.targets[i]} at sample ${Math.floor(i / outputs)}`);
    }
    return;
  }
  if (!data.labels)
    throw new TypeError(
      `fit: ${name}.labels is needed for the ${net.loss} error${net.loss === 'mse' ? ' (or targets)' : ''}`,
    );
  for (let i = 0; i < data.count; i++) {
    if (data.labels[i] >= outputs)
      throw new RangeError(`fit: ${name}.labels[${i}] is ${data.labels[i]}, but the network has ${outputs} outputs`);
  }
}

/** The learning rate of each of an epoch's `count` steps, the first of which is step `first` of the run. */
function scheduledRates(
  memory: Memory,
  base: number,
  schedule: Schedule,
  first: number,
  count: number,
  totalSteps: number,
): Float32Array {
  const rates = memory.float32(count);
  for (let b = 0; b < count; b++) rates[b] = learningRateAt(base, schedule, first + b, totalSteps);
  return rates;
}

/** Networks that a `fit` is training now: a second call on the same weights would interleave their steps. */
const training = new WeakSet<Network>();

/**
 * Minibatch training over `train` for a number of epochs or steps (the seed's `NN.fit`), evaluating
 * the error (and accuracy, with labels) on the training and validation data after every epoch.
 * Options and samples are checked first (TypeError or RangeError naming the field); an exception in
 * a callback stops training and rejects the promise with it.
 */
export async function fit(net: Network, train: Samples, options: FitOptions = {}): Promise<FitResult> {
  checkOptions(options);
  const {
    batchSize = FIT_DEFAULTS.batchSize,
    learningRate = FIT_DEFAULTS.learningRate,
    epochs = FIT_DEFAULTS.epochs,
    steps,
  } = options;
  const optimizer = optimizerSettings(learningRate, options.optimizer);
  checkSamples(net, train, 'train');
  if (batchSize > train.count)
    throw new RangeError(`fit: batch size ${batchSize} is larger than the training set (${train.count} samples)`);
  if (options.validation) checkSamples(net, options.validation, 'validation');
  if (options.augment) checkImages(train);
  if (training.has(net))
    throw new Error('fit: this network is being trained by another fit call; await that one first');
  training.add(net);
  try {
    const started = performance.now();
    const ws = Workspace.of(net, Math.max(batchSize, EVAL_ROWS));
    const state = options.state ?? new OptimizerState(net.parameterCount, optimizer.name, net.backend.memory);
    const stepsPerEpoch = Math.ceil(train.count / batchSize);
    const totalEpochs = steps === undefined ? epochs : Math.ceil(steps / stepsPerEpoch);
    const history: EpochMetrics[] = [...(options.resume?.history ?? [])];
    const stop = options.stop ?? net.backend.memory.int32(1);
    const abort = (): void => void (stop[0] = 1);
    if (options.signal?.aborted) abort();
    options.signal?.addEventListener('abort', abort);
    try {
      const result = await epochsOf(net, train, options, {
        optimizer,
        ws,
        state,
        stepsPerEpoch,
        totalEpochs,
        history,
        stop,
        started,
      });
      return { ...result, state };
    } finally {
      options.signal?.removeEventListener('abort', abort);
    }
  } finally {
    training.delete(net);
  }
}

interface RunState {
  optimizer: OptimizerSettings;
  ws: Workspace;
  state: OptimizerState;
  stepsPerEpoch: number;
  totalEpochs: number;
  history: EpochMetrics[];
  stop: Int32Array;
  started: number;
}

async function epochsOf(
  net: Network,
  train: Samples,
  options: FitOptions,
  run: RunState,
): Promise<Omit<FitResult, 'state'>> {
  const {
    validation,
    batchSize = FIT_DEFAULTS.batchSize,
    steps,
    sampling = FIT_DEFAULTS.sampling,
    seed = FIT_DEFAULTS.seed,
    onEpoch,
    onProgress,
  } = options;
  const { optimizer, ws, state, stepsPerEpoch, totalEpochs, history, stop, started } = run;
  const schedule =
    options.schedule && (options.schedule.name !== 'constant' || options.schedule.warmup > 0)
      ? options.schedule
      : undefined;
  const totalSteps = steps ?? totalEpochs * stepsPerEpoch;
  let trainSeconds = 0;
  let stepsDone = history.at(-1)?.steps ?? 0;
  let resumeAt = options.resume?.samplesDone ?? 0;
  // The best error so far (validation, else training) and the epochs since it, for --patience.
  let best = Infinity;
  let sinceBest = 0;
  const track = (m: EpochMetrics): void => {
    const error = m.valError ?? m.trainError;
    [best, sinceBest] = error < best ? [error, 0] : [best, sinceBest + 1];
  };
  history.forEach(track);
  const augmented = options.augment && augmenter(net, train, options.augment, seed);
  // A callback that throws stops the epoch after its batch; `fit` then rejects with its error.
  let callbackError: { error: unknown } | undefined;
  const guarded =
    <A extends unknown[]>(callback: (...args: A) => void) =>
    (...args: A): void => {
      if (callbackError) return;
      try {
        callback(...args);
      } catch (error) {
        callbackError = { error };
        stop[0] = 1;
      }
    };
  for (let epoch = history.length + 1; epoch <= totalEpochs; epoch++) {
    const epochSteps =
      steps === undefined ? stepsPerEpoch : Math.min(stepsPerEpoch, steps - (epoch - 1) * stepsPerEpoch);
    const samples = Math.min(train.count, epochSteps * batchSize);
    const order = sampleOrder(sampling, train.count, samples, seed, epoch);
    const progress =
      onProgress &&
      ((samplesDone: number, errorSum: number) =>
        onProgress({
          epoch,
          epochs: totalEpochs,
          samplesDone,
          samples,
          runningError: errorSum / Math.max(1, samplesDone - start),
        }));
    const epochStart = performance.now();
    const start = resumeAt;
    resumeAt = 0;
    const ended = (reason: Interruption['reason'], samplesDone: number): Omit<FitResult, 'state'> => ({
      history,
      trainSeconds,
      totalSeconds: (performance.now() - started) / 1000,
      interrupted: { reason, epoch, samplesDone },
    });
    // Stopped (or aborted) before this epoch began: not one more batch.
    if (stop[0] !== 0) return ended('stopped', start);
    const learningRates =
      schedule &&
      scheduledRates(
        net.backend.memory,
        optimizer.learningRate,
        schedule,
        (epoch - 1) * stepsPerEpoch,
        epochSteps,
        totalSteps,
      );
    const reached = await net.backend.trainEpoch(
      net,
      augmented ? await augmented(epoch) : train,
      {
        batchSize,
        optimizer,
        state,
        order,
        onProgress: progress && guarded(progress),
        start,
        stop,
        learningRates,
        noiseSeed: seed,
      },
      ws,
    );
    trainSeconds += (performance.now() - epochStart) / 1000;
    if (callbackError) throw callbackError.error;
    // (Read through Atomics: the backend wrote it, which the type checker cannot see.)
    if (Atomics.load(stop, 0) === DIVERGED) return ended('diverged', reached);
    if (reached < samples) return ended('stopped', reached);
    stepsDone = (epoch - 1) * stepsPerEpoch + epochSteps;
    const evalStart = performance.now();
    const onTrain = await net.backend.evaluate(net, train, ws);
    // Weights that went infinite without a NaN error yet show here.
    if (!Number.isFinite(onTrain.error)) return ended('diverged', reached);
    const onValidation = validation ? await net.backend.evaluate(net, validation, ws) : undefined;
    const metrics: EpochMetrics = {
      epoch,
      epochs: totalEpochs,
      steps: stepsDone,
      trainAccuracy: onTrain.accuracy,
      trainError: onTrain.error,
      valAccuracy: onValidation?.accuracy,
      valError: onValidation?.error,
      trainSeconds: (evalStart - epochStart) / 1000,
      evalSeconds: (performance.now() - evalStart) / 1000,
    };
    history.push(metrics);
    onEpoch?.(metrics);
    track(metrics);
    // A stop during the evaluation: the epoch is complete, and the next has not begun.
    if (stop[0] !== 0)
      return { ...ended('stopped', 0), interrupted: { reason: 'stopped', epoch: epoch + 1, samplesDone: 0 } };
    if (options.patience !== undefined && sinceBest >= options.patience && epoch < totalEpochs)
      return ended('patience', 0);
  }
  return { history, trainSeconds, totalSeconds: (performance.now() - started) / 1000 };
}
