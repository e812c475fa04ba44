import { DataError } from '../errors.js';
import type { Layer } from './layout.js';
import { Rng } from './rng.js';

/** How the weights start. Biases start at 0 unless given. */
export type Init =
  /** Normal(0, std): the seed's choice, std 0.1. */
  | { scheme: 'normal'; std: number }
  /** Normal(0, √(2 / inputs)), for ReLU layers (He et al.). */
  | { scheme: 'he' }
  /** Uniform(±√(6 / (inputs + outputs))), for sigmoid/tanh layers (Glorot and Bengio). */
  | { scheme: 'xavier' }
  /** Uniform(low, high): the tutorial's [−0.5, 0.5]. */
  | { scheme: 'uniform'; low: number; high: number }
  /** Read from a file: per layer, one row of input weights per neuron (outputs × inputs). */
  | { scheme: 'given'; weights: number[][][]; biases?: number[][]; source: string };

export const INIT_SCHEMES = ['normal', 'he', 'xavier', 'uniform'] as const;

/** Fills the layers' weights (and biases) by `init`, drawing from one RNG seeded with `seed`. */
export function initialize(layers: Layer[], init: Init, seed: number): void {
  if (init.scheme === 'given') {
    setGiven(layers, init);
    return;
  }
  const rng = new Rng(seed);
  for (const layer of layers) {
    const draw = sampler(init, layer, rng);
    for (let i = 0; i < layer.weight.length; i++) layer.weight[i] = draw();
    layer.bias?.fill(0);
  }
}

function sampler(init: Exclude<Init, { scheme: 'given' }>, layer: Layer, rng: Rng): () => number {
  switch (init.scheme) {
    case 'normal':
      return () => rng.normal() * init.std;
    case 'he': {
      const std = Math.sqrt(2 / layer.inputs);
      return () => rng.normal() * std;
    }
    case 'xavier': {
      const limit = Math.sqrt(6 / (layer.inputs + layer.outputs));
      return () => (2 * rng.uniform() - 1) * limit;
    }
    case 'uniform':
      return () => init.low + (init.high - init.low) * rng.uniform();
  }
}

/** A layer's weights as rows of numbers; a single neuron's may be one flat row. */
function asRows(value: unknown): number[][] | undefined {
  if (!Array.isArray(value)) return undefined;
  if (value.every((v) => typeof v === 'number')) return [value];
  if (value.every((row) => Array.isArray(row) && row.every((v) => typeof v === 'number'))) return value;
  return undefined;
}

function setGiven(layers: Layer[], init: Extract<Init, { scheme: 'given' }>): void {
  const { weights, biases, source } = init;
  if (weights.length !== layers.length) {
    throw new DataError(`${source}: has weights for ${weights.length} layers, the network has ${layers.length}`);
  }
  layers.forEach((layer, l) => {
    const rows = weights[l];
    if (rows.length !== layer.outputs || rows.some((row) => row.length !== layer.inputs)) {
      const got = `${rows.length}×${rows[0]?.length ?? 0}`;
      throw new DataError(
        `${source}: layer ${l + 1} weights are ${got}, expected ${layer.outputs}×${layer.inputs} (neurons × inputs)`,
      );
    }
    for (let o = 0; o < layer.outputs; o++)
      for (let i = 0; i < layer.inputs; i++) layer.weight[i * layer.outputs + o] = rows[o][i];
    const bias = biases?.[l];
    if (bias && !layer.bias) throw new DataError(`${source}: gives biases, but the network has none (drop --no-bias)`);
    if (bias && bias.length !== layer.outputs) {
      throw new DataError(`${source}: layer ${l + 1} has ${bias.length} biases, expected ${layer.outputs}`);
    }
    if (layer.bias) {
      layer.bias.fill(0);
      if (bias) layer.bias.set(bias);
    }
  });
}

/**
 * Initial weights from parsed JSON: `{"weights": [W1, W2, …], "biases": [b1, b2, …]}` (biases
 * optional), each W one row per neuron of that neuron's input weights, as the tutorial writes
 * W1 = [[−0.2, 0.3, −0.4], [0.1, −0.3, −0.4]]. A bare array is taken as the weights. `source` names
 * where the JSON came from, in errors.
 */
export function initFromJson(parsed: unknown, source: string): Init {
  const body = Array.isArray(parsed) ? { weights: parsed } : (parsed as { weights?: unknown; biases?: unknown });
  const weights = Array.isArray(body?.weights) ? body.weights.map(asRows) : undefined;
  if (!weights || weights.some((w) => w === undefined)) {
    throw new DataError(
      `${source}: expected {"weights": [matrix per layer], "biases": [vector per layer]} with numbers only`,
    );
  }
  let biases: number[][] | undefined;
  if (body.biases !== undefined) {
    const rows = asRows(body.biases);
    if (!rows) throw new DataError(`${source}: "biases" must be a list of number vectors, one per layer`);
    biases = rows;
  }
  for (const value of [...weights.flat(2), ...(biases?.flat() ?? [])]) {
    if (!Number.isFinite(value)) throw new DataError(`${source}: holds a value that is not a finite number`);
  }
  return { scheme: 'given', weights: weights as number[][][], biases, source };
}
