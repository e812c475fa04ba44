import { activate, offTarget } from '../backends/activations.js';
import { Workspace, type Backend } from '../backends/backend.js';
import { parameterLayout, type LayerOffsets, type ModelDescription } from '../backends/layers.js';
import { hasNoise } from '../backends/noise.js';
import { UsageError } from '../errors.js';
import { Network, type NetworkOptions } from '../model/network.js';
import { Rng } from '../model/rng.js';

export interface GradcheckOptions {
  /** `[inputs, hidden…, outputs]` with the options that build it, or a layer list. */
  sizes: number[] | ModelDescription;
  network: Omit<NetworkOptions, 'backend'>;
  backend: Backend;
  /** Samples in the batch. */
  rows: number;
  seed: number;
}

export interface TensorCheck {
  /** e.g. `layer 1 weight`. */
  tensor: string;
  /** max |analytic − numeric| over the checked entries, divided by their largest |numeric| gradient. */
  relativeError: number;
  /** The entries checked, of `entries`. */
  checked: number;
  entries: number;
}

/** At most this many entries of each tensor are checked, drawn at random (all of a smaller tensor). */
export const ENTRIES_PER_TENSOR = 64;

/** The most multiply-adds a check may take (about a minute of float64 JavaScript). */
export const MAX_GRADCHECK_WORK = 3e10;

/**
 * The float64 forward pass of a batch from float64 parameters, starting at any layer from that
 * layer's cached inputs: a perturbed parameter of layer l changes nothing before it.
 */
class Forward64 {
  private readonly layers: readonly LayerOffsets[];
  /** inputs[l] holds every row's input to layer l (inputs[0] is x), for the unperturbed parameters. */
  private readonly inputs: Float64Array[];

  constructor(
    private readonly net: Network,
    private readonly params: Float64Array,
    x: Float32Array,
    private readonly rows: number,
    private readonly labels: Uint8Array,
    private readonly targets: Float32Array,
    /** Each layer's noise factors (empty for a layer without noise): the mask held fixed. */
    private readonly factors: Float32Array[],
  ) {
    this.layers = net.layout;
    this.inputs = [Float64Array.from(x)];
    for (let l = 0; l + 1 < this.layers.length; l++) this.inputs.push(this.layer(l, this.inputs[l]));
  }

  /** Multiply-adds of one error from layer `l` on. */
  work(l: number): number {
    return this.rows * this.layers.slice(l).reduce((sum, layer) => sum + layer.inputs * layer.outputs, 0);
  }

  private layer(l: number, input: Float64Array): Float64Array {
    const { inputs, outputs, weight, bias } = this.layers[l];
    const out = new Float64Array(this.rows * outputs);
    const activation = this.net.activations[l];
    for (let r = 0; r < this.rows; r++) {
      for (let j = 0; j < outputs; j++) {
        let z = bias >= 0 ? this.params[bias + j] : 0;
        for (let k = 0; k < inputs; k++) z += input[r * inputs + k] * this.params[weight + k * outputs + j];
        const y = activate(activation, z);
        out[r * outputs + j] = this.factors[l].length ? y * this.factors[l][r * outputs + j] : y;
      }
    }
    return out;
  }

  /** The mean error of the batch, computed from layer `l` on (against the labels, or for mse the targets). */
  error(l: number): number {
    let act = this.inputs[l];
    for (let i = l; i < this.layers.length; i++) act = this.layer(i, act);
    const outputs = this.layers[this.layers.length - 1].outputs;
    let total = 0;
    for (let r = 0; r < this.rows; r++) {
      const row = act.subarray(r * outputs, (r + 1) * outputs);
      if (this.net.loss === 'cross-entropy') {
        const max = Math.max(...row);
        total += Math.log(row.reduce((s, z) => s + Math.exp(z - max), 0)) + max - row[this.labels[r]];
      } else {
        row.forEach((y, j) => (total += 0.5 * (y - this.targets[r * outputs + j]) ** 2));
      }
    }
    return total / this.rows;
  }
}

/** The tensors of a network, each with its layer and its span of parameters. */
function tensorsOf(net: Network): { tensor: string; layer: number; start: number; end: number }[] {
  return net.layout.flatMap((l, i) => [
    { tensor: `layer ${i + 1} weight`, layer: i, start: l.weight, end: l.weight + l.inputs * l.outputs },
    ...(net.bias ? [{ tensor: `layer ${i + 1} bias`, layer: i, start: l.bias, end: l.bias + l.outputs }] : []),
  ]);
}

