import { describe, expect, it } from 'vitest';
import { Network, accuracy, crossEntropy, reluDerivative } from '../src/model/network.js';
import { Rng } from '../src/model/rng.js';
import { OptimizerState, sgd, type Backend } from '../src/backends/backend.js';
import { activate, derivative } from '../src/backends/activations.js';
import { optimizerStep } from '../src/backends/ts.js';
import { readInitFile } from '../src/model/init-file.js';
import { argmaxRow } from '../src/model/metrics.js';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { everyBackend, tempDir } from './helpers.js';

/**
 * A 2-2-2 network small enough to do by hand: x = (1, 2), label 1.
 *   z1 = x·W1 + b1 = (1·0.1 + 2·0.3 + 0, 1·(−0.5) + 2·0.1 + 0.1) = (0.7, −0.2) → h = relu(z1) = (0.7, 0)
 *   z2 = h·W2 + b2 = (0.7·0.5 + 0.1, 0.7·(−0.5) − 0.1) = (0.45, −0.45)
 *   p  = softmax(z2) = (1/(1+e^−0.9), 1/(1+e^0.9))
 */
function handNetwork(make: () => Backend): Network {
  const net = new Network([2, 2, 2], { backend: make() });
  net.layers[0].weight.set([0.1, -0.5, 0.3, 0.1]);
  net.layers[0].bias!.set([0, 0.1]);
  net.layers[1].weight.set([0.5, -0.5, 1.0, 2.0]);
  net.layers[1].bias!.set([0.1, -0.1]);
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
    expect(a.layers[0].bias!.every((v) => v === 0)).toBe(true);
    // Known answers: the first weights of each layer for seed 7 (a change of generator, transform or order shows here).
    expect(Array.from(a.layers[0].weight.subarray(0, 4))).toEqual([
      -0.07277058809995651, -0.00560408178716898, 0.05095171555876732, 0.09654652327299118,
    ]);
    expect(Array.from(a.layers[1].weight.subarray(0, 2))).toEqual([-0.1660500168800354, 0.11113215237855911]);
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
    // xoshiro128** seeded by splitmix32, as a Python transcription of the published algorithms computes it.
    const known = new Rng(1);
    expect(Array.from({ length: 5 }, () => known.nextUint32())).toEqual([
      2442144158, 3238099751, 3819917871, 2104621829, 2021136066,
    ]);
    const draws = Array.from({ length: 10000 }, () => a.uniform());
    expect(draws.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => b.uniform()));
    expect(Math.min(...draws)).toBeLessThan(0.001);
    expect(Math.max(...draws)).toBeGreaterThan(0.999);
    const mean = draws.reduce((s, v) => s + v, 0) / draws.length;
    expect(mean).toBeGreaterThan(0.49);
    expect(mean).toBeLessThan(0.51);
    const order = Uint32Array.from({ length: 100 }, (_, i) => i);
    new Rng(3).shuffle(order);
    expect(Array.from(order).sort((p, q) => p - q)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(Array.from(order)).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('a tie goes to the first class, as numpy.argmax does', () => {
    expect(accuracy(Float32Array.of(0.5, 0.5, 0.2, 0.4, 0.4), Uint8Array.of(0), 5)).toBe(1);
    expect(accuracy(Float32Array.of(0.5, 0.5), Uint8Array.of(1), 2)).toBe(0);
  });

  it('below(n) rejects the draws past the largest multiple of n (no modulo bias)', () => {
    // n = 3·2^30: draws of 3·2^30 or more (a quarter of them) are drawn again.
    const n = 3 * 2 ** 30;
    const raw = new Rng(5);
    let rejected = 0;
    const expected = Array.from({ length: 40 }, () => {
      for (;;) {
        const r = raw.nextUint32();
        if (r < n) return r;
        rejected++;
      }
    });
    const rng = new Rng(5);
    expect(Array.from({ length: 40 }, () => rng.below(n))).toEqual(expected);
    expect(rejected).toBeGreaterThan(0);
  });

  it('shuffle draws exactly one number per swap (n − 1 of them), so what follows is reproducible', () => {
    const shuffled = new Rng(9);
    shuffled.shuffle(Uint32Array.of(0, 1, 2));
    const twin = new Rng(9);
    twin.below(3);
    twin.below(2);
    expect(shuffled.nextUint32()).toBe(twin.nextUint32());
  });
});

