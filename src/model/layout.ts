import type { Activation, Loss } from '../backends/activations.js';
import { layerOffsets } from '../backends/backend.js';

/** A network as a model file records it. */
export interface Architecture {
  sizes: number[];
  activations: Activation[];
  loss: Loss;
  bias: boolean;
  /** The hidden layers' dropout rates, when any is not 0. */
  dropout?: number[];
}

/** One layer's parameters, as views into `Network.params`. */
export interface Layer {
  inputs: number;
  outputs: number;
  activation: Activation;
  /** `inputs × outputs`, row-major. */
  weight: Float32Array;
  /** Null when the network has no biases. */
  bias: Float32Array | null;
}

/** Every layer's weight and bias as views into `params`, in the layout of `layerOffsets`. */
export function layerViews(
  params: Float32Array,
  sizes: readonly number[],
  activations: readonly Activation[],
  bias: boolean,
): Layer[] {
  return layerOffsets(sizes, bias).map((l, i) => ({
    inputs: l.inputs,
    outputs: l.outputs,
    activation: activations[i],
    weight: params.subarray(l.weight, l.weight + l.inputs * l.outputs),
    bias: bias ? params.subarray(l.bias, l.bias + l.outputs) : null,
  }));
}
