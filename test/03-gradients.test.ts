import { describe, expect, it } from 'vitest';
import { layerOffsets } from '../src/backends/backend.js';
import { Network } from '../src/model/network.js';
import { Rng } from '../src/model/rng.js';
import { everyBackend } from './helpers.js';

/** The mean cross-entropy of the network `params` (float64 throughout) on a batch. */
function loss64(sizes: number[], params: Float64Array, x: Float32Array, labels: Uint8Array): number {
  const layers = layerOffsets(sizes);
  let total = 0;
  for (let r = 0; r < labels.length; r++) {
    let act: number[] = Array.from(x.subarray(r * sizes[0], (r + 1) * sizes[0]));
    layers.forEach((l, i) => {
      const out = new Array<number>(l.outputs).fill(0);
      for (let j = 0; j < l.outputs; j++) {
        let z = params[l.bias + j];
        for (let k = 0; k < l.inputs; k++) z += act[k] * params[l.weight + k * l.outputs + j];
        out[j] = i < layers.length - 1 ? Math.max(z, 0) : z;
      }
      act = out;
    });
    const max = Math.max(...act);
    const logSum = Math.log(act.reduce((s, z) => s + Math.exp(z - max), 0)) + max;
    total += logSum - act[labels[r]];
  }
  return total / labels.length;
}

/**
 * Central differences in float64 against each backend's float32 gradient, tensor by tensor: the
 * largest difference relative to the tensor's largest gradient must be far below 1 %.
 */
describe.each(everyBackend())('finite-difference gradient check ($label)', ({ make }) => {
  it.each([
    { sizes: [6, 5, 3], rows: 4 },
    { sizes: [9, 7, 5, 4], rows: 7 },
  ])('layers $sizes, batch $rows', ({ sizes, rows }) => {
    const net = new Network(sizes, { backend: make() }).initWeights(5, 0.5);
    const rng = new Rng(11);
    for (const layer of net.layers) for (let i = 0; i < layer.bias.length; i++) layer.bias[i] = rng.normal() * 0.1;
    const x = Float32Array.from({ length: rows * sizes[0] }, () => rng.normal());
    const labels = Uint8Array.from({ length: rows }, () => rng.below(sizes.at(-1)!));
    const analytic = net.gradients(x, labels);
    const params = Float64Array.from(net.params);
    const h = 1e-6;
    const numeric = new Float64Array(params.length);
    for (let i = 0; i < params.length; i++) {
      const saved = params[i];
      params[i] = saved + h;
      const up = loss64(sizes, params, x, labels);
      params[i] = saved - h;
      const down = loss64(sizes, params, x, labels);
      params[i] = saved;
      numeric[i] = (up - down) / (2 * h);
    }
    for (const l of layerOffsets(sizes)) {
      for (const [start, end] of [
        [l.weight, l.bias],
        [l.bias, l.bias + l.outputs],
      ]) {
        let largest = 0;
        let worst = 0;
        for (let i = start; i < end; i++) {
          largest = Math.max(largest, Math.abs(numeric[i]));
          worst = Math.max(worst, Math.abs(numeric[i] - analytic[i]));
        }
        expect(largest).toBeGreaterThan(0);
        expect(worst / largest).toBeLessThan(1e-4);
      }
    }
  });
});
