import type { Activation, Loss } from '../backends/activations.js';
import { sgd, OptimizerState, Workspace, type Backend, type Layered } from '../backends/backend.js';
import { optimizerStep } from '../backends/ts.js';
import { defaultBackend } from '../backends/default.js';
import type { Noise, NoiseMask } from '../backends/noise.js';
import {
  chainOf,
  describeChain,
  parameterCount,
  parameterLayout,
  type LayerOffsets,
  type ModelDescription,
} from '../backends/layers.js';
import { floatRows, type Features } from '../data/features.js';
import { applyScaling, type Scaling } from '../data/preprocessing.js';
import { UsageError } from '../errors.js';
import { initialize, type Init } from './init.js';
import { descriptionOf, layerViews, noiseRates, type Architecture, type Layer } from './layout.js';
import { argmaxRow } from './metrics.js';

/** How a network given as layer sizes is built; a description lists its layers instead. */
export interface NetworkOptions {
  /** The hidden layers' activation, or one per hidden layer. Default relu. */
  hidden?: Activation | readonly Activation[];
  /** Default softmax (with cross-entropy), or linear with MSE. */
  output?: Activation;
  /** Default cross-entropy. */
  loss?: Loss;
  /** Default true. */
  bias?: boolean;
  /**
   * The dropout rate of the hidden layers' outputs while training, or one per hidden layer; from 0
   * (the default: none) to 0.95.
   */
  dropout?: number | readonly number[];
  /** Default the TypeScript backend (`useDefaultBackend` changes it; the library trains on a worker thread). */
  backend?: Backend;
}

/** The seed's default weight scale: `np.random.randn(…) / 10`. */
export const SEED_INIT_STD = 0.1;

/** One value for every hidden layer, or one each. */
function perHiddenLayer<T>(value: T | readonly T[], hidden: number, what: string): T[] {
  if (!Array.isArray(value)) return new Array<T>(hidden).fill(value as T);
  if (value.length !== hidden) throw new UsageError(`${value.length} ${what} given for ${hidden} hidden layers`);
  return [...(value as readonly T[])];
}

/** The description of a network given as `[input, hidden…, output]` with the seed-style options. */
function describeSizes(sizes: readonly number[], options: NetworkOptions): ModelDescription {
  if (sizes.length < 2) throw new UsageError('a network needs at least an input and an output size');
  const hidden = sizes.length - 2;
  const loss = options.loss ?? 'cross-entropy';
  const output = options.output ?? (loss === 'mse' ? 'linear' : 'softmax');
  const activations = [...perHiddenLayer(options.hidden ?? 'relu', hidden, 'hidden activations'), output];
  const rates = perHiddenLayer(options.dropout ?? 0, hidden, 'dropout rates');
  const noise = [...rates.map((rate): Noise | null => (rate !== 0 ? { kind: 'dropout', rate } : null)), null];
  return describeChain({ sizes, activations, noise, bias: options.bias ?? true, loss });
}

/**
 * A fully connected network after the seed's `NN` class: `new Network([784, 30, 10])` has ReLU
 * hidden layers, a softmax output and the cross-entropy error by default; or a list of layers,
 * `new Network({ inputs: 784, layers: [dense(256), activation('relu'), dropout(0.2), dense(10),
 * activation('softmax')], loss: 'cross-entropy' })`. All parameters live in one Float32Array;
 * `layers[l].weight` and `.bias` (the seed's `w1 b1 w2 b2`) are views into it.
 */
export class Network implements Layered {
  /** The layer list, as given or as the sizes and options spell it. */
  readonly description: ModelDescription;
  readonly sizes: readonly number[];
  readonly activations: readonly Activation[];
  readonly loss: Loss;
  readonly bias: boolean;
  /** Each stage's noise while training (noise.ts), null for none and for the output stage. */
  readonly noise: readonly (Noise | null)[];
  readonly layout: readonly LayerOffsets[];
  readonly params: Float32Array;
  readonly layers: Layer[];
  backend: Backend;

  /** With a description, `options` gives the backend only. */
  constructor(shape: readonly number[] | ModelDescription, options: NetworkOptions = {}) {
    const { backend, ...rest } = options;
    if (!Array.isArray(shape) && Object.keys(rest).length > 0)
      throw new UsageError(`a network given as a layer list takes its ${Object.keys(rest).join(', ')} from the list`);
    this.description = Array.isArray(shape) ? describeSizes(shape, options) : (shape as ModelDescription);
    const chain = chainOf(this.description);
    this.sizes = chain.sizes;
    this.activations = chain.activations;
    this.loss = chain.loss;
    this.bias = chain.bias;
    this.noise = chain.noise;
    this.layout = parameterLayout(chain);
    this.backend = backend ?? defaultBackend();
    // The parameters live where the backend trains on them.
    this.params = this.backend.memory.float32(parameterCount(this.layout));
    this.layers = layerViews(this.params, this.layout, this.activations);
  }

