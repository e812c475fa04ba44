import { grouped } from '../numbers.js';
import { HIDDEN_ACTIVATIONS, LOSSES, MSE_OUTPUTS, type Activation, type Loss } from './activations.js';
import { NOISE_KINDS, noiseSpec, type Noise, type NoiseKind } from './noise.js';
import { UsageError } from '../errors.js';

/**
 * One layer of a network's description: a fully connected product (with a bias unless `bias` is
 * false), an element-wise activation, or a noise layer (noise.ts: dropout, …) on while training.
 */
export type LayerSpec =
  | { readonly kind: 'dense'; readonly units: number; readonly bias?: boolean }
  | { readonly kind: 'activation'; readonly activation: Activation }
  | { readonly kind: NoiseKind; readonly rate: number };

/** What a network is: its input width, its layers from the input up, and the error it is trained on. */
export interface ModelDescription {
  readonly inputs: number;
  readonly layers: readonly LayerSpec[];
  readonly loss: Loss;
}

export const dense = (units: number, options: { bias?: boolean } = {}): LayerSpec => ({
  kind: 'dense',
  units,
  ...options,
});
export const activation = (name: Activation): LayerSpec => ({ kind: 'activation', activation: name });
export const noise = (kind: NoiseKind, rate: number): LayerSpec => ({ kind, rate });
export const dropout = (rate: number): LayerSpec => noise('dropout', rate);

function isNoise(layer: LayerSpec | undefined): layer is { kind: NoiseKind; rate: number } {
  return layer !== undefined && (NOISE_KINDS as readonly string[]).includes(layer.kind);
}

/**
 * A description as both engines run it: a chain of stages, each a dense layer `sizes[l] →
 * sizes[l+1]`, its activation `activations[l]` and the noise on its output while training,
 * `noise[l]` (null for none and for the output stage). The engines fuse each stage's parts (the bias
 * and ReLU into the product's epilogue, the noise's factors into the activation's slope), which is
 * why the list must have this shape.
 */
export interface Chain {
  readonly sizes: readonly number[];
  readonly activations: readonly Activation[];
  readonly noise: readonly (Noise | null)[];
  readonly bias: boolean;
  readonly loss: Loss;
}

/** The most layer sizes a network lists (inputs, hidden layers, outputs), as the native engine takes them. */
export const MAX_LAYER_SIZES = 64;
/** The most units of one layer, or inputs. */
export const MAX_LAYER_WIDTH = 1 << 20;

const ORDER = 'each dense layer is followed by its activation, then, below the output, optionally by one noise layer';

/** The chain that `description` lists, checked: the one place that says what a network may be. */
export function chainOf(description: ModelDescription): Chain {
  const { inputs, layers, loss } = description;
  if (!(LOSSES as readonly string[]).includes(loss))
    throw new UsageError(`unknown loss '${String(loss)}' (expected ${LOSSES.join(', ')})`);
  const sizes = [inputs];
  const activations: Activation[] = [];
  const noises: (Noise | null)[] = [];
  const biases = new Set<boolean>();
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i];
    if (layer.kind !== 'dense')
      throw new UsageError(`layer ${i + 1} is ${describeLayer(layer)} where a dense layer belongs: ${ORDER}`);
    const next = layers[i + 1];
    if (next?.kind !== 'activation')
      throw new UsageError(`the dense layer ${i + 1} (${layer.units} units) has no activation after it: ${ORDER}`);
    sizes.push(layer.units);
    activations.push(next.activation);
    biases.add(layer.bias ?? true);
    i++;
    const after = layers[i + 1];
    if (isNoise(after)) {
      checkNoise(after);
      i++;
    }
    noises.push(isNoise(after) && after.rate !== 0 ? { kind: after.kind, rate: after.rate } : null);
  }
  if (activations.length === 0) throw new UsageError('a network needs at least one dense layer');
  const top = layers.at(-1)!;
  if (isNoise(top)) throw new UsageError(`${top.kind} belongs below the output layer, not after it`);
  if (biases.size > 1) throw new UsageError('the dense layers have biases or none, all alike');
  checkSizes(sizes);
  checkActivations(activations, loss);
  return { sizes, activations, noise: noises, bias: biases.has(true), loss };
}

