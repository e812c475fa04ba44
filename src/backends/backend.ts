import { heapMemory, type Memory } from '../memory.js';
import { keepsPreActivation, type Activation, type Loss } from './activations.js';
import { optimizerSpec, type OptimizerName } from './optimizers.js';
import type { Noise, NoiseMask } from './noise.js';
import type { Features } from '../data/features.js';
import { parameterCount, parameterLayout, type LayerOffsets } from './layers.js';

/**
 * What a backend computes. Both backends work over the same Float32Arrays, owned by TypeScript:
 * the parameters (every layer's weights then biases, in one array), the activations and the
 * gradients. The native backend borrows them for the length of a call.
 *
 * The network is the chain of stages its layer list lowers to (layers.ts): dense layers `sizes[0] →
 * sizes[1] → … → sizes[L]`, where stage l applies `activations[l]`, and the last is the output:
 * softmax with the cross-entropy error, or an element-wise output with the mean squared error
 * (½·Σ(y − t)² per sample, averaged over samples). Stage l's weight, a `sizes[l] × sizes[l+1]`
 * row-major matrix (inputs × outputs, like the seed's `w1`), and its bias lie in `params` where
 * `layout[l]` says.
 */
export interface Layered {
  readonly sizes: readonly number[];
  readonly activations: readonly Activation[];
  readonly loss: Loss;
  readonly bias: boolean;
  readonly params: Float32Array;
  readonly layout: readonly LayerOffsets[];
  /** The noise on each layer's output while training (noise.ts; null for none and the output layer); none when absent. */
  readonly noise?: readonly (Noise | null)[];
}

/**
 * Samples and what they should produce; `x` is `count × features`, row-major, as floats or as bytes
 * standing for byte / 255. Class labels are needed for cross-entropy and accuracy; MSE uses
 * `targets` (`count × outputs`) when given, else one-hot vectors of the labels.
 */
export interface Samples {
  readonly x: Features;
  readonly labels?: Uint8Array;
  readonly targets?: Float32Array;
  readonly count: number;
}

/** Samples whose features are floats, as the products read them. */
export type FloatSamples = Samples & { readonly x: Float32Array };

export interface Evaluation {
  /** Only with class labels. */
  accuracy?: number;
  /** The mean error: cross-entropy, or ½·Σ(y − t)² for MSE. */
  error: number;
}

export { OPTIMIZERS, type OptimizerName } from './optimizers.js';
export type { Memory } from '../memory.js';

export interface OptimizerSettings {
  name: OptimizerName;
  learningRate: number;
  /** Momentum's μ: v ← μ·v + g. */
  momentum: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** L2 decay of the weights (not the biases), added to their gradient: g + decay·w. */
  weightDecay: number;
}

export function sgd(learningRate: number): OptimizerSettings {
  return { name: 'sgd', learningRate, momentum: 0.9, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 };
}

/** `name`'s settings: Adam's defaults, then its own, then `overrides`. */
export function optimizerDefaults(
  name: OptimizerName,
  learningRate: number,
  overrides: Partial<OptimizerSettings> = {},
): OptimizerSettings {
  return { ...sgd(learningRate), ...optimizerSpec(name).defaults, ...overrides, name };
}

/**
 * What an optimizer carries from step to step: the buffers its table entry names, in the layout of
 * the parameters (`first`, `second`; empty when unused), and in `scalars` the step count and β1^t,
 * β2^t (kept as running products so both backends round them alike).
 */
export class OptimizerState {
  readonly first: Float32Array;
  readonly second: Float32Array;
  readonly scalars: Float64Array;

  /** The state of `name` for `parameterCount` parameters, in `memory` (the backend's that steps it). */
  constructor(parameterCount: number, name: OptimizerName, memory: Memory = heapMemory) {
    const { buffers } = optimizerSpec(name);
    this.scalars = memory.float64(3);
    this.scalars.set([0, 1, 1]);
    this.first = memory.float32(buffers.first ? parameterCount : 0);
    this.second = memory.float32(buffers.second ? parameterCount : 0);
  }

  /** The number of parameter-sized buffers `name` keeps. */
  static buffers(name: OptimizerName): number {
    const { buffers } = optimizerSpec(name);
    return Number(buffers.first) + Number(buffers.second);
  }
}

export interface EpochOptions {
  batchSize: number;
  optimizer: OptimizerSettings;
  state: OptimizerState;
  /** Sample indices in the order they are visited (as many as it holds); `null` visits 0, 1, 2, … like the seed. */
  order: Uint32Array | null;
  /** Called about 50 times an epoch with the samples trained so far and their summed error (each before its step). */
  onProgress?: (samplesDone: number, errorSum: number) => void;
  /** The first visit: an epoch resumed part-way starts here (default 0). */
  start?: number;
  /**
   * The learning rate of each batch of the epoch (batch b covers visits b·batchSize…), when a
   * schedule varies it; `optimizer.learningRate` otherwise.
   */
  learningRates?: Float32Array;
  /**
   * Checked after every batch: non-zero stops the epoch there (Ctrl-C finishes the current batch).
   * The backend sets it to DIVERGED when a batch's error is NaN or infinite, and stops.
   */
  stop?: Int32Array;
  /** Seeds the noise layers' draws (with the step count of `state`); default 0. */
  noiseSeed?: number;
}

/** The value of `EpochOptions.stop[0]` after an epoch stopped because the error became NaN or infinite. */
export const DIVERGED = -1;

/** How many batches go between two progress reports: about 50 reports an epoch. */
export function progressInterval(batches: number): number {
  return batches < 50 ? 1 : Math.floor(batches / 50);
}

