import { HIDDEN_ACTIVATIONS, LOSSES, MSE_OUTPUTS, type Activation, type Loss } from '../backends/activations.js';
import {
  MAX_LAYER_SIZES,
  MAX_LAYER_WIDTH,
  parameterCount,
  sgd,
  OptimizerState,
  Workspace,
  type Backend,
  type Layered,
} from '../backends/backend.js';
import { optimizerStep } from '../backends/ts.js';
import { defaultBackend } from '../backends/default.js';
import { MAX_DROPOUT, type DropoutMask } from '../backends/dropout.js';
import { floatRows, type Features } from '../data/features.js';
import { applyScaling, type Scaling } from '../data/preprocessing.js';
import { UsageError } from '../errors.js';
import { initialize, type Init } from './init.js';
import { layerViews, type Architecture, type Layer } from './layout.js';
import { argmaxRow } from './metrics.js';

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

function activationsOf(layerCount: number, options: NetworkOptions): { activations: Activation[]; loss: Loss } {
  const loss = options.loss ?? 'cross-entropy';
  if (!(LOSSES as readonly string[]).includes(loss))
    throw new UsageError(`unknown loss '${String(loss)}' (expected ${LOSSES.join(', ')})`);
  const output = options.output ?? (loss === 'cross-entropy' ? 'softmax' : 'linear');
  if (loss === 'cross-entropy' && output !== 'softmax') {
    throw new UsageError(
      `the cross-entropy error needs a softmax output, not ${output} (use --loss mse for ${output})`,
    );
  }
  if (loss === 'mse' && !(MSE_OUTPUTS as readonly string[]).includes(output)) {
    throw new UsageError(`the mse error needs a ${MSE_OUTPUTS.join(', ')} output, not ${output}`);
  }
  const hidden = options.hidden ?? 'relu';
  const hiddenList = typeof hidden === 'string' ? new Array<Activation>(layerCount - 1).fill(hidden) : [...hidden];
  if (hiddenList.length !== layerCount - 1) {
    throw new UsageError(`${hiddenList.length} hidden activations given for ${layerCount - 1} hidden layers`);
  }
  for (const activation of hiddenList) {
    if (!(HIDDEN_ACTIVATIONS as readonly string[]).includes(activation)) {
      throw new UsageError(`a hidden layer cannot use ${activation} (expected ${HIDDEN_ACTIVATIONS.join(', ')})`);
    }
  }
  return { activations: [...hiddenList, output], loss };
}

/** One rate per layer's output (the output layer's 0), from the option's one per hidden layer. */
function dropoutOf(layerCount: number, dropout: NetworkOptions['dropout']): number[] {
  const hidden = layerCount - 1;
  const rates =
    typeof dropout === 'number' || dropout === undefined ? new Array<number>(hidden).fill(dropout ?? 0) : [...dropout];
  if (rates.length !== hidden) throw new UsageError(`${rates.length} dropout rates given for ${hidden} hidden layers`);
  for (const p of rates) {
    if (!(typeof p === 'number' && p >= 0 && p <= MAX_DROPOUT))
      throw new UsageError(`a dropout rate is from 0 to ${MAX_DROPOUT}, got ${String(p)}`);
  }
  return [...rates, 0];
}

/**
 * A fully connected network after the seed's `NN` class: `sizes` is `[input, hidden…, output]`,
 * e.g. `[784, 30, 10]`; by default ReLU hidden layers, a softmax output and the cross-entropy error.
 * All parameters live in one Float32Array; `layers[l].weight` and `.bias` (the seed's `w1 b1 w2 b2`)
 * are views into it.
 */
export class Network implements Layered {
  readonly sizes: readonly number[];
  readonly activations: readonly Activation[];
  readonly loss: Loss;
  readonly bias: boolean;
  readonly dropout: readonly number[];
  readonly params: Float32Array;
  readonly layers: Layer[];
  backend: Backend;

  constructor(sizes: readonly number[], options: NetworkOptions = {}) {
    if (sizes.length < 2) throw new UsageError('a network needs at least an input and an output size');
    if (sizes.length > MAX_LAYER_SIZES) {
      throw new UsageError(
        `a network has at most ${MAX_LAYER_SIZES - 2} hidden layers, this one has ${sizes.length - 2}`,
      );
    }
    for (const size of sizes) {
      if (!Number.isInteger(size) || size < 1)
        throw new UsageError(`layer sizes must be positive integers, got ${size}`);
      if (size > MAX_LAYER_WIDTH)
        throw new UsageError(
          `a layer has at most ${MAX_LAYER_WIDTH.toLocaleString('en-US')} units, got ${size.toLocaleString('en-US')}`,
        );
    }
    this.sizes = [...sizes];
    const { activations, loss } = activationsOf(sizes.length - 1, options);
    this.activations = activations;
    this.loss = loss;
    this.bias = options.bias ?? true;
    this.dropout = dropoutOf(sizes.length - 1, options.dropout);
    this.backend = options.backend ?? defaultBackend();
    // The parameters live where the backend trains on them.
    this.params = this.backend.memory.float32(parameterCount(sizes, this.bias));
    this.layers = layerViews(this.params, sizes, activations, this.bias);
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
   * the units that dropout keeps (their factors are left in `ws.keep`).
   */
  gradients(
    x: Features,
    labels?: Uint8Array,
    targets?: Float32Array,
    ws: Workspace = this.workspaceFor(x),
    mask?: DropoutMask,
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
  // Only a network with dropout records it, so that the files of others stay as they were.
  if (net.dropout.some((p) => p > 0)) architecture.dropout = net.dropout.slice(0, -1);
  return architecture;
}

/** The network a model file describes, with its weights, on `backend`. */
export function networkFromFile(architecture: Architecture, params: Float32Array, backend: Backend): Network {
  const net = new Network(architecture.sizes, {
    hidden: architecture.activations.slice(0, -1),
    output: architecture.activations[architecture.activations.length - 1],
    loss: architecture.loss,
    bias: architecture.bias,
    dropout: architecture.dropout,
    backend,
  });
  net.params.set(params);
  return net;
}
