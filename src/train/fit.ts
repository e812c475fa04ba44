import { Workspace, EVAL_ROWS, type Samples } from '../backends/backend.js';
import { UsageError } from '../errors.js';
import type { Network } from '../model/network.js';
import { Rng } from '../model/rng.js';

export interface EpochMetrics {
  epoch: number;
  epochs: number;
  trainAccuracy: number;
  trainError: number;
  valAccuracy?: number;
  valError?: number;
  /** Training only, as the seed measures it. */
  trainSeconds: number;
  /** Evaluating the train and validation sets after the epoch. */
  evalSeconds: number;
}

export interface FitOptions {
  validation?: Samples;
  /** Default 100, as in the seed. */
  batchSize?: number;
  /** Default 0.1, as in the seed. */
  learningRate?: number;
  /** Default 20, as in the seed. */
  epochs?: number;
  /** Reshuffle the training samples every epoch; by default they are taken in order, like the seed. */
  shuffle?: boolean;
  /** Seeds the shuffle (the weights are seeded by `Network.initWeights`). */
  seed?: number;
  onEpoch?: (metrics: EpochMetrics) => void;
  /** Called about 50 times an epoch while it trains. */
  onProgress?: (progress: Progress) => void;
}

export interface Progress {
  epoch: number;
  epochs: number;
  samplesDone: number;
  samples: number;
}

export interface FitResult {
  history: EpochMetrics[];
  /** Seconds spent training, evaluation excluded. */
  trainSeconds: number;
  /** Seconds spent in `fit`, evaluation included. */
  totalSeconds: number;
}

/** The order in which epoch `epoch` visits the samples when shuffling: a function of seed and epoch only. */
export function shuffledOrder(count: number, seed: number, epoch: number): Uint32Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  new Rng((seed ^ Math.imul(epoch, 0x9e3779b9)) >>> 0).shuffle(order);
  return order;
}

/**
 * Minibatch SGD over `train` for a number of epochs (the seed's `NN.fit`), evaluating accuracy and
 * error on the training and validation data after every epoch.
 */
export async function fit(net: Network, train: Samples, options: FitOptions = {}): Promise<FitResult> {
  const { validation, batchSize = 100, learningRate = 0.1, epochs = 20, shuffle = false, seed = 1, onEpoch, onProgress } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`batch size must be a positive integer, got ${batchSize}`);
  if (batchSize > train.count) {
    throw new UsageError(`batch size ${batchSize} is larger than the training set (${train.count} samples)`);
  }
  const started = performance.now();
  const ws = new Workspace(net.sizes, Math.max(batchSize, EVAL_ROWS));
  const history: EpochMetrics[] = [];
  let trainSeconds = 0;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const order = shuffle ? shuffledOrder(train.count, seed, epoch) : null;
    const epochStart = performance.now();
    const progress = onProgress && ((samplesDone: number) => onProgress({ epoch, epochs, samplesDone, samples: train.count }));
    await net.backend.trainEpoch(net, train, { batchSize, learningRate, order, onProgress: progress }, ws);
    const evalStart = performance.now();
    const onTrain = await net.backend.evaluate(net, train, ws);
    const onValidation = validation ? await net.backend.evaluate(net, validation, ws) : undefined;
    const metrics: EpochMetrics = {
      epoch,
      epochs,
      trainAccuracy: onTrain.accuracy,
      trainError: onTrain.error,
      valAccuracy: onValidation?.accuracy,
      valError: onValidation?.error,
      trainSeconds: (evalStart - epochStart) / 1000,
      evalSeconds: (performance.now() - evalStart) / 1000,
    };
    trainSeconds += metrics.trainSeconds;
    history.push(metrics);
    onEpoch?.(metrics);
  }
  return { history, trainSeconds, totalSeconds: (performance.now() - started) / 1000 };
}
