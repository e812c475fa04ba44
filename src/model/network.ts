import { layerOffsets, parameterCount, Workspace, type Backend, type Layered } from '../backends/backend.js';
import { sgdUpdate, TsBackend } from '../backends/ts.js';
import { UsageError } from '../errors.js';
import { argmaxRow } from './metrics.js';
import { Rng } from './rng.js';

/** One layer's parameters, as views into `Network.params`. */
export interface Layer {
  inputs: number;
  outputs: number;
  /** `inputs × outputs`, row-major. */
  weight: Float32Array;
  bias: Float32Array;
}

/** The seed's default weight scale: `np.random.randn(…) / 10`. */
export const SEED_INIT_STD = 0.1;

/**
 * A fully connected network — ReLU hidden layers, a softmax output, cross-entropy error — after the
 * seed's `NN` class: `sizes` is `[input, hidden…, output]`, e.g. `[784, 30, 10]`. All parameters
 * live in one Float32Array; `layers[l].weight` and `.bias` (the seed's `w1 b1 w2 b2`) are views.
 */
export class Network implements Layered {
  readonly sizes: readonly number[];
  readonly params: Float32Array;
  readonly layers: Layer[];
  backend: Backend;

  constructor(sizes: readonly number[], backend: Backend = new TsBackend()) {
    if (sizes.length < 2) throw new UsageError('a network needs at least an input and an output size');
    for (const size of sizes) {
      if (!Number.isInteger(size) || size < 1) throw new UsageError(`layer sizes must be positive integers, got ${size}`);
    }
    this.sizes = [...sizes];
    this.params = new Float32Array(parameterCount(sizes));
    this.layers = layerOffsets(sizes).map((l) => ({
      inputs: l.inputs,
      outputs: l.outputs,
      weight: this.params.subarray(l.weight, l.weight + l.inputs * l.outputs),
      bias: this.params.subarray(l.bias, l.bias + l.outputs),
    }));
    this.backend = backend;
  }

  get parameterCount(): number {
    return this.params.length;
  }

  /** Weights from a normal distribution (mean 0, `std`), biases 0, drawn layer by layer from a seeded RNG. */
  initWeights(seed: number, std: number = SEED_INIT_STD): this {
    const rng = new Rng(seed);
    for (const layer of this.layers) {
      for (let i = 0; i < layer.weight.length; i++) layer.weight[i] = rng.normal() * std;
      layer.bias.fill(0);
    }
    return this;
  }

  /** Every layer's output for the rows of `x` (`rows × sizes[0]`); the last is the softmax probabilities. */
  forward(x: Float32Array, ws: Workspace = this.workspaceFor(x)): Float32Array[] {
    const rows = this.rowsOf(x);
    this.backend.forward(this, x, rows, ws);
    return ws.acts.map((act, l) => act.slice(0, rows * this.sizes[l + 1]));
  }

  /**
   * The mean gradient of the cross-entropy over the batch `x, labels` with respect to every
   * parameter (the seed's `calculate_dE`), in the layout of `params`.
   */
  gradients(x: Float32Array, labels: Uint8Array, ws: Workspace = this.workspaceFor(x)): Float32Array {
    const rows = this.rowsOf(x);
    this.backend.forward(this, x, rows, ws);
    this.backend.gradients(this, x, labels, rows, ws);
    return ws.grads.slice();
  }

  /** One SGD step, `params ← params − learningRate · grads` (the seed's `backprop`). */
  backprop(grads: Float32Array, learningRate: number): void {
    sgdUpdate(this.params, grads, learningRate);
  }

  /** The predicted class of every row of `x`. */
  predict(x: Float32Array): Uint8Array {
    const probs = this.forward(x).at(-1)!;
    const classes = this.sizes.at(-1)!;
    const predicted = new Uint8Array(this.rowsOf(x));
    for (let r = 0; r < predicted.length; r++) predicted[r] = argmaxRow(probs, r, classes);
    return predicted;
  }

  private rowsOf(x: Float32Array): number {
    const rows = x.length / this.sizes[0];
    if (!Number.isInteger(rows)) throw new UsageError(`input length ${x.length} is not a multiple of ${this.sizes[0]} features`);
    return rows;
  }

  private workspaceFor(x: Float32Array): Workspace {
    return new Workspace(this.sizes, this.rowsOf(x));
  }
}

export { accuracy, crossEntropy } from './metrics.js';
export { reluDerivative } from '../backends/ts.js';
