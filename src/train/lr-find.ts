import { optimizerDefaults, OptimizerState, Workspace, type OptimizerSettings } from '../backends/backend.js';
import type { Dataset } from '../data/dataset.js';
import type { Network } from '../model/network.js';
import { FIT_DEFAULTS, sampleOrder, type Sampling } from './fit.js';

/**
 * fastai's learning-rate finder: a short run whose learning rate grows exponentially from `start`
 * to `end` over `steps` batches, recording each batch's loss, stopped when the loss diverges (Smith
 * 2015, "Cyclical learning rates"; fastai's `lr_find`). The suggestion is fastai's default, the
 * valley: a rate well inside the longest stretch over which the smoothed loss keeps falling.
 */
export interface LrFindOptions {
  /** Default 1e-7, as fastai's. */
  start?: number;
  /** Default 10. */
  end?: number;
  /** Default 100. */
  steps?: number;
  batchSize?: number;
  optimizer?: Partial<Omit<OptimizerSettings, 'learningRate'>>;
  /** Default shuffle: the batches are the first of a shuffled epoch. */
  sampling?: Sampling;
  seed?: number;
}

export interface LrPoint {
  learningRate: number;
  /** The batch's mean error, before its step. */
  loss: number;
  /** The losses so far, exponentially averaged (β = 0.98) with fastai's bias correction. */
  smoothed: number;
}

export interface LrFindResult {
  points: LrPoint[];
  /** The loss became more than 4× its lowest (or not finite) before `end` was reached. */
  diverged: boolean;
  /** The rate of the lowest smoothed loss. */
  minimum: number;
  /** The rate where the smoothed loss falls fastest against log(rate). */
  steepest: number;
  /** What to train with: the valley's rate. */
  suggestion: number;
}

const SMOOTHING = 0.98;
const SKIP_START = 10;
const SKIP_END = 5;
const DIVERGENCE = 4;

/** The sample of every visit of `visits`: epochs of `sampling` one after another. */
function visitOrder(sampling: Sampling, count: number, visits: number, seed: number): Uint32Array {
  const order = new Uint32Array(visits);
  for (let at = 0, epoch = 1; at < visits; epoch++) {
    const epochOrder =
      sampleOrder(sampling, count, count, seed, epoch) ?? Uint32Array.from({ length: count }, (_, i) => i);
    const part = epochOrder.subarray(0, Math.min(count, visits - at));
    order.set(part, at);
    at += part.length;
  }
  return order;
}

/** Trains `net` for the probe (its weights are the probe's afterwards: start from a copy to keep them). */
export async function findLearningRate(
  net: Network,
  train: Dataset,
  options: LrFindOptions = {},
): Promise<LrFindResult> {
  const { start = 1e-7, end = 10, steps = 100, sampling = 'shuffle', seed = FIT_DEFAULTS.seed } = options;
  const batchSize = options.batchSize ?? FIT_DEFAULTS.batchSize;
  if (!(start > 0 && end > start))
    throw new RangeError(`findLearningRate: needs 0 < start < end, got ${start} and ${end}`);
  if (!(Number.isInteger(steps) && steps >= 2))
    throw new RangeError(`findLearningRate: steps must be 2 or more, got ${steps}`);
  if (batchSize > train.count)
    throw new RangeError(
      `findLearningRate: batch size ${batchSize} is larger than the training set (${train.count} samples)`,
    );
  const optimizer = optimizerDefaults(options.optimizer?.name ?? 'sgd', start, options.optimizer);
  const state = new OptimizerState(net.parameterCount, optimizer.name, net.backend.memory);
  const ws = Workspace.of(net, batchSize);
  const order = visitOrder(sampling, train.count, steps * batchSize, seed);
  const points: LrPoint[] = [];
  let average = 0;
  let lowest = Infinity;
  let diverged = false;
  for (let step = 0; step < steps; step++) {
    const learningRate = start * (end / start) ** (step / (steps - 1));
    let loss = NaN;
    await net.backend.trainEpoch(
      net,
      train,
      {
        batchSize,
        optimizer: { ...optimizer, learningRate },
        state,
        order: order.subarray(step * batchSize, (step + 1) * batchSize),
        onProgress: (done, errorSum) => (loss = errorSum / done),
        noiseSeed: seed,
      },
      ws,
    );
    average = SMOOTHING * average + (1 - SMOOTHING) * loss;
    const smoothed = average / (1 - SMOOTHING ** (step + 1));
    points.push({ learningRate, loss, smoothed });
    lowest = Math.min(lowest, smoothed);
    if (!Number.isFinite(smoothed) || smoothed > DIVERGENCE * lowest) {
      diverged = true;
      break;
    }
  }
  // As fastai's plot: the first points, whose average is still short, and the last, which may be
  // diverging, are no candidates (when enough remain).
  const trimmed = points.slice(SKIP_START, points.length - SKIP_END);
  const candidates = trimmed.length >= 2 ? trimmed : points;
  const minimum = candidates.reduce((best, p) => (p.smoothed < best.smoothed ? p : best)).learningRate;
  let steepest = candidates[0].learningRate;
  let fastest = Infinity;
  for (let i = 1; i < candidates.length; i++) {
    const slope =
      (candidates[i].smoothed - candidates[i - 1].smoothed) /
      (Math.log(candidates[i].learningRate) - Math.log(candidates[i - 1].learningRate));
    if (slope < fastest) [fastest, steepest] = [slope, candidates[i].learningRate];
  }
  return { points, diverged, minimum, steepest, suggestion: valley(candidates) };
}

/**
 * fastai's valley: the longest run of falling smoothed losses (a longest decreasing subsequence),
 * and the rate a half of a third into it past its first third.
 */
function valley(points: LrPoint[]): number {
  const longest = points.map(() => 1);
  let [first, last] = [0, 0];
  for (let i = 1; i < points.length; i++) {
    for (let j = 0; j < i; j++)
      if (points[i].smoothed < points[j].smoothed && longest[i] < longest[j] + 1) longest[i] = longest[j] + 1;
    if (longest[i] > longest[last]) [first, last] = [i - longest[i], i];
  }
  const third = (last - first) / 3;
  return points[Math.max(0, first + Math.floor(third) + Math.floor(third / 2))].learningRate;
}
