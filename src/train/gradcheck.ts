import { activate, offTarget } from '../backends/activations.js';
import { layerOffsets, type Backend } from '../backends/backend.js';
import { Network, type NetworkOptions } from '../model/network.js';
import { Rng } from '../model/rng.js';

export interface GradcheckOptions {
  /** `[inputs, hidden…, outputs]`. */
  sizes: number[];
  network: Omit<NetworkOptions, 'backend'>;
  backend: Backend;
  /** Samples in the batch. */
  rows: number;
  seed: number;
}

export interface TensorCheck {
  /** e.g. `layer 1 weight`. */
  tensor: string;
  /** max |analytic − numeric| over the tensor, divided by its largest |numeric| gradient. */
  relativeError: number;
}

/** The network's mean error on a batch (against the labels, or for mse the targets), in float64 from float64 parameters. */
function error64(net: Network, params: Float64Array, x: Float32Array, labels: Uint8Array, targets: Float32Array): number {
  const layers = layerOffsets(net.sizes, net.bias);
  const rows = labels.length;
  let total = 0;
  for (let r = 0; r < rows; r++) {
    let act: number[] = Array.from(x.subarray(r * net.sizes[0], (r + 1) * net.sizes[0]));
    layers.forEach((l, i) => {
      const out = new Array<number>(l.outputs);
      for (let j = 0; j < l.outputs; j++) {
        let z = net.bias ? params[l.bias + j] : 0;
        for (let k = 0; k < l.inputs; k++) z += act[k] * params[l.weight + k * l.outputs + j];
        out[j] = activate(net.activations[i], z);
      }
      act = out;
    });
    if (net.loss === 'cross-entropy') {
      const max = Math.max(...act);
      total += Math.log(act.reduce((s, z) => s + Math.exp(z - max), 0)) + max - act[labels[r]];
    } else {
      act.forEach((y, j) => {
        total += 0.5 * (y - targets[r * act.length + j]) ** 2;
      });
    }
  }
  return total / rows;
}

/**
 * Compares the backend's analytic gradient of every parameter tensor with central finite
 * differences computed in float64, on a small random network and batch. MSE networks train on random
 * targets; cross-entropy ones on random labels.
 */
export function gradcheck(options: GradcheckOptions): TensorCheck[] {
  const { sizes, rows, seed } = options;
  const net = new Network(sizes, { ...options.network, backend: options.backend }).initialize({ scheme: 'normal', std: 0.5 }, seed);
  const rng = new Rng(seed + 1);
  for (const layer of net.layers) if (layer.bias) for (let i = 0; i < layer.bias.length; i++) layer.bias[i] = rng.normal() * 0.1;
  const outputs = sizes[sizes.length - 1];
  const x = Float32Array.from({ length: rows * sizes[0] }, () => rng.normal());
  const labels = Uint8Array.from({ length: rows }, () => rng.below(outputs));
  const low = offTarget(net.activations[net.activations.length - 1]);
  const mse = net.loss === 'mse';
  const targets = mse ? Float32Array.from({ length: rows * outputs }, () => low + (1 - low) * rng.uniform()) : new Float32Array(0);
  const analytic = mse ? net.gradients(x, undefined, targets) : net.gradients(x, labels);
  const params = Float64Array.from(net.params);
  const h = 1e-6;
  const numeric = new Float64Array(params.length);
  for (let i = 0; i < params.length; i++) {
    const saved = params[i];
    params[i] = saved + h;
    const up = error64(net, params, x, labels, targets);
    params[i] = saved - h;
    const down = error64(net, params, x, labels, targets);
    params[i] = saved;
    numeric[i] = (up - down) / (2 * h);
  }
  const checks: TensorCheck[] = [];
  const check = (tensor: string, start: number, end: number): void => {
    let largest = 0;
    let worst = 0;
    for (let i = start; i < end; i++) {
      largest = Math.max(largest, Math.abs(numeric[i]));
      worst = Math.max(worst, Math.abs(numeric[i] - analytic[i]));
    }
    checks.push({ tensor, relativeError: largest > 0 ? worst / largest : worst });
  };
  layerOffsets(sizes, net.bias).forEach((l, i) => {
    check(`layer ${i + 1} weight`, l.weight, l.weight + l.inputs * l.outputs);
    if (net.bias) check(`layer ${i + 1} bias`, l.bias, l.bias + l.outputs);
  });
  return checks;
}
