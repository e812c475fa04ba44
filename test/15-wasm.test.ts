import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EVAL_ROWS, OptimizerState, sgd, Workspace, type Backend, type EpochOptions } from '../src/backends/backend.js';
import { NativeBackend } from '../src/backends/native.js';
import { selectBackend } from '../src/backends/select.js';
import { TsBackend } from '../src/backends/ts.js';
import { WorkerBackend } from '../src/backends/ts-worker.js';
import type { Dataset } from '../src/data/dataset.js';
import { Network, type NetworkOptions } from '../src/model/network.js';
import { fit, type FitOptions } from '../src/train/fit.js';
import { augmentationParams, fieldBank, parseAugmentation, type Augmentation } from '../src/train/augmentation.js';
import { realMnist, runCli, supportedIsas, wasmBackend } from './helpers.js';

function firstSamples(data: Dataset, count: number): Dataset {
  return { ...data, x: data.x.subarray(0, count * data.features), labels: data.labels?.subarray(0, count), count };
}

const same = (a: Float32Array, b: Float32Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

const root = join(__dirname, '..');

/** Networks and runs that reach every part of the engine: each kind of layer, loss, optimizer and sampling. */
const RUNS: { label: string; sizes: number[]; network: NetworkOptions; training: FitOptions }[] = [
  { label: 'the seed network', sizes: [784, 30, 10], network: {}, training: { epochs: 2, batchSize: 100 } },
  {
    label: 'dropout, adam, a cosine schedule, shuffled, a last partial batch',
    sizes: [784, 64, 32, 10],
    network: { dropout: [0.3, 0.1] },
    training: {
      epochs: 2,
      batchSize: 64,
      optimizer: { name: 'adam' },
      learningRate: 0.002,
      schedule: { name: 'cosine', warmup: 10 },
      sampling: 'shuffle',
      seed: 5,
    },
  },
  {
    label: 'mse with a sigmoid output, momentum, random sampling, no biases',
    sizes: [784, 24, 10],
    network: { loss: 'mse', output: 'sigmoid', bias: false },
    training: {
      epochs: 1,
      batchSize: 20,
      optimizer: { name: 'momentum' },
      learningRate: 0.05,
      sampling: 'random',
      seed: 2,
    },
  },
  {
    label: 'gelu and silu (their z kept), rmsprop with weight decay',
    sizes: [784, 32, 16, 10],
    network: { hidden: ['gelu', 'silu'] },
    training: { epochs: 1, batchSize: 50, optimizer: { name: 'rmsprop', weightDecay: 1e-3 }, learningRate: 0.001 },
  },
];

describe('the wasm backend', () => {
  const data = firstSamples(realMnist().train, 3000);
  const validation = firstSamples(realMnist().test!, 1000);

  async function trained(
    backend: Backend,
    run: (typeof RUNS)[number],
  ): Promise<{ params: Float32Array; history: unknown }> {
    const net = new Network(run.sizes, { ...run.network, backend }).initialize({ scheme: 'he' }, 3);
    const result = await fit(net, data, { ...run.training, validation });
    // Everything but the timings.
    const history = result.history.map((m) => ({ ...m, trainSeconds: 0, evalSeconds: 0 }));
    return { params: net.params, history };
  }

  it.each(RUNS)('trains to the ts backend’s weights and epoch figures, bit for bit: $label', async (run) => {
    const ts = await trained(new TsBackend(), run);
    const wasm = await trained(wasmBackend(), run);
    expect(same(wasm.params, ts.params)).toBe(true);
    expect(wasm.history).toEqual(ts.history);
  });

  it('on a worker thread, as the CLI runs it, too; and equals the native scalar kernels', async () => {
    const run = RUNS[1];
    const ts = await trained(new TsBackend(), run);
    const local = wasmBackend();
    expect(same((await trained(new WorkerBackend(local), run)).params, ts.params)).toBe(true);
    if (supportedIsas.includes('scalar'))
      expect(same((await trained(new NativeBackend({ isa: 'scalar', threads: 1 }), run)).params, ts.params)).toBe(true);
  });

  it('stops where the stop flag says, and a run resumed there ends as the uninterrupted one', async () => {
    const run = RUNS[1];
    const whole = await trained(wasmBackend(), run);
    const net = new Network(run.sizes, { ...run.network, backend: wasmBackend() }).initialize({ scheme: 'he' }, 3);
    const controller = new AbortController();
    let reports = 0;
    const first = await fit(net, data, {
      ...run.training,
      signal: controller.signal,
      onProgress: () => {
        if (++reports === 7) controller.abort();
      },
    });
    expect(first.interrupted).toMatchObject({ reason: 'stopped', epoch: 1 });
    const { samplesDone } = first.interrupted!;
    expect(samplesDone).toBeGreaterThan(0);
    expect(samplesDone % run.training.batchSize!).toBe(0);
    await fit(net, data, { ...run.training, state: first.state, resume: { history: first.history, samplesDone } });
    expect(same(net.params, whole.params)).toBe(true);
  });

  it('warps images to the same bytes as the ts backend', async () => {
    const spec = parseAugmentation('shift=2,rotate=10,scale=0.1,elastic=34:4') as Augmentation;
    const images = data.x as Uint8Array;
    const job = (out: Uint8Array) => ({
      images,
      count: data.count,
      rows: 28,
      cols: 28,
      params: augmentationParams(spec, data.count, 5, 1),
      bank: fieldBank(spec, 28, 28, 5),
      out,
    });
    const [ts, wasm] = [new Uint8Array(images.length), new Uint8Array(images.length)];
    await new TsBackend().augment(job(ts));
    await wasmBackend().augment(job(wasm));
    expect(Buffer.from(wasm).equals(Buffer.from(ts))).toBe(true);
    expect(Buffer.from(wasm).equals(Buffer.from(images))).toBe(false);
  });

  it('refuses what the native engine refuses, with its words (validate.cc), and is usable after', async () => {
    const backend = wasmBackend();
    const net = new Network([784, 8, 10], { backend }).initWeights(1);
    const ws = Workspace.of(net, EVAL_ROWS);
    const bad = { ...validation, labels: validation.labels!.slice() };
    bad.labels[3] = 10;
    await expect(backend.evaluate(net, bad, ws)).rejects.toThrow(
      new RangeError('data.labels[3] is 10, but the network has 10 classes'),
    );
    const overlapping = { ...net, layout: [net.layout[0], { ...net.layout[1], weight: 10 }] };
    expect(() => backend.forward(overlapping, new Float32Array(784), 1, ws)).toThrow(
      /^net.layout: two layers' parameters overlap$/,
    );
    const order = Uint32Array.of(0, 1, 5000);
    await expect(
      backend.trainEpoch(
        net,
        data,
        { batchSize: 2, optimizer: sgd(0.1), state: new OptimizerState(net.params.length, 'sgd'), order },
        Workspace.of(net, 2),
      ),
    ).rejects.toThrow(/^options.order\[2\] is not a sample index below 3000$/);
    expect((await backend.evaluate(net, validation, ws)).accuracy).toBeGreaterThan(0);
  });

  // A batch of 0 looped for ever in the module before the binding checked it.
  it.runIf(supportedIsas.length)(
    'refuses a batch, a start and rows out of range in the native engine’s words, and never hangs',
    async () => {
      const net = (backend: Backend): Network => new Network([4, 3, 2], { backend }).initWeights(1);
      const tiny = { x: new Float32Array(40), labels: new Uint8Array(10), count: 10 };
      const refusal = async (backend: Backend, epoch: Partial<EpochOptions>, rows = 1): Promise<string[]> => {
        const n = net(backend);
        const ws = Workspace.of(n, 10);
        const options = {
          batchSize: 2,
          optimizer: sgd(0.1),
          state: new OptimizerState(n.params.length, 'sgd'),
          order: null,
        };
        const messages: string[] = [];
        await backend
          .trainEpoch(n, tiny, { ...options, ...epoch }, ws)
          .catch((err: Error) => messages.push(err.message));
        try {
          backend.forward(n, new Float32Array(4 * rows), rows, ws);
        } catch (err) {
          messages.push((err as Error).message);
        }
        return messages;
      };
      for (const [epoch, rows] of [
        [{ batchSize: 0 }, 1],
        [{ start: 11 }, 11],
        [{ start: -2 }, 0],
      ] as const) {
        const wasm = await refusal(wasmBackend(), epoch, rows);
        expect(wasm).toHaveLength(rows === 1 ? 1 : 2);
        expect(wasm).toEqual(await refusal(new NativeBackend({ threads: 1 }), epoch, rows));
      }
      expect(await refusal(wasmBackend(), { batchSize: 0 })).toEqual(['batchSize must be an integer from 1 to 10']);
      expect(await refusal(wasmBackend(), { start: 11 }, 11)).toEqual([
        'start must be an integer from 0 to 10',
        'rows must be an integer from 1 to ws.rows (10)',
      ]);
    },
  );

  it('is what auto falls back to without the addon, and says why; without its module, ts', () => {
    const run = (env: Record<string, string>) =>
      spawnSync(process.execPath, [join(root, 'bin/backprop.js'), 'info', '--json'], {
        env: { ...process.env, ...env },
        encoding: 'utf8',
      });
    const noAddon = JSON.parse(run({ BACKPROP_ADDON: '/nonexistent/backprop.node' }).stdout) as Record<string, string>;
    expect(noAddon).toMatchObject({ backend: 'wasm', fallback: expect.stringMatching(/using the wasm backend/) });
    const neither = JSON.parse(
      run({ BACKPROP_ADDON: '/nonexistent/backprop.node', BACKPROP_WASM: '/nonexistent/backprop.wasm' }).stdout,
    ) as Record<string, string>;
    expect(neither).toMatchObject({
      backend: 'ts',
      fallback: expect.stringMatching(
        /WebAssembly module not loaded \(\/nonexistent\/backprop.wasm not found\); using the ts backend/,
      ),
    });
    expect(selectBackend('wasm').backend.name).toBe('wasm');
  });

  it('from the command line: the same epoch lines as native; compare prints all three, differences 0', async () => {
    const args = ['train', '--epochs', '2', '--limit', '2000'];
    const lines = async (backend: string): Promise<string[]> =>
      (await runCli(...args, '--backend', backend)).out
        .filter((l) => l.startsWith('epoch'))
        .map((l) => l.replace(/\| [\d.]+ s$/, ''));
    expect(await lines('wasm')).toEqual(await lines('native'));
    const refused = await runCli(...args, '--backend', 'wasm', '--threads', '2');
    expect(refused.code).toBe(2);
    expect(refused.err).toEqual(['backprop: --threads applies to the native backend, not --backend wasm']);
    const compared = await runCli('compare', '--backends', 'native,wasm,ts', '--epochs', '1', '--limit', '1000');
    expect(compared.code).toBe(0);
    expect(compared.out.filter((l) => /^(native|wasm|ts)\b/.test(l))).toHaveLength(3);
    expect(compared.out.at(-1)).toBe(
      'largest weight differences: native–wasm 0.00e+0, native–ts 0.00e+0, wasm–ts 0.00e+0',
    );
    expect((await runCli('compare', '--backends', 'wasm')).err).toEqual([
      'backprop: --backends needs two backends or more to compare',
    ]);
  });
});
