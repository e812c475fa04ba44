import type { Activation, Loss } from '../backends/activations.js';
import { describeChain, type LayerOffsets, type ModelDescription } from '../backends/layers.js';

/** A network as a model file records it. */
export interface Architecture {
  sizes: number[];
  activations: Activation[];
  loss: Loss;
  bias: boolean;
  /** The hidden layers' dropout rates, when any is not 0. */
  dropout?: number[];
}

/** The layer list of the network a model file records. */
export function descriptionOf(architecture: Architecture): ModelDescription {
  const dropout = [...(architecture.dropout ?? architecture.activations.slice(1).map(() => 0)), 0];
  return describeChain({ ...architecture, dropout });
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

/** Every dense layer's weight and bias as views into `params`, at the offsets of `layout`. */
export function layerViews(
  params: Float32Array,
  layout: readonly LayerOffsets[],
  activations: readonly Activation[],
): Layer[] {
  return layout.map((l, i) => ({
    inputs: l.inputs,
    outputs: l.outputs,
    activation: activations[i],
    weight: params.subarray(l.weight, l.weight + l.inputs * l.outputs),
    bias: l.bias >= 0 ? params.subarray(l.bias, l.bias + l.outputs) : null,
  }));
}