  get parameterCount(): number {
    return this.params.length;
  }

  /** The seed's initialisation: weights normal(0, `std`), biases 0, drawn layer by layer from a seeded RNG. */
  initWeights(seed: number, std: number = SEED_INIT_STD): this {
    return this.initialize({ scheme: 'normal', std }, seed);
  }

  /** Weights by `init` (normal, he, xavier, uniform, or given), biases 0 unless given. */
  initialize(init: Init, seed: number): this {
    initialize(this.layers, init, seed);
    return this;
  }

  /**
   * Every layer's output for the rows of `x` (`rows × sizes[0]`, floats or pixel bytes); the last is
   * the network's output.
   */
  forward(x: Features, ws: Workspace = this.workspaceFor(x)): Float32Array[] {
    const rows = this.rowsOf(x);
    this.backend.forward(this, floatRows(x, this.sizes[0], 0, rows, ws.batchX), rows, ws);
    return ws.acts.map((act, l) => act.slice(0, rows * this.sizes[l + 1]));
  }

  /**
   * The mean gradient of the error over the batch `x, labels` (or `targets` under MSE) with respect
   * to every parameter (the seed's `calculate_dE`), in the layout of `params`; with a mask, through
   * each stage's noise (its factors are left in `ws.factors`).
   */
  gradients(
    x: Features,
    labels?: Uint8Array,
    targets?: Float32Array,
    ws: Workspace = this.workspaceFor(x),
    mask?: NoiseMask,
  ): Float32Array {
    const rows = this.rowsOf(x);
    const floats = floatRows(x, this.sizes[0], 0, rows, ws.batchX);
    this.backend.forward(this, floats, rows, ws, mask);
    this.backend.gradients(this, { x: floats, labels, targets, count: rows }, ws, mask);
    return ws.grads.slice();
  }

  /** One SGD step, `params ← params − learningRate · grads` (the seed's `backprop`). */
  backprop(grads: Float32Array, learningRate: number): void {
    optimizerStep(this, grads, sgd(learningRate), new OptimizerState(0, 'sgd', this.backend.memory));
  }

  /**
   * How raw inputs become this network's inputs, when it was loaded from a model file that records
   * it (a CSV model's column scaling): `predict` then takes rows as the data file held them.
   */
  inputScaling?: Scaling;

  /** The predicted class of every row of `x` (raw rows when `inputScaling` is set). */
  predict(x: Features): Uint8Array {
    let inputs = x;
    if (this.inputScaling) {
      inputs = Float32Array.from(x);
      applyScaling(inputs, this.rowsOf(x), this.inputScaling);
    }
    const outputs = this.forward(inputs).at(-1)!;
    const classes = this.sizes.at(-1)!;
    const predicted = new Uint8Array(this.rowsOf(x));
    for (let r = 0; r < predicted.length; r++) predicted[r] = argmaxRow(outputs, r, classes);
    return predicted;
  }

  private rowsOf(x: Features): number {
    const rows = x.length / this.sizes[0];
    if (!Number.isInteger(rows))
      throw new UsageError(`input length ${x.length} is not a multiple of ${this.sizes[0]} features`);
    return rows;
  }

  private workspaceFor(x: Features): Workspace {
    return Workspace.of(this, this.rowsOf(x));
  }
}

export { accuracy, crossEntropy } from './metrics.js';
export type { Layer } from './layout.js';
export { reluDerivative } from '../backends/ts.js';

/** The architecture of `net`, as a model file records it. */
export function architectureOf(net: Network): Architecture {
  const architecture: Architecture = {
    sizes: [...net.sizes],
    activations: [...net.activations],
    loss: net.loss,
    bias: net.bias,
  };
  return { ...architecture, ...noiseRates(net.noise) };
}

/** The network a model file describes, with its weights, on `backend`. */
export function networkFromFile(architecture: Architecture, params: Float32Array, backend: Backend): Network {
  const net = new Network(descriptionOf(architecture), { backend });
  net.params.set(params);
  return net;
}