/** The entries of [start, end) that are checked: all, or ENTRIES_PER_TENSOR drawn without repeats. */
function entriesOf(start: number, end: number, rng: Rng): number[] {
  const all = Array.from({ length: end - start }, (_, i) => start + i);
  if (all.length <= ENTRIES_PER_TENSOR) return all;
  for (let i = 0; i < ENTRIES_PER_TENSOR; i++) {
    const j = i + rng.below(all.length - i);
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, ENTRIES_PER_TENSOR).sort((a, b) => a - b);
}

/** The multiply-adds a gradcheck of `sizes` on `rows` samples takes: two errors for each checked entry. */
export function gradcheckWork(sizes: readonly number[], bias: boolean, rows: number): number {
  const layers = parameterLayout({ sizes, bias });
  let work = 0;
  layers.forEach((l, i) => {
    const suffix = rows * layers.slice(i).reduce((sum, layer) => sum + layer.inputs * layer.outputs, 0);
    const entries =
      Math.min(ENTRIES_PER_TENSOR, l.inputs * l.outputs) + (bias ? Math.min(ENTRIES_PER_TENSOR, l.outputs) : 0);
    work += 2 * entries * suffix;
  });
  return work;
}

/**
 * Compares the backend's analytic gradient of every parameter tensor with central finite
 * differences computed in float64, on a small random network and batch: every entry of a small
 * tensor, ENTRIES_PER_TENSOR drawn at random of a larger one. MSE networks train on random targets;
 * cross-entropy ones on random labels.
 */
export function gradcheck(options: GradcheckOptions): TensorCheck[] {
  const { rows, seed } = options;
  const backend = options.backend;
  const net = (
    Array.isArray(options.sizes)
      ? new Network(options.sizes, { ...options.network, backend })
      : new Network(options.sizes, { backend })
  ).initialize({ scheme: 'normal', std: 0.5 }, seed);
  const sizes = net.sizes;
  const work = gradcheckWork(sizes, net.bias, rows);
  if (work > MAX_GRADCHECK_WORK) {
    throw new UsageError(
      `a gradient check of ${sizes.join('-')} on ${rows} samples takes about ${(work / 1e9).toFixed(0)}·10⁹ multiply-adds in float64 (several minutes); ` +
        `give fewer --rows or smaller layers (at most ${(MAX_GRADCHECK_WORK / 1e9).toFixed(0)}·10⁹)`,
    );
  }
  const rng = new Rng(seed + 1);
  for (const layer of net.layers)
    if (layer.bias) for (let i = 0; i < layer.bias.length; i++) layer.bias[i] = rng.normal() * 0.1;
  const outputs = sizes[sizes.length - 1];
  const x = Float32Array.from({ length: rows * sizes[0] }, () => rng.normal());
  const labels = Uint8Array.from({ length: rows }, () => rng.below(outputs));
  const low = offTarget(net.activations[net.activations.length - 1]);
  const mse = net.loss === 'mse';
  const targets = mse
    ? Float32Array.from({ length: rows * outputs }, () => low + (1 - low) * rng.uniform())
    : new Float32Array(0);
  // With noise, one mask (the first step's) is held fixed for the analytic and the numeric gradients.
  const ws = Workspace.of(net, rows);
  const mask = hasNoise(net.noise) ? { seed, step: 0 } : undefined;
  const analytic = net.gradients(x, mse ? undefined : labels, mse ? targets : undefined, ws, mask);
  const params = Float64Array.from(net.params);
  const factors = mask ? ws.factors : ws.factors.map(() => new Float32Array(0));
  const forward = new Forward64(net, params, x, rows, labels, targets, factors);
  const h = 1e-6;
  return tensorsOf(net).map(({ tensor, layer, start, end }) => {
    const entries = entriesOf(start, end, rng);
    let largest = 0;
    let worst = 0;
    for (const i of entries) {
      const saved = params[i];
      params[i] = saved + h;
      const up = forward.error(layer);
      params[i] = saved - h;
      const down = forward.error(layer);
      params[i] = saved;
      const numeric = (up - down) / (2 * h);
      largest = Math.max(largest, Math.abs(numeric));
      worst = Math.max(worst, Math.abs(numeric - analytic[i]));
    }
    return {
      tensor,
      relativeError: largest > 0 ? worst / largest : worst,
      checked: entries.length,
      entries: end - start,
    };
  });
}
