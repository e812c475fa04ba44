import { describe, expect, it } from 'vitest';
import { takeFirst } from '../src/data/dataset.js';
import { Network } from '../src/model/network.js';
import { fit, sampleOrder } from '../src/train/fit.js';
import { runTutorial } from '../src/examples/tutorial.js';
import { NativeBackend } from '../src/backends/native.js';
import { everyBackend, realMnist, supportedIsas } from './helpers.js';

describe.each(everyBackend())('learning on real MNIST ($label)', ({ make }) => {
  it('2,000 samples, 3 epochs of batch 10: validation accuracy above 0.85', async () => {
    const { train, test } = realMnist();
    const net = new Network([784, 30, 10], { backend: make() }).initWeights(1);
    const epochs: number[] = [];
    const result = await fit(net, takeFirst(train, 2000), {
      validation: test,
      batchSize: 10,
      learningRate: 0.1,
      epochs: 3,
      onEpoch: (m) => epochs.push(m.epoch),
    });
    expect(epochs).toEqual([1, 2, 3]);
    const last = result.history.at(-1)!;
    expect(last.valAccuracy).toBeGreaterThan(0.85);
    expect(last.trainError).toBeLessThan(result.history[0].trainError);
    expect(result.trainSeconds).toBeLessThanOrEqual(result.totalSeconds);
  });
});

describe('fit', () => {
  it('uses a last partial batch (it is not dropped)', async () => {
    const { train } = realMnist();
    const run = async (count: number): Promise<Float32Array> => {
      const net = new Network([784, 8, 10], { backend: everyBackend()[0].make() }).initWeights(1);
      await fit(net, takeFirst(train, count), { batchSize: 100, epochs: 1 });
      return net.params;
    };
    expect(await run(250)).not.toEqual(await run(200));
  });

  it('--shuffle changes the order of the batches, reproducibly for a seed', async () => {
    const { train } = realMnist();
    const run = async (shuffle: boolean, seed: number): Promise<Float32Array> => {
      const net = new Network([784, 8, 10], { backend: everyBackend()[0].make() }).initWeights(1);
      await fit(net, takeFirst(train, 500), { batchSize: 50, epochs: 2, sampling: shuffle ? 'shuffle' : 'order', seed });
      return net.params;
    };
    const inOrder = await run(false, 1);
    expect(await run(true, 1)).toEqual(await run(true, 1));
    expect(await run(true, 1)).not.toEqual(inOrder);
    expect(await run(true, 2)).not.toEqual(await run(true, 1));
  });

  it('refuses a batch larger than the training set', async () => {
    const net = new Network([784, 8, 10]);
    await expect(fit(net, takeFirst(realMnist().train, 50), { batchSize: 100 })).rejects.toThrow(/larger than the training set/);
  });
});

describe('general training', () => {
  it('--steps trains exactly that many steps, the last epoch cut short', async () => {
    const train = takeFirst(realMnist().train, 1000);
    const net = new Network([784, 8, 10], { backend: everyBackend()[0].make() }).initWeights(1);
    const result = await fit(net, train, { batchSize: 100, steps: 25 });
    expect(result.history.map((m) => m.steps)).toEqual([10, 20, 25]);
    expect(result.history.at(-1)!.epochs).toBe(3);
  });

  it('random sampling draws with replacement, reproducibly for a seed', () => {
    const a = sampleOrder('random', 10, 1000, 7, 1)!;
    expect(a).toEqual(sampleOrder('random', 10, 1000, 7, 1));
    expect(a).not.toEqual(sampleOrder('random', 10, 1000, 7, 2));
    const counts = new Array(10).fill(0);
    a.forEach((i) => counts[i]++);
    expect(Math.min(...counts)).toBeGreaterThan(60);
    expect(new Set(sampleOrder('shuffle', 10, 10, 7, 1)).size).toBe(10);
  });

  it.each(everyBackend())('the tutorial network: without biases 6 signs right and the odd pair near 0; with biases all 8 ($label)', async ({ make }) => {
    const plain = await runTutorial({ bias: false, steps: 10000, learningRate: 0.01, seed: 1, backend: make() });
    const symmetric = plain.filter((row) => row.input.every((v) => v === row.input[0]));
    const others = plain.filter((row) => !symmetric.includes(row));
    expect(others.every((row) => Math.sign(row.output) === Math.sign(row.target))).toBe(true);
    expect(symmetric[0].output).toBeCloseTo(-symmetric[1].output, 5);
    for (const row of symmetric) expect(Math.abs(row.output)).toBeLessThan(0.2);
    const biased = await runTutorial({ bias: true, steps: 10000, learningRate: 0.01, seed: 1, backend: make() });
    expect(biased.every((row) => Math.sign(row.output) === Math.sign(row.target))).toBe(true);
  });

  it.runIf(supportedIsas.length)('MNIST: 128,64 tanh with adam reaches 0.97 in 5 epochs; mse with a sigmoid output 0.90', async () => {
    const { train, test } = realMnist();
    const adam = new Network([784, 128, 64, 10], { hidden: 'tanh', backend: new NativeBackend() }).initWeights(1);
    const adamRun = await fit(adam, train, { validation: test, epochs: 5, learningRate: 0.001, optimizer: { name: 'adam' } });
    expect(adamRun.history.at(-1)!.valAccuracy).toBeGreaterThanOrEqual(0.97);
    const mse = new Network([784, 30, 10], { loss: 'mse', output: 'sigmoid', backend: new NativeBackend() }).initWeights(1);
    const mseRun = await fit(mse, train, { validation: test, epochs: 5 });
    expect(mseRun.history.at(-1)!.valAccuracy).toBeGreaterThanOrEqual(0.9);
  });
});