function checkNoise({ kind, rate }: Noise): void {
  const most = noiseSpec(kind).maxRate;
  if (!(typeof rate === 'number' && rate >= 0 && rate <= most))
    throw new UsageError(`a ${kind} rate is from 0 to ${most}, got ${String(rate)}`);
}

/** The description of a chain: a dense layer, its activation and any noise per stage. */
export function describeChain(chain: Chain): ModelDescription {
  const layers = chain.activations.flatMap((name, l) => {
    const stageNoise = chain.noise[l];
    return [
      dense(chain.sizes[l + 1], chain.bias ? {} : { bias: false }),
      activation(name),
      ...(stageNoise ? [noise(stageNoise.kind, stageNoise.rate)] : []),
    ];
  });
  return { inputs: chain.sizes[0], layers, loss: chain.loss };
}

/** `dense 30`, `relu`, `dropout 0.2`. */
export function describeLayer(layer: LayerSpec): string {
  switch (layer.kind) {
    case 'dense':
      return `dense ${layer.units}${layer.bias === false ? ' without bias' : ''}`;
    case 'activation':
      return layer.activation;
    default:
      return isNoise(layer) ? `${layer.kind} ${layer.rate}` : `an unknown layer ${JSON.stringify(layer)}`;
  }
}

function checkSizes(sizes: readonly number[]): void {
  if (sizes.length > MAX_LAYER_SIZES)
    throw new UsageError(
      `a network has at most ${MAX_LAYER_SIZES - 2} hidden layers, this one has ${sizes.length - 2}`,
    );
  for (const size of sizes) {
    if (!Number.isInteger(size) || size < 1) throw new UsageError(`layer sizes must be positive integers, got ${size}`);
    if (size > MAX_LAYER_WIDTH)
      throw new UsageError(`a layer has at most ${grouped(MAX_LAYER_WIDTH)} units, got ${grouped(size)}`);
  }
}

function checkActivations(activations: readonly Activation[], loss: Loss): void {
  const output = activations.at(-1)!;
  if (loss === 'cross-entropy' && output !== 'softmax') {
    throw new UsageError(
      `the cross-entropy error needs a softmax output, not ${output} (use --loss mse for ${output})`,
    );
  }
  if (loss === 'mse' && !(MSE_OUTPUTS as readonly string[]).includes(output))
    throw new UsageError(`the mse error needs a ${MSE_OUTPUTS.join(', ')} output, not ${output}`);
  for (const hidden of activations.slice(0, -1)) {
    if (!(HIDDEN_ACTIVATIONS as readonly string[]).includes(hidden))
      throw new UsageError(`a hidden layer cannot use ${hidden} (expected ${HIDDEN_ACTIVATIONS.join(', ')})`);
  }
}

/** Where one dense layer's parameters lie inside `params` (and `grads`, which has the same layout). */
export interface LayerOffsets {
  inputs: number;
  outputs: number;
  weight: number;
  /** -1 when the network has no biases. */
  bias: number;
}

/**
 * The parameter layout, computed here only (the native engine is handed it): each dense layer's
 * `inputs × outputs` row-major weight (like the seed's `w1`), then its bias, after the layer below's.
 */
export function parameterLayout(chain: Pick<Chain, 'sizes' | 'bias'>): LayerOffsets[] {
  const layers: LayerOffsets[] = [];
  let offset = 0;
  for (let l = 0; l + 1 < chain.sizes.length; l++) {
    const inputs = chain.sizes[l];
    const outputs = chain.sizes[l + 1];
    layers.push({ inputs, outputs, weight: offset, bias: chain.bias ? offset + inputs * outputs : -1 });
    offset += inputs * outputs + (chain.bias ? outputs : 0);
  }
  return layers;
}

/** The number of parameters of a layout: where its last layer ends. */
export function parameterCount(layout: readonly LayerOffsets[]): number {
  const last = layout.at(-1);
  return last ? Math.max(last.weight + last.inputs * last.outputs, last.bias + last.outputs) : 0;
}
