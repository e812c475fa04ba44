import { describe, expect, it } from 'vitest';
import { takeFirst } from '../src/data/dataset.js';
import { Network } from '../src/model/network.js';
import { fit } from '../src/train/fit.js';
import { everyBackend, realMnist } from './helpers.js';

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