describe('general networks', () => {
  it('checks activations against the loss', () => {
    expect(() => new Network([3, 2, 1], { loss: 'mse', output: 'softmax' })).toThrow(
      /mse error needs a sigmoid, tanh, bipolar, linear output/,
    );
    expect(() => new Network([3, 2, 1], { output: 'sigmoid' })).toThrow(/cross-entropy error needs a softmax output/);
    expect(() => new Network([3, 2, 1], { hidden: 'linear' })).toThrow(/hidden layer cannot use linear/);
    expect(() => new Network([3, 2, 2, 1], { hidden: ['tanh'] })).toThrow(
      /1 hidden activations given for 2 hidden layers/,
    );
    const net = new Network([3, 4, 2, 1], { hidden: ['tanh', 'sigmoid'], loss: 'mse', bias: false });
    expect(net.activations).toEqual(['tanh', 'sigmoid', 'linear']);
    expect(net.parameterCount).toBe(3 * 4 + 4 * 2 + 2 * 1);
    expect(net.layers[0].bias).toBeNull();
  });

  it('activations and their derivatives, from the output', () => {
    for (const [activation, z] of [
      ['sigmoid', 0.3],
      ['tanh', -0.7],
      ['bipolar', 1.1],
    ] as const) {
      const h = 1e-6;
      const slope = (activate(activation, z + h) - activate(activation, z - h)) / (2 * h);
      expect(derivative(activation, activate(activation, z))).toBeCloseTo(slope, 8);
    }
    expect(activate('bipolar', 0.4)).toBeCloseTo(Math.tanh(0.2), 12);
  });

  it('init schemes: he and xavier scale with the layer, uniform stays in range', () => {
    const stats = (values: Float32Array): { std: number; max: number } => {
      const mean = values.reduce((s, v) => s + v, 0) / values.length;
      return {
        std: Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length),
        max: values.reduce((m, v) => Math.max(m, Math.abs(v)), 0),
      };
    };
    const he = new Network([400, 300, 10]).initialize({ scheme: 'he' }, 1);
    expect(stats(he.layers[0].weight).std).toBeCloseTo(Math.sqrt(2 / 400), 2);
    const xavier = new Network([400, 300, 10]).initialize({ scheme: 'xavier' }, 1);
    expect(stats(xavier.layers[0].weight).max).toBeLessThanOrEqual(Math.sqrt(6 / 700));
    expect(stats(xavier.layers[0].weight).std).toBeCloseTo(Math.sqrt(6 / 700) / Math.sqrt(3), 2);
    const uniform = new Network([400, 300, 10]).initialize({ scheme: 'uniform', low: -0.5, high: 0.5 }, 1);
    // Both ends of [−0.5, 0.5] are reached (a draw from [0, 0.5] would pass a check of the largest magnitude).
    const weights = Array.from(uniform.layers[0].weight);
    expect(Math.min(...weights)).toBeGreaterThanOrEqual(-0.5);
    expect(Math.min(...weights)).toBeLessThan(-0.499);
    expect(Math.max(...weights)).toBeLessThanOrEqual(0.5);
    expect(Math.max(...weights)).toBeGreaterThan(0.499);
    expect(weights.slice(0, 3)).toEqual([0.06860599666833878, 0.2539288401603699, 0.3893939256668091]);
  });

  it('reads weights from JSON, one row per neuron, and names shape mismatches', () => {
    const dir = tempDir();
    const path = join(dir, 'w.json');
    writeFileSync(
      path,
      JSON.stringify({
        weights: [
          [
            [-0.2, 0.3, -0.4],
            [0.1, -0.3, -0.4],
          ],
          [0.2, 0.3],
        ],
      }),
    );
    const net = new Network([3, 2, 1], { hidden: 'bipolar', output: 'bipolar', loss: 'mse', bias: false }).initialize(
      readInitFile(path),
      1,
    );
    // Stored inputs × outputs: weight[input * outputs + neuron].
    expect(Array.from(net.layers[0].weight)).toEqual([-0.2, 0.1, 0.3, -0.3, -0.4, -0.4].map(Math.fround));
    expect(Array.from(net.layers[1].weight)).toEqual([0.2, 0.3].map(Math.fround));
    const wide = new Network([4, 2, 1], { loss: 'mse', bias: false });
    expect(() => wide.initialize(readInitFile(path), 1)).toThrow(
      /w\.json: layer 1 weights are 2×3, expected 2×4 \(neurons × inputs\)/,
    );
    writeFileSync(path, '{"weights": [[1, "a"]]}');
    expect(() => readInitFile(path)).toThrow(/numbers only/);
    writeFileSync(path, '{');
    expect(() => readInitFile(path)).toThrow(/not valid JSON/);
  });

  it('a weights file: biases set (and zero where not given), every way it can be wrong named', () => {
    const dir = tempDir();
    let n = 0;
    const file = (body: unknown): string => {
      const path = join(dir, `w${n++}.json`);
      writeFileSync(path, typeof body === 'string' ? body : JSON.stringify(body));
      return path;
    };
    const w1 = [
      [1, 2],
      [3, 4],
      [5, 6],
    ];
    const w2 = [[7, 8, 9]];
    const net = (bias = true): Network => new Network([2, 3, 1], { loss: 'mse', output: 'sigmoid', bias });
    const given = net()
      .initialize({ scheme: 'normal', std: 1 }, 3)
      .initialize(readInitFile(file({ weights: [w1, w2], biases: [[0.5, -0.5, 0.25], [2]] })), 1);
    expect(Array.from(given.layers[0].bias!)).toEqual([0.5, -0.5, 0.25]);
    expect(Array.from(given.layers[1].bias!)).toEqual([2]);
    expect(Array.from(given.layers[1].weight)).toEqual([7, 8, 9]);
    // Biases not given are zero, whatever the network held before.
    const noBiases = net()
      .initialize({ scheme: 'normal', std: 1 }, 3)
      .initialize(readInitFile(file([w1, w2])), 1);
    expect(Array.from(noBiases.layers[0].bias!)).toEqual([0, 0, 0]);
    // A single neuron's weights may be one flat row.
    expect(Array.from(net().initialize(readInitFile(file({ weights: [w1, [7, 8, 9]] })), 1).layers[1].weight)).toEqual([
      7, 8, 9,
    ]);
    const refusals: [unknown, RegExp][] = [
      [{ weights: 'w' }, /expected \{"weights": \[matrix per layer\]/],
      [null, /expected \{"weights": \[matrix per layer\]/],
      [{ weights: [w1, [[7, 8, 9], 'x']] }, /numbers only/],
      [
        {
          weights: [
            w1,
            [
              [7, 8, 9],
              [1, 'x', 2],
            ],
          ],
        },
        /numbers only/,
      ],
      [{ weights: [w1, 5] }, /numbers only/],
      [{ weights: [w1, w2], biases: 'b' }, /"biases" must be a list of number vectors, one per layer/],
      [{ weights: [w1, w2], biases: [[1, 2, 3], ['x']] }, /"biases" must be a list of number vectors/],
      ['{"weights": [[[1, 2], [3, 4], [5, 6]], [[7, 8, 1e999]]]}', /holds a value that is not a finite number/],
      [
        '{"weights": [[[1, 2], [3, 4], [5, 6]], [[7, 8, 9]]], "biases": [[1, 2, -1e999], [0]]}',
        /holds a value that is not a finite number/,
      ],
    ];
    for (const [body, message] of refusals)
      expect(() => readInitFile(file(body)), JSON.stringify(body)).toThrow(message);
    const shape: [unknown, RegExp, boolean?][] = [
      [[w1], /has weights for 1 layers, the network has 2/],
      [[w1, w2, w2], /has weights for 3 layers, the network has 2/],
      [[w1.slice(0, 2), w2], /layer 1 weights are 2×2, expected 3×2 \(neurons × inputs\)/],
      [[[[1, 2], [3, 4], [5]], w2], /layer 1 weights are 3×2, expected 3×2/],
      [[w1, [[]]], /layer 2 weights are 1×0, expected 1×3/],
      // An empty list is an empty flat row.
      [[w1, []], /layer 2 weights are 1×0, expected 1×3/],
      [{ weights: [w1, w2], biases: [[1, 2], [0]] }, /layer 1 has 2 biases, expected 3/],
      [
        { weights: [w1, w2], biases: [[1, 2, 3], [0]] },
        /gives biases, but the network has none \(drop --no-bias\)/,
        false,
      ],
    ];
    for (const [body, message, bias] of shape)
      expect(() => net(bias).initialize(readInitFile(file(body)), 1), JSON.stringify(body)).toThrow(message);
    const big = join(dir, 'big.json');
    writeFileSync(big, '');
    truncateSync(big, 256 * 2 ** 20 + 1);
    expect(() => readInitFile(big)).toThrow(/big\.json: larger than a weights file this reader takes \(256 MiB\)/);
  });

  it('predict reads the last layer of a deeper network, and unknown names are refused by name', () => {
    const deep = new Network([4, 5, 6, 3]).initWeights(2);
    const x = Float32Array.from({ length: 8 * 4 }, (_, i) => ((i * 7) % 11) / 11);
    const outputs = deep.forward(x).at(-1)!;
    expect(outputs.length).toBe(8 * 3);
    expect(Array.from(deep.predict(x))).toEqual(Array.from({ length: 8 }, (_, r) => argmaxRow(outputs, r, 3)));
    // An output bias that makes class 2 win everywhere: only the last layer's outputs say so.
    deep.layers[2].bias!.set([0, 0, 50]);
    expect(Array.from(deep.predict(x))).toEqual(new Array(8).fill(2));
    expect(() => new Network([2, 2], { loss: 'hinge' as never })).toThrow(
      /^unknown loss 'hinge' \(expected cross-entropy, mse\)$/,
    );
    expect(() => new Network([2, 3, 2], { hidden: 'softmax' })).toThrow(
      /^a hidden layer cannot use softmax \(expected relu, sigmoid, tanh, bipolar, gelu, silu\)$/,
    );
  });

  it('one optimizer step by hand: momentum and adam', () => {
    const net = new Network([1, 1], { loss: 'mse', bias: false });
    net.params[0] = 1;
    const grads = Float32Array.of(0.5);
    const momentum = { ...sgd(0.1), name: 'momentum' as const, momentum: 0.9 };
    const state = new OptimizerState(1, 'momentum');
    state.first[0] = 0.2;
    optimizerStep(net, grads, momentum, state);
    expect(state.first[0]).toBeCloseTo(0.9 * 0.2 + 0.5, 6);
    expect(net.params[0]).toBeCloseTo(1 - 0.1 * 0.68, 6);
    net.params[0] = 1;
    const adam = { ...sgd(0.01), name: 'adam' as const };
    const adamState = new OptimizerState(1, 'adam');
    optimizerStep(net, grads, adam, adamState);
    // First step: m̂ = g, v̂ = g², so the step is lr · g / (|g| + ε) ≈ lr.
    expect(net.params[0]).toBeCloseTo(1 - 0.01, 6);
    expect(Array.from(adamState.scalars)).toEqual([1, 0.9, 0.999]);
  });
});