/**
 * The run policy of an epoch, after each batch with the visits done and the error summed so far:
 * reports progress about 50 times an epoch (and at its end), stops on a NaN or infinite error
 * (setting `stop` to DIVERGED) and when `stop` is set. Returns whether to go on. The TypeScript and
 * WebAssembly backends ask it; the native engine runs the same rule on its own thread, with the
 * cadence and the DIVERGED code it is handed.
 */
export function batchPolicy(options: EpochOptions, visits: number): (done: number, errorSum: number) => boolean {
  const every = progressInterval(Math.ceil(visits / options.batchSize));
  let batches = 0;
  return (done, errorSum) => {
    if (++batches % every === 0 || done === visits) options.onProgress?.(done, errorSum);
    if (!Number.isFinite(errorSum)) {
      if (options.stop) options.stop[0] = DIVERGED;
      return false;
    }
    return !options.stop?.[0];
  };
}

export interface Backend {
  readonly name: 'ts' | 'native' | 'wasm';
  /** Where the buffers it trains on are allocated: networks, optimizer states and workspaces ask it. */
  readonly memory: Memory;
  /** The instruction set the kernels run with: `js` for the TypeScript backend. */
  readonly isa: string;
  readonly threads: number;
  /**
   * Layer outputs for `rows` samples: `acts[l]` gets layer l's output (softmax probabilities for the
   * last). With a mask, as in training: the layers with noise multiply their outputs by its factors (into
   * `ws.noisy`, the factors into `ws.factors`), and the layer above reads the noisy outputs.
   */
  forward(net: Layered, x: Float32Array, rows: number, ws: Workspace, mask?: NoiseMask): void;
  /**
   * The mean gradient of the error over a batch (the seed's `calculate_dE`), into `ws.grads`. Call
   * after `forward`, with the same mask.
   */
  gradients(net: Layered, batch: Samples, ws: Workspace, mask?: NoiseMask): void;
  /**
   * One epoch of minibatch training (SGD: `W ← W − lr · mean gradient`); a last partial batch is used.
   * Resolves to the visits done: the epoch's length, or less when `stop` was set.
   */
  trainEpoch(net: Layered, data: Samples, options: EpochOptions, ws: Workspace): Promise<number>;
  /**
   * The summed error and the correct predictions over all of `data`, in chunks of the workspace's
   * rows (the chunk changes the memory used, not the result: each row is scored alone).
   */
  evaluate(net: Layered, data: Samples, ws: Workspace): Promise<Evaluation>;
  /** Every image of the job warped by its transform into `job.out` (data/warp.ts). */
  augment(job: WarpJob): Promise<void>;
}

/** Images of rows × cols bytes to warp, each by its transform (PARAMS_PER_IMAGE numbers), with the bank of fields. */
export interface WarpJob {
  images: Uint8Array;
  count: number;
  rows: number;
  cols: number;
  params: Float64Array;
  bank: Float32Array;
  out: Uint8Array;
}

/**
 * Every buffer a forward and backward pass of up to `rows` samples needs, allocated once per `fit`
 * so that no batch allocates.
 */
export class Workspace {
  /** `acts[l]` is layer l's output, `rows × sizes[l+1]`. */
  readonly acts: Float32Array[];
  /** Two `rows × widest layer` buffers for the error signal, used in turn going backwards. */
  readonly deltas: [Float32Array, Float32Array];
  readonly grads: Float32Array;
  /** A batch gathered from shuffled rows. */
  readonly batchX: Float32Array;
  readonly batchLabels: Uint8Array;
  readonly batchTargets: Float32Array;

  /**
   * `pre[l]` is layer l's pre-activation z, `rows × sizes[l+1]`, for the layers whose derivative
   * is taken from z (GELU, SiLU; empty for the others).
   */
  readonly pre: Float32Array[];
  /** `noisy[l]` is layer l's output after its noise, `factors[l]` each unit's factor; empty without noise. */
  readonly noisy: Float32Array[];
  readonly factors: Float32Array[];

  /** The buffers of `net` for up to `rows` samples, in its backend's memory. */
  static of(
    net: Pick<Layered, 'sizes' | 'bias' | 'activations' | 'noise'> & { backend?: Pick<Backend, 'memory'> },
    rows: number,
  ): Workspace {
    return new Workspace(net.sizes, rows, net.bias, net.activations, net.backend?.memory, net.noise);
  }

  constructor(
    readonly sizes: readonly number[],
    readonly rows: number,
    bias = true,
    activations: readonly Activation[] = [],
    memory: Memory = heapMemory,
    noise: readonly (Noise | null)[] = [],
  ) {
    this.acts = sizes.slice(1).map((width) => memory.float32(rows * width));
    this.pre = sizes
      .slice(1)
      .map((width, l) => memory.float32(activations[l] && keepsPreActivation(activations[l]) ? rows * width : 0));
    const noisy = sizes.slice(1).map((width, l) => (noise[l] ? rows * width : 0));
    this.noisy = noisy.map((length) => memory.float32(length));
    this.factors = noisy.map((length) => memory.float32(length));
    const widest = Math.max(...sizes.slice(1));
    this.deltas = [memory.float32(rows * widest), memory.float32(rows * widest)];
    this.grads = memory.float32(parameterCount(parameterLayout({ sizes, bias })));
    this.batchX = memory.float32(rows * sizes[0]);
    this.batchLabels = memory.uint8(rows);
    this.batchTargets = memory.float32(rows * sizes[sizes.length - 1]);
  }
}

/** The rows of a workspace made for evaluating a whole data set: the chunk it is scored in. */
export const EVAL_ROWS = 1000;
