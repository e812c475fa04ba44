/**
 * What a backend computes. Both backends work over the same Float32Arrays, owned by TypeScript:
 * the parameters (every layer's weights then biases, in one array), the activations and the
 * gradients. The native backend borrows them for the length of a call.
 *
 * The network is a stack of fully connected layers `sizes[0] → sizes[1] → … → sizes[L]`: ReLU on
 * the hidden layers, softmax on the output, mean cross-entropy as the error. Layer l's weight is a
 * `sizes[l] × sizes[l+1]` row-major matrix (inputs × outputs, like the seed's `w1`).
 */
export interface Layered {
  readonly sizes: readonly number[];
  readonly params: Float32Array;
}

/** Samples and their class labels; `x` is `count × features`, row-major. */
export interface Samples {
  readonly x: Float32Array;
  readonly labels: Uint8Array;
  readonly count: number;
}

export interface Evaluation {
  accuracy: number;
  /** Mean cross-entropy. */
  error: number;
}

export interface EpochOptions {
  batchSize: number;
  learningRate: number;
  /** Sample indices in the order they are visited; `null` visits 0, 1, 2, … like the seed. */
  order: Uint32Array | null;
  /** Called about 50 times an epoch with the number of samples trained so far. */
  onProgress?: (samplesDone: number) => void;
}

/** How many batches go between two progress reports: about 50 reports an epoch. */
export function progressInterval(batches: number): number {
  return batches < 50 ? 1 : Math.floor(batches / 50);
}

export interface Backend {
  readonly name: 'ts' | 'native';
  /** The instruction set the kernels run with: `js` for the TypeScript backend. */
  readonly isa: string;
  readonly threads: number;
  /** Layer outputs for `rows` samples: `acts[l]` gets layer l's output (softmax probabilities for the last). */
  forward(net: Layered, x: Float32Array, rows: number, ws: Workspace): void;
  /** The mean gradient of the error over a batch (the seed's `calculate_dE`), into `ws.grads`. Call after `forward`. */
  gradients(net: Layered, x: Float32Array, labels: Uint8Array, rows: number, ws: Workspace): void;
  /** One epoch of minibatch SGD, `W ← W − lr · mean gradient`; a last partial batch is used. */
  trainEpoch(net: Layered, data: Samples, options: EpochOptions, ws: Workspace): Promise<void>;
  evaluate(net: Layered, data: Samples, ws: Workspace): Promise<Evaluation>;
}

/** Parameter offsets of one layer inside `params` (and `grads`, which has the same layout). */
export interface LayerOffsets {
  inputs: number;
  outputs: number;
  weight: number;
  bias: number;
}

export function layerOffsets(sizes: readonly number[]): LayerOffsets[] {
  const layers: LayerOffsets[] = [];
  let offset = 0;
  for (let l = 0; l + 1 < sizes.length; l++) {
    const inputs = sizes[l];
    const outputs = sizes[l + 1];
    layers.push({ inputs, outputs, weight: offset, bias: offset + inputs * outputs });
    offset += inputs * outputs + outputs;
  }
  return layers;
}

export function parameterCount(sizes: readonly number[]): number {
  let count = 0;
  for (let l = 0; l + 1 < sizes.length; l++) count += sizes[l] * sizes[l + 1] + sizes[l + 1];
  return count;
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

  constructor(
    readonly sizes: readonly number[],
    readonly rows: number,
  ) {
    this.acts = sizes.slice(1).map((width) => new Float32Array(rows * width));
    const widest = Math.max(...sizes.slice(1));
    this.deltas = [new Float32Array(rows * widest), new Float32Array(rows * widest)];
    this.grads = new Float32Array(parameterCount(sizes));
    this.batchX = new Float32Array(rows * sizes[0]);
    this.batchLabels = new Uint8Array(rows);
  }
}

/** Rows used per chunk when a whole data set is evaluated. */
export const EVAL_ROWS = 1000;
