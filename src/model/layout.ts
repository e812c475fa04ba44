import type { Activation, Loss } from '../backends/activations.js';
import { describeChain, type LayerOffsets, type ModelDescription } from '../backends/layers.js';
import { NOISE_KINDS, type Noise, type NoiseKind } from '../backends/noise.js';

/**
 * A network as a model file records it. Each noise kind a network uses is a list of the hidden
 * layers' rates under the kind's name (`dropout: [0.3, 0]`), 0 where a layer has another or none,
 * so that the files of networks without one stay as they were.
 */
export interface Architecture extends Partial<Record<NoiseKind, number[]>> {
  sizes: number[];
  activations: Activation[];
  loss: Loss;
  bias: boolean;
}

/** Each stage's noise, from the rates a model file records (null for the output stage). */
export function noiseOf(architecture: Architecture): (Noise | null)[] {
  return architecture.activations.map((_, l) => {
    const kind = NOISE_KINDS.find((k) => (architecture[k]?.[l] ?? 0) > 0);
    return kind ? { kind, rate: architecture[kind]![l] } : null;
  });
}

/** The rates a model file records of each noise kind that `noise` uses. */
export function noiseRates(noise: readonly (Noise | null)[]): Partial<Record<NoiseKind, number[]>> {
  const rates: Partial<Record<NoiseKind, number[]>> = {};
  for (const kind of new Set(noise.flatMap((n) => (n ? [n.kind] : []))))
    rates[kind] = noise.slice(0, -1).map((n) => (n?.kind === kind ? n.rate : 0));
  return rates;
}

/** The layer list of the network a model file records. */
export function descriptionOf(architecture: Architecture): ModelDescription {
  return describeChain({ ...architecture, noise: noiseOf(architecture) });
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
