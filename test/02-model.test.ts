import { describe, expect, it } from 'vitest';
import { Network, accuracy, crossEntropy, reluDerivative } from '../src/model/network.js';
import { Rng } from '../src/model/rng.js';
import type { Backend } from '../src/backends/backend.js';
import { everyBackend } from './helpers.js';

/**
 * A 2-2-2 network small enough to do by hand: x = (1, 2), label 1.
 *   z1 = x·W1 + b1 = (1·0.1 + 2·0.3 + 0, 1·(−0.5) + 2·0.1 + 0.1) = (0.7, −0.2) → h = relu(z1) = (0.7, 0)
 *   z2 = h·W2 + b2 = (0.7·0.5 + 0.1, 0.7·(−0.5) − 0.1) = (0.45, −0.45)
 *   p  = softmax(z2) = (1/(1+e^−0.9), 1/(1+e^0.9))
 */
function handNetwork(make: () => Backend): Network {
  const net = new Network([2, 2, 2], { backend: make() });
  net.layers[0].weight.set([0.1, -0.5, 0.3, 0.1]);
  net.layers[0].bias.set([0, 0.1]);
  net.layers[1].weight.set([0.5, -0.5, 1.0, 2.0]);
  net.layers[1].bias.set([0.1, -0.1]);
  return net;
}

const x = Float32Array.of(1, 2);
const labels = Uint8Array.of(1);
const p0 = 1 / (1 + Math.exp(-0.9));
const p1 = 1 / (1 + Math.exp(0.9));

describe.each(everyBackend())('forward and backward by hand ($label)', ({ make }) => {
  it('forward returns both layers: ReLU hidden, softmax output', () => {
    const [hidden, output] = handNetwork(make).forward(x);
    expect(hidden[0]).toBeCloseTo(0.7, 6);
    expect(hidden[1]).toBe(0);
    expect(output[0]).toBeCloseTo(p0, 6);
    expect(output[1]).toBeCloseTo(p1, 6);
  });

  it('gradients follow the chain rule through softmax, W2, the ReLU mask and W1', () => {
    // dE/dz2 = p − onehot(1) = (p0, −p0) since p1 − 1 = −p0.
    // dW2 = hᵀ·dz2, db2 = dz2; dh = dz2·W2ᵀ = (p0·0.5 + p0·0.5, p0·1 − p0·2) = (p0, −p0), masked by relu'(z1) = (1, 0)
    // dW1 = xᵀ·dz1 = [[1·p0, 0], [2·p0, 0]], db1 = (p0, 0)
    const g = handNetwork(make).gradients(x, labels);
    const expected = [p0, 0, 2 * p0, 0, p0, 0, 0.7 * p0, -0.7 * p0, 0, 0, p0, -p0];
    expect(g.length).toBe(expected.length);
    expected.forEach((value, i) => expect(g[i]).toBeCloseTo(value, 6));
  });

  it('backprop moves every parameter by −lr·gradient', () => {
    const net = handNetwork(make);
    const before = net.params.slice();
    const g = net.gradients(x, labels);
    net.backprop(g, 0.5);
    for (let i = 0; i < before.length; i++) expect(net.params[i]).toBeCloseTo(before[i] - 0.5 * g[i], 6);
  });
});

describe('network', () => {
  it('sizes the seed network: 784·30 + 30 + 30·10 + 10 parameters', () => {
    expect(new Network([784, 30, 10]).parameterCount).toBe(23860);
  });

  it('initWeights draws normal(0, 0.1) weights and zero biases, the same for the same seed', () => {
    const a = new Network([784, 30, 10]).initWeights(7);
    const b = new Network([784, 30, 10]).initWeights(7);
    const c = new Network([784, 30, 10]).initWeights(8);
    expect(a.params).toEqual(b.params);
    expect(a.params).not.toEqual(c.params);
    const w = a.layers[0].weight;
    const mean = w.reduce((s, v) => s + v, 0) / w.length;
    const std = Math.sqrt(w.reduce((s, v) => s + (v - mean) ** 2, 0) / w.length);
    expect(Math.abs(mean)).toBeLessThan(0.003);
    expect(std).toBeGreaterThan(0.097);
    expect(std).toBeLessThan(0.103);
    expect(a.layers[0].bias.every((v) => v === 0)).toBe(true);
  });

  it('predicts the most probable class', () => {
    expect(Array.from(handNetwork(everyBackend()[0].make).predict(Float32Array.of(1, 2, -1, 0)))).toEqual([0, 1]);
  });

  it('refuses bad sizes and inputs', () => {
    expect(() => new Network([784])).toThrow(/at least an input and an output/);
    expect(() => new Network([784, 0, 10])).toThrow(/positive integers/);
    expect(() => new Network([3, 2]).forward(new Float32Array(4))).toThrow(/not a multiple of 3/);
  });
});

describe('helpers', () => {
  it('reluDerivative is 1 for active units and 0 otherwise', () => {
    expect([2, 0.001, 0, -3].map(reluDerivative)).toEqual([1, 1, 0, 0]);
  });

  it('accuracy and crossEntropy match the seed definitions', () => {
    const probs = Float32Array.of(0.9, 0.1, 0.2, 0.8, 0.6, 0.4);
    const y = Uint8Array.of(0, 1, 1);
    expect(accuracy(probs, y, 2)).toBeCloseTo(2 / 3, 10);
    expect(crossEntropy(probs, y, 2)).toBeCloseTo(-(Math.log(0.9) + Math.log(0.8) + Math.log(0.4)) / 3, 6);
    expect(Number.isFinite(crossEntropy(Float32Array.of(1, 0), Uint8Array.of(1), 2))).toBe(true);
  });

  it('the RNG is deterministic, uniform and unbiased in range', () => {
    const a = new Rng(1);
    const b = new Rng(1);
    const draws = Array.from({ length: 10000 }, () => a.uniform());
    expect(draws.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => b.uniform()));
    const mean = draws.reduce((s, v) => s + v, 0) / draws.length;
    expect(mean).toBeGreaterThan(0.49);
    expect(mean).toBeLessThan(0.51);
    const order = Uint32Array.from({ length: 100 }, (_, i) => i);
    new Rng(3).shuffle(order);
    expect(Array.from(order).sort((p, q) => p - q)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(Array.from(order)).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});
