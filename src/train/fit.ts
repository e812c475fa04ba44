import { DIVERGED, OPTIMIZERS, OptimizerState, sgd, Workspace, EVAL_ROWS, type OptimizerSettings, type Samples } from '../backends/backend.js';
import { UsageError } from '../errors.js';
import type { Network } from '../model/network.js';
import { Rng } from '../model/rng.js';

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
}

/** Where a run stopped early. */
export interface Interruption {
  /** `diverged`: the error became NaN or infinite (the weights are not worth keeping). */
  reason: 'stopped' | 'patience' | 'diverged';
  /** The epoch in progress (stopped) or the last one completed (patience). */
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
}

/** The order in which epoch `epoch` visits `count` samples: a function of seed and epoch only. */
export function sampleOrder(sampling: Sampling, count: number, length: number, seed: number, epoch: number): Uint32Array | null {
  const rng = new Rng((seed ^ Math.imul(epoch, 0x9e3779b9)) >>> 0);
  if (sampling === 'random') return Uint32Array.from({ length }, () => rng.below(count));
  if (sampling === 'order') return length === count ? null : Uint32Array.from({ length }, (_, i) => i);
  const order = Uint32Array.from({ length: count }, (_, i) => i);
  rng.shuffle(order);
  return order.subarray(0, length);
}

function optimizerSettings(learningRate: number, overrides: FitOptions['optimizer'] = {}): OptimizerSettings {
  const settings = { ...sgd(learningRate), ...overrides };
  if (!(OPTIMIZERS as readonly string[]).includes(settings.name)) throw new UsageError(`unknown optimizer '${settings.name}'`);
  return settings;
}

/**
 * Minibatch training over `train` for a number of epochs or steps (the seed's `NN.fit`), evaluating
 * the error (and accuracy, with labels) on the training and validation data after every epoch.
 */
export async function fit(net: Network, train: Samples, options: FitOptions = {}): Promise<FitResult> {
  const { batchSize = 100, learningRate = 0.1, epochs = 20, steps } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`batch size must be a positive integer, got ${batchSize}`);
  if (batchSize > train.count) {
    throw new UsageError(`batch size ${batchSize} is larger than the training set (${train.count} samples)`);
  }
  const optimizer = optimizerSettings(learningRate, options.optimizer);
  const started = performance.now();
  const ws = new Workspace(net.sizes, Math.max(batchSize, EVAL_ROWS), net.bias);
  const state = options.state ?? new OptimizerState(net.parameterCount, optimizer.name);
  const stepsPerEpoch = Math.ceil(train.count / batchSize);
  const totalEpochs = steps === undefined ? epochs : Math.ceil(steps / stepsPerEpoch);
  const history: EpochMetrics[] = [...(options.resume?.history ?? [])];
  const stop = options.stop ?? new Int32Array(new SharedArrayBuffer(4));
  const abort = (): void => void (stop[0] = 1);
  if (options.signal?.aborted) abort();
  options.signal?.addEventListener('abort', abort);
  try {
    return await epochsOf(net, train, options, { optimizer, ws, state, stepsPerEpoch, totalEpochs, history, stop, started });
  } finally {
    options.signal?.removeEventListener('abort', abort);
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

async function epochsOf(net: Network, train: Samples, options: FitOptions, run: RunState): Promise<FitResult> {
  const { validation, batchSize = 100, steps, sampling = 'order', seed = 1, onEpoch, onProgress } = options;
  const { optimizer, ws, state, stepsPerEpoch, totalEpochs, history, stop, started } = run;
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
  for (let epoch = history.length + 1; epoch <= totalEpochs; epoch++) {
    const epochSteps = steps === undefined ? stepsPerEpoch : Math.min(stepsPerEpoch, steps - (epoch - 1) * stepsPerEpoch);
    const samples = Math.min(train.count, epochSteps * batchSize);
    const order = sampleOrder(sampling, train.count, samples, seed, epoch);
    const progress =
      onProgress &&
      ((samplesDone: number, errorSum: number) =>
        onProgress({ epoch, epochs: totalEpochs, samplesDone, samples, runningError: errorSum / Math.max(1, samplesDone - start) }));
    const epochStart = performance.now();
    const start = resumeAt;
    resumeAt = 0;
    const reached = await net.backend.trainEpoch(net, train, { batchSize, optimizer, state, order, onProgress: progress, start, stop }, ws);
    trainSeconds += (performance.now() - epochStart) / 1000;
    const ended = (reason: Interruption['reason'], samplesDone: number): FitResult => ({
      history,
      trainSeconds,
      totalSeconds: (performance.now() - started) / 1000,
      interrupted: { reason, epoch, samplesDone },
    });
    if (stop[0] === DIVERGED) return ended('diverged', reached);
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
    if (options.patience !== undefined && sinceBest >= options.patience && epoch < totalEpochs) return ended('patience', 0);
  }
  return { history, trainSeconds, totalSeconds: (performance.now() - started) / 1000 };
}
