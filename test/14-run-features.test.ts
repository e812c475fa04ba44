import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EVAL_ROWS, Workspace, type Backend } from '../src/backends/backend.js';
import { applyNoise, rowKey } from '../src/backends/noise.js';
import { NativeBackend } from '../src/backends/native.js';
import { TsBackend } from '../src/backends/ts.js';
import type { Dataset } from '../src/data/dataset.js';
import { Network, type NetworkOptions } from '../src/model/network.js';
import { activation, dense, dropout, noise, type ModelDescription } from '../src/backends/layers.js';
import { describeNetwork } from '../src/cli/report.js';
import { toOnnx } from '../src/export/onnx.js';
import { architectureOf } from '../src/model/network.js';
import { loadModel } from '../src/model/safetensors.js';
import { loadCheckpoint, saveCheckpoint } from '../src/index.js';
import { fit, type FitOptions } from '../src/train/fit.js';
import { gradcheck } from '../src/train/gradcheck.js';
import { settingOf, TRAINING_SETTINGS } from '../src/train/settings.js';
import { findLearningRate } from '../src/train/lr-find.js';
import { augmentationParams, fieldBank, parseAugmentation, type Augmentation } from '../src/train/augmentation.js';
import { warpImages } from '../src/data/warp.js';
import { TRAIN_OPTIONS } from '../src/cli/specs.js';
import { interruptWhen, realMnist, runCli, supportedIsas, tempDir, wasmBackend } from './helpers.js';
import { undrawnMarks } from '../scripts/report-marks.mjs';

function firstSamples(data: Dataset, count: number): Dataset {
  return { ...data, x: data.x.subarray(0, count * data.features), labels: data.labels?.subarray(0, count), count };
}

const TRAINING: FitOptions = {
  epochs: 2,
  batchSize: 50,
  sampling: 'shuffle',
  seed: 7,
  optimizer: { name: 'adam' },
  learningRate: 0.002,
};

/** A 784-48-24-10 network trained two epochs on 2,000 real MNIST samples. */
async function trained(
  backend: Backend,
  options: NetworkOptions,
  training: FitOptions = TRAINING,
): Promise<Float32Array> {
  const net = new Network([784, 48, 24, 10], { ...options, backend }).initialize({ scheme: 'he' }, 3);
  await fit(net, firstSamples(realMnist().train, 2000), training);
  return net.params;
}

const same = (a: Float32Array, b: Float32Array): boolean => Buffer.from(a.buffer).equals(Buffer.from(b.buffer));

describe('the layer list', () => {
  const list: ModelDescription = {
    inputs: 784,
    layers: [
      dense(48),
      activation('relu'),
      dropout(0.5),
      dense(24),
      activation('tanh'),
      dense(10),
      activation('softmax'),
    ],
    loss: 'cross-entropy',
  };
  const options: NetworkOptions = { hidden: ['relu', 'tanh'], dropout: [0.5, 0] };

  it.each(['ts', 'native'] as const)(
    'is the network that sizes and options spell: the same list, layout, file and training, bit for bit (%s)',
    async (kind) => {
      const backend = (): Backend => (kind === 'ts' ? new TsBackend() : new NativeBackend());
      const fromSizes = new Network([784, 48, 24, 10], { ...options, backend: backend() });
      expect(fromSizes.description).toEqual(list);
      const fromList = new Network(list, { backend: backend() });
      expect(fromList.layout).toEqual(fromSizes.layout);
      expect(architectureOf(fromList)).toEqual(architectureOf(fromSizes));
      const data = firstSamples(realMnist().train, 2000);
      for (const net of [fromSizes, fromList]) {
        net.initialize({ scheme: 'he' }, 3);
        await fit(net, data, TRAINING);
      }
      expect(same(fromList.params, fromSizes.params)).toBe(true);
      expect(toOnnx(architectureOf(fromList), fromList.params, 'test')).toEqual(
        toOnnx(architectureOf(fromSizes), fromSizes.params, 'test'),
      );
    },
  );

  it('refuses, in one line, a list that is not a chain of dense layers with their activations', () => {
    const refused = (layers: ModelDescription['layers'], loss: ModelDescription['loss'] = 'cross-entropy'): string => {
      try {
        new Network({ inputs: 4, layers, loss });
      } catch (err) {
        return (err as Error).message;
      }
      return 'accepted';
    };
    const output = [dense(3), activation('softmax')];
    expect(refused(output)).toBe('accepted');
    expect(refused([])).toMatch(/^a network needs at least one dense layer$/);
    expect(refused([activation('relu'), ...output])).toMatch(/^layer 1 is relu where a dense layer belongs/);
    expect(refused([dense(5), dense(3), activation('softmax')])).toMatch(
      /^the dense layer 1 \(5 units\) has no activation/,
    );
    expect(refused([dense(5), activation('relu'), activation('tanh'), ...output])).toMatch(/^layer 3 is tanh where/);
    expect(refused([...output, dropout(0.2)])).toMatch(/^dropout belongs below the output layer/);
    expect(refused([dense(5), activation('relu'), dropout(1.5), ...output])).toMatch(
      /^a dropout rate is from 0 to 0.95/,
    );
    expect(refused([dense(5, { bias: false }), activation('relu'), ...output])).toMatch(/biases or none, all alike/);
    expect(refused([dense(5), activation('softmax'), ...output])).toMatch(/^a hidden layer cannot use softmax/);
    expect(refused([dense(3), activation('sigmoid')])).toMatch(/^the cross-entropy error needs a softmax output/);
    expect(refused(output, 'mse')).toMatch(/^the mse error needs/);
    expect(() => new Network(list, { hidden: 'tanh' })).toThrow(/takes its hidden from the list/);
  });

  it('is laid out in TypeScript only: the engine takes the offsets it is given and refuses ones it cannot use', () => {
    const net = new Network([4, 3, 2], { backend: new NativeBackend() }).initWeights(1);
    const ws = Workspace.of(net, 2);
    const x = new Float32Array(8).fill(0.5);
    const layerAbove = { ...net.layout[1] };
    // The second layer's weights moved behind its bias: the same numbers, read from where the layout says.
    const moved = new Float32Array(net.params.length);
    moved.set(net.params.subarray(0, 15));
    moved.set(net.params.subarray(21, 23), 15);
    moved.set(net.params.subarray(15, 21), 17);
    const relaid = { ...net, params: moved, layout: [net.layout[0], { ...layerAbove, weight: 17, bias: 15 }] };
    net.backend.forward(net, x, 2, ws);
    const expected = ws.acts[1].slice();
    net.backend.forward(relaid, x, 2, ws);
    expect(ws.acts[1]).toEqual(expected);
    const overlapping = { ...net, layout: [net.layout[0], { ...layerAbove, weight: 14 }] };
    expect(() => net.backend.forward(overlapping, x, 2, ws)).toThrow(/^net.layout: two layers' parameters overlap$/);
    const outside = { ...net, layout: [net.layout[0], { ...layerAbove, bias: 1e300 }] };
    expect(() => net.backend.forward(outside, x, 2, ws)).toThrow(/^net.layout\[1\].bias must be an offset/);
  });
});

describe('the dropout masks', () => {
  it('drop a fraction p of the units, scale the others by 1/(1 − p), and change with the step, the layer and the row', () => {
    const rows = 200;
    const width = 500;
    const acts = new Float32Array(rows * width).fill(1);
    const dropped = new Float32Array(rows * width);
    const keep = new Float32Array(rows * width);
    applyNoise(acts, dropped, keep, rows, width, { kind: 'dropout', rate: 0.3 }, { seed: 1, step: 0 }, 0);
    const zeros = keep.filter((f) => f === 0).length / keep.length;
    expect(zeros).toBeGreaterThan(0.29);
    expect(zeros).toBeLessThan(0.31);
    expect(new Set(keep)).toEqual(new Set([0, Math.fround(1 / 0.7)]));
    expect(same(dropped, keep)).toBe(true);
    const again = new Float32Array(rows * width);
    applyNoise(acts, dropped, again, rows, width, { kind: 'dropout', rate: 0.3 }, { seed: 1, step: 1 }, 0);
    const changed = keep.filter((f, i) => f !== again[i]).length / keep.length;
    // Two independent masks differ in 2·0.3·0.7 of the units.
    expect(changed).toBeGreaterThan(0.4);
    expect(rowKey({ seed: 1, step: 0 }, 0, 0)).not.toBe(rowKey({ seed: 1, step: 0 }, 1, 0));
    expect(rowKey({ seed: 1, step: 0 }, 0, 0)).not.toBe(rowKey({ seed: 1, step: 0 }, 0, 1));
    expect(rowKey({ seed: 1, step: 2 ** 32 }, 0, 0)).not.toBe(rowKey({ seed: 1, step: 0 }, 0, 0));
  });

  it('gaussian dropout multiplies each unit by a factor from N(1, p/(1 − p))', () => {
    const count = 200 * 500;
    const acts = new Float32Array(count).fill(2);
    const noisy = new Float32Array(count);
    const factors = new Float32Array(count);
    applyNoise(acts, noisy, factors, 200, 500, { kind: 'gaussian-dropout', rate: 0.2 }, { seed: 1, step: 0 }, 0);
    const mean = factors.reduce((a, f) => a + f, 0) / count;
    const variance = factors.reduce((a, f) => a + (f - mean) ** 2, 0) / count;
    expect(Math.abs(mean - 1)).toBeLessThan(0.01);
    expect(Math.abs(variance - 0.25)).toBeLessThan(0.01);
    expect(noisy.every((v, i) => v === Math.fround(2 * factors[i]))).toBe(true);
  });
});

describe('a second noise kind on every backend', () => {
  const layers = (kind: 'dropout' | 'gaussian-dropout'): ModelDescription => ({
    inputs: 784,
    layers: [
      dense(48),
      activation('relu'),
      noise(kind, 0.3),
      dense(24),
      activation('tanh'),
      noise(kind, 0.1),
      dense(10),
      activation('softmax'),
    ],
    loss: 'cross-entropy',
  });
  it('gaussian dropout trains to the same bits on ts, native at 1-3 threads and wasm, is saved, and is off at evaluation', async () => {
    const data = firstSamples(realMnist().train, 2000);
    const run = async (
      backend: Backend,
      kind: 'dropout' | 'gaussian-dropout' = 'gaussian-dropout',
    ): Promise<Network> => {
      const net = new Network(layers(kind), { backend }).initialize({ scheme: 'he' }, 3);
      await fit(net, data, TRAINING);
      return net;
    };
    const net = await run(new TsBackend());
    for (const threads of [1, 2, 3])
      expect(same((await run(new NativeBackend({ threads }))).params, net.params)).toBe(true);
    expect(same((await run(wasmBackend())).params, net.params)).toBe(true);
    expect(same((await run(new TsBackend(), 'dropout')).params, net.params)).toBe(false);
    expect(architectureOf(net)).toMatchObject({ 'gaussian-dropout': [0.3, 0.1] });
    const plain = new Network([784, 48, 24, 10], { hidden: ['relu', 'tanh'], backend: new TsBackend() });
    plain.params.set(net.params);
    const x = data.x.subarray(0, 20 * 784);
    expect(same(net.forward(x).at(-1)!, plain.forward(x).at(-1)!)).toBe(true);
    expect(describeNetwork(net)).toMatch(/gaussian-dropout 0.3, 0.1$/);
  });
});

describe('dropout on every backend', () => {
  const options: NetworkOptions = { dropout: [0.5, 0.2] };

  it.runIf(supportedIsas.length).each(supportedIsas.flatMap((isa) => [1, 2, 3].map((threads) => ({ isa, threads }))))(
    'native $isa on $threads threads trains to the ts backend’s weights, bit for bit',
    async ({ isa, threads }) => {
      const ts = await trained(new TsBackend(), options);
      const native = await trained(new NativeBackend({ isa, threads }), options);
      expect(same(native, ts)).toBe(true);
    },
  );

  it.runIf(supportedIsas.length)('plain SGD (its update fused into the products) too, bit for bit', async () => {
    const sgd: FitOptions = { ...TRAINING, optimizer: { name: 'sgd' }, learningRate: 0.1 };
    const ts = await trained(new TsBackend(), options, sgd);
    const native = await trained(new NativeBackend({ threads: 2 }), options, sgd);
    expect(same(native, ts)).toBe(true);
  });

  it.runIf(supportedIsas.length)(
    'tanh hidden layers agree to 1e-5 (as without dropout: exp differs in its last bit)',
    async () => {
      const tanh: NetworkOptions = { hidden: 'tanh', dropout: 0.3 };
      const ts = await trained(new TsBackend(), tanh);
      const native = await trained(new NativeBackend({ threads: 2 }), tanh);
      let worst = 0;
      for (let i = 0; i < ts.length; i++)
        worst = Math.max(worst, Math.abs(native[i] - ts[i]) / Math.max(1e-3, Math.abs(ts[i])));
      expect(worst).toBeLessThan(1e-5);
    },
  );

  it('dropout 0 is no dropout, bit for bit, and dropout changes the weights', async () => {
    const backends: Backend[] = [new TsBackend(), ...(supportedIsas.length ? [new NativeBackend()] : [])];
    for (const backend of backends) {
      const none = await trained(backend, {});
      expect(same(await trained(backend, { dropout: 0 }), none)).toBe(true);
      expect(same(await trained(backend, { dropout: 0.2 }), none)).toBe(false);
    }
  });

  it('is off at evaluation: a network with dropout scores as the same weights without it', async () => {
    const test = firstSamples(realMnist().test!, 1000);
    const withDropout = new Network([784, 48, 24, 10], { dropout: 0.5 }).initialize({ scheme: 'he' }, 3);
    const without = new Network([784, 48, 24, 10]).initialize({ scheme: 'he' }, 3);
    const a = await withDropout.backend.evaluate(withDropout, test, Workspace.of(withDropout, EVAL_ROWS));
    const b = await without.backend.evaluate(without, test, Workspace.of(without, EVAL_ROWS));
    expect(a).toEqual(b);
    expect(same(withDropout.forward(test.x).at(-1)!, without.forward(test.x).at(-1)!)).toBe(true);
  });

  it.each([
    ['ts', () => new TsBackend()],
    ...(supportedIsas.length ? [['native', () => new NativeBackend()] as const] : []),
  ] as const)('gradcheck holds through a fixed mask (%s)', (_, make) => {
    const checks = gradcheck({
      sizes: [7, 6, 5, 3],
      network: { hidden: 'tanh', dropout: [0.5, 0.3] },
      backend: make(),
      rows: 6,
      seed: 2,
    });
    for (const check of checks) expect(check.relativeError).toBeLessThan(1e-4);
    const gaussian = gradcheck({
      sizes: {
        inputs: 7,
        layers: [dense(6), activation('tanh'), noise('gaussian-dropout', 0.5), dense(3), activation('softmax')],
        loss: 'cross-entropy',
      },
      network: {},
      backend: make(),
      rows: 6,
      seed: 2,
    });
    expect(gaussian).toHaveLength(4);
    for (const check of gaussian) expect(check.relativeError).toBeLessThan(1e-4);
  });
});

describe('dropout from the command line', () => {
  it('is saved in the model and the report, refused on resume when it contradicts, and resumes mid-epoch exactly', async () => {
    const dir = tempDir();
    const args = ['--hidden', '256,64', '--dropout', '0.3,0.1', '--epochs', '2', '--limit', '20000', '--shuffle'];
    const { code, stderr } = await interruptWhen(
      [...args, '--json', '--progress-json', '--save', join(dir, 'a.safetensors')],
      'SIGINT',
      '"event":"progress","epoch":2',
    );
    expect(code).toBe(130);
    expect(stderr).toMatch(/interrupted in epoch 2/);
    const conflict = await runCli('--resume', join(dir, 'a.safetensors'), '--dropout', '0.5');
    expect(conflict.code).toBe(2);
    expect(conflict.err[0]).toMatch(/--dropout 0.5 contradicts .*trained with 0.3,0.1/);
    const resumed = await runCli('--resume', join(dir, 'a.safetensors'), '--save', join(dir, 'a.safetensors'));
    expect(resumed.code).toBe(0);
    const whole = await runCli(...args, '--save', join(dir, 'b.safetensors'));
    expect(whole.out[0]).toMatch(/dropout 0.3, 0.1\)/);
    const a = loadModel(join(dir, 'a.safetensors'));
    const b = loadModel(join(dir, 'b.safetensors'));
    expect(b.architecture.dropout).toEqual([0.3, 0.1]);
    expect(same(a.params, b.params)).toBe(true);
    expect((await runCli('report', '--model', join(dir, 'b.safetensors'), '--out', join(dir, 'b.html'))).code).toBe(0);
    expect(readFileSync(join(dir, 'b.html'), 'utf8')).toContain('dropout 0.3, 0.1');
  });

  it('a file without dropout records none; bad rates are one line, exit 2', async () => {
    const dir = tempDir();
    expect(
      (
        await runCli(
          '--hidden',
          '16',
          '--epochs',
          '1',
          '--limit',
          '1000',
          '--dropout',
          '0',
          '--save',
          join(dir, 'z.safetensors'),
        )
      ).code,
    ).toBe(0);
    expect(
      (await runCli('--hidden', '16', '--epochs', '1', '--limit', '1000', '--save', join(dir, 'n.safetensors'))).code,
    ).toBe(0);
    const [zero, none] = [loadModel(join(dir, 'z.safetensors')), loadModel(join(dir, 'n.safetensors'))];
    expect(zero.architecture).toEqual(none.architecture);
    expect(none.architecture.dropout).toBeUndefined();
    expect(same(zero.params, none.params)).toBe(true);
    for (const [rates, message] of [
      ['0,5', /write 0.5 for one/],
      ['1', /from 0 to 0.95/],
      ['0.2,0.2', /2 rates for 1 hidden layers/],
    ] as const) {
      const { code, err } = await runCli('--hidden', '16', '--dropout', rates);
      expect(code).toBe(2);
      expect(err).toHaveLength(1);
      expect(err[0]).toMatch(message);
    }
  });
});

describe('checkpoints from the library', () => {
  const cli = [
    '--hidden',
    '64',
    '--dropout',
    '0.2',
    '--shuffle',
    '--optimizer',
    'adam',
    '--lr',
    '0.001',
    '--seed',
    '3',
  ];
  const options: FitOptions = {
    epochs: 3,
    sampling: 'shuffle',
    optimizer: { name: 'adam' },
    learningRate: 0.001,
    seed: 3,
  };
  const data = (): Dataset => firstSamples(realMnist().train, 5000);
  const network = (): Network => new Network([784, 64, 10], { dropout: 0.2, backend: new TsBackend() }).initWeights(3);

  it('train, stop part-way, save, load and train on: the weights of the uninterrupted library and CLI runs', async () => {
    const dir = tempDir();
    const whole = network();
    await fit(whole, data(), options);

    const net = network();
    const controller = new AbortController();
    const first = await fit(net, data(), {
      ...options,
      signal: controller.signal,
      onProgress: (p) => p.epoch === 2 && p.samplesDone >= 2500 && controller.abort(),
    });
    expect(first.interrupted).toMatchObject({ reason: 'stopped', epoch: 2 });
    saveCheckpoint(join(dir, 'run.safetensors'), net, options, first);
    const again = loadCheckpoint(join(dir, 'run.safetensors'), new TsBackend());
    expect(again.options).toMatchObject(options);
    const rest = await fit(again.net, data(), again.options);
    expect(rest.history.map((m) => m.epoch)).toEqual([1, 2, 3]);
    expect(same(again.net.params, whole.params)).toBe(true);

    const run = await runCli(
      ...cli,
      '--epochs',
      '3',
      '--limit',
      '5000',
      '--backend',
      'ts',
      '--save',
      join(dir, 'cli.safetensors'),
    );
    expect(run.code).toBe(0);
    expect(same(loadModel(join(dir, 'cli.safetensors')).params, whole.params)).toBe(true);
  });

  // A library checkpoint does not know its data: the command line resumes it on the data it names, here the whole MNIST.
  it.runIf(supportedIsas.length)(
    'backprop train --resume continues a library checkpoint, and the library a CLI one',
    async () => {
      const dir = tempDir();
      const all = realMnist().train;
      const native = (): Network =>
        new Network([784, 64, 10], { dropout: 0.2, backend: new NativeBackend() }).initWeights(3);
      const net = native();
      const first = await fit(net, all, { ...options, epochs: 1 });
      saveCheckpoint(join(dir, 'lib.safetensors'), net, { ...options, epochs: 1 }, first);
      const limited = await runCli('--resume', join(dir, 'lib.safetensors'), '--limit', '10000');
      expect(limited.err[0]).toMatch(/--limit 10000 contradicts .*trained without --limit/);
      const resumed = await runCli(
        '--resume',
        join(dir, 'lib.safetensors'),
        '--epochs',
        '2',
        '--save',
        join(dir, 'lib.safetensors'),
      );
      expect(resumed.code).toBe(0);
      expect(resumed.err.join('\n')).toMatch(/resuming .* after epoch 1/);
      expect((await runCli(...cli, '--epochs', '1', '--save', join(dir, 'cli.safetensors'))).code).toBe(0);
      const fromCli = loadCheckpoint(join(dir, 'cli.safetensors'), new NativeBackend());
      await fit(fromCli.net, all, { ...fromCli.options, epochs: 2 });
      const whole = native();
      await fit(whole, all, { ...options, epochs: 2 });
      expect(same(loadModel(join(dir, 'lib.safetensors')).params, whole.params)).toBe(true);
      expect(same(fromCli.net.params, whole.params)).toBe(true);
    },
  );
});

describe('the table of training settings', () => {
  it('names options that exist, saves each in its place, and refuses on resume an option that contradicts it', async () => {
    const flags = new Set<string>(TRAIN_OPTIONS.map((spec) => spec.name));
    const withFlags = TRAINING_SETTINGS.filter((setting) => setting.flag !== undefined);
    expect(withFlags.filter((setting) => !flags.has(setting.flag!))).toEqual([]);
    const dir = tempDir();
    const model = join(dir, 'm.safetensors');
    const given: Record<string, string> = {
      optimizer: 'momentum',
      momentum: '0.8',
      schedule: 'step',
      warmup: '2',
      lr: '0.05',
      batch: '20',
      seed: '4',
      'weight-decay': '0.001',
      sampling: 'shuffle',
      limit: '400',
      classes: '10',
      steps: '30',
      augment: 'shift=2',
    };
    const saved = [...Object.entries(given).flatMap(([flag, value]) => [`--${flag}`, value]), '--hidden', '8'];
    expect((await runCli(...saved, '--save', model)).code).toBe(0);
    const training = loadModel(model).extra.training as object;
    const parsed = (flag: string, text: string): unknown =>
      flag === 'augment' ? parseAugmentation(text) : Number.isNaN(Number(text)) ? text : Number(text);
    for (const setting of withFlags.filter((s) => s.resume === 'saved')) {
      expect(settingOf(training, setting), setting.flag).toEqual(parsed(setting.flag!, given[setting.flag!]));
    }
    const contradicting: Record<string, string> = {
      lr: '0.5',
      batch: '50',
      seed: '9',
      optimizer: 'adam',
      momentum: '0.5',
      'weight-decay': '0.1',
      schedule: 'cosine',
      warmup: '3',
      sampling: 'random',
      limit: '500',
      classes: '11',
      steps: '40',
      augment: 'shift=1',
    };
    /** How a contradiction names a value, where that is not as it was typed. */
    const named: Record<string, string> = { augment: 'shift 1' };
    for (const setting of withFlags.filter((s) => s.resume === 'saved')) {
      const value = contradicting[setting.flag!];
      expect(value, setting.flag).toBeDefined();
      const { code, err } = await runCli('--resume', model, `--${setting.flag}`, value);
      expect(code, setting.flag).toBe(2);
      expect(err[0], setting.flag).toMatch(
        new RegExp(`^backprop: --${setting.flag} ${named[setting.flag!] ?? value} contradicts`),
      );
    }
  });
});

describe('the learning-rate finder', () => {
  const train = (): Dataset => firstSamples(realMnist().train, 10000);
  const seedNetwork = (backend: Backend): Network => new Network([784, 30, 10], { backend }).initWeights(1);

  it('grows the rate geometrically, is seeded, gives every backend the same losses, and suggests a rate that trains', async () => {
    const backends: Backend[] = [new TsBackend(), ...(supportedIsas.length ? [new NativeBackend({ threads: 2 })] : [])];
    const results = [];
    for (const backend of backends) results.push(await findLearningRate(seedNetwork(backend), train(), { steps: 60 }));
    const [ts] = results;
    expect(ts.points).toHaveLength(60);
    expect(ts.points[0].learningRate).toBeCloseTo(1e-7, 20);
    expect(ts.points.at(-1)!.learningRate).toBeCloseTo(10, 10);
    const ratios = ts.points.slice(1).map((p, i) => p.learningRate / ts.points[i].learningRate);
    for (const r of ratios) expect(r).toBeCloseTo(ratios[0], 10);
    // The weights agree bit for bit; a loss may differ in its last bits (exp and log are each side's own).
    for (const other of results.slice(1))
      other.points.forEach((p, i) =>
        expect(Math.abs(p.loss - ts.points[i].loss)).toBeLessThan(1e-12 * ts.points[i].loss),
      );
    const again = await findLearningRate(seedNetwork(new TsBackend()), train(), { steps: 60 });
    expect(again.points).toEqual(ts.points);
    expect(ts.suggestion).toBeGreaterThan(1e-3);
    expect(ts.suggestion).toBeLessThan(1);
    // The suggested rate trains better than rates far below or above it.
    const accuracy = async (learningRate: number): Promise<number> => {
      const { history } = await fit(seedNetwork(new TsBackend()), train(), {
        epochs: 1,
        learningRate,
        validation: firstSamples(realMnist().test!, 2000),
      });
      return history[0].valAccuracy!;
    };
    const suggested = await accuracy(ts.suggestion);
    expect(suggested).toBeGreaterThan((await accuracy(ts.suggestion / 100)) + 0.1);
    expect(suggested).toBeGreaterThan((await accuracy(ts.suggestion * 100)) + 0.1);
  });

  it('stops when the loss diverges', async () => {
    const result = await findLearningRate(seedNetwork(new TsBackend()), train(), { steps: 100, end: 1e4 });
    expect(result.diverged).toBe(true);
    expect(result.points.length).toBeLessThan(100);
    const last = result.points.at(-1)!;
    expect(
      !Number.isFinite(last.smoothed) || last.smoothed > 4 * Math.min(...result.points.map((p) => p.smoothed)),
    ).toBe(true);
  });

  it('backprop lr-find draws the loss against the rate and suggests --lr; JSON gives every point', async () => {
    const human = await runCli('lr-find', '--limit', '5000', '--steps', '50');
    expect(human.code).toBe(0);
    expect(human.out[0]).toMatch(/^learning-rate finder: 784-30-10 /);
    expect(human.out.filter((l) => l.includes('│'))).toHaveLength(12);
    expect(human.out.some((l) => l.includes('▲'))).toBe(true);
    expect(human.out.at(-1)).toMatch(/^suggested --lr \S+ \(fastai's valley/);
    const json = await runCli('lr-find', '--limit', '5000', '--steps', '50', '--json');
    const events = json.out.map((l) => JSON.parse(l) as { event: string });
    expect(events.filter((e) => e.event === 'lr')).toHaveLength(50);
    expect(events.at(-1)).toMatchObject({ event: 'suggestion' });
    const dir = tempDir();
    const report = await runCli('lr-find', '--limit', '5000', '--steps', '50', '--report', join(dir, 'lr.html'));
    expect(report.out).toContain(`wrote ${join(dir, 'lr.html')}`);
    const html = readFileSync(join(dir, 'lr.html'), 'utf8');
    expect(html).toContain('Loss against the learning rate');
    expect(undrawnMarks(html)).toEqual([]);
    const bad = await runCli('lr-find', '--start-lr', '1', '--end-lr', '0.1');
    expect(bad.code).toBe(2);
    expect(bad.err).toEqual(['backprop: --start-lr 1 must be below --end-lr 0.1']);
  });
});

describe('augmentation', () => {
  const spec: Augmentation = { shift: 2, rotate: 12, scale: 0.12, elastic: { alpha: 34, sigma: 4 } };
  const images = (): Dataset => firstSamples(realMnist().train, 3000);

  async function warped(backend: Backend, data: Dataset, epoch: number, augmentation = spec): Promise<Uint8Array> {
    const out = new Uint8Array(data.x.length);
    const params = augmentationParams(augmentation, data.count, 5, epoch);
    const bank = fieldBank(augmentation, 28, 28, 5);
    await backend.augment({ images: data.x as Uint8Array, count: data.count, rows: 28, cols: 28, params, bank, out });
    return out;
  }

  it('warps to the same bytes on every backend and thread count; seeded by the epoch; none is the identity', async () => {
    const data = images();
    const ts = await warped(new TsBackend(), data, 3);
    const natives = supportedIsas.length ? [1, 2, 3].map((threads) => new NativeBackend({ threads })) : [];
    for (const native of natives) expect(Buffer.from(await warped(native, data, 3)).equals(Buffer.from(ts))).toBe(true);
    expect(Buffer.from(await warped(new TsBackend(), data, 3)).equals(Buffer.from(ts))).toBe(true);
    const other = await warped(new TsBackend(), data, 4);
    expect(other.filter((v, i) => v !== ts[i]).length).toBeGreaterThan(0.1 * ts.length);
    const none = await warped(new TsBackend(), data, 3, { shift: 0, rotate: 0, scale: 0 });
    expect(Buffer.from(none).equals(Buffer.from(data.x))).toBe(true);
    // A whole-pixel shift moves the ink and keeps it.
    const shifted = new Uint8Array(784);
    const params = new Float64Array([1, 0, 1, 0, -1, 0]);
    warpImages(data.x as Uint8Array, 1, 28, 28, params, new Float32Array(0), shifted);
    for (let r = 1; r < 28; r++)
      for (let c = 0; c < 28; c++) expect(shifted[r * 28 + c]).toBe((data.x as Uint8Array)[(r - 1) * 28 + c]);
  });

  it.runIf(supportedIsas.length)(
    'fit trains to the same weights on ts and native, and augmented differs from plain',
    async () => {
      const options: FitOptions = { epochs: 2, batchSize: 50, sampling: 'shuffle', seed: 3, augment: spec };
      const run = async (backend: Backend, fitOptions: FitOptions): Promise<Float32Array> => {
        const net = new Network([784, 32, 10], { backend }).initWeights(2);
        await fit(net, images(), fitOptions);
        return net.params;
      };
      const ts = await run(new TsBackend(), options);
      expect(same(await run(new NativeBackend({ threads: 2 }), options), ts)).toBe(true);
      const plain = await run(new TsBackend(), { ...options, augment: undefined });
      expect(same(plain, ts)).toBe(false);
      // An augmentation of nothing is none, bit for bit.
      expect(same(await run(new TsBackend(), { ...options, augment: { shift: 0, rotate: 0, scale: 0 } }), plain)).toBe(
        true,
      );
      await expect(run(new TsBackend(), { ...options, augment: spec, batchSize: 10 })).resolves.toBeDefined();
    },
  );

  it('from the command line: in the header, saved, refused when a resume contradicts it, exact when resumed mid-epoch', async () => {
    const dir = tempDir();
    const args = [
      '--hidden',
      '64',
      '--epochs',
      '2',
      '--limit',
      '20000',
      '--shuffle',
      '--augment',
      'shift=2,rotate=10,elastic=30:4',
    ];
    const { code } = await interruptWhen(
      [...args, '--json', '--progress-json', '--save', join(dir, 'a.safetensors')],
      'SIGINT',
      '"event":"progress","epoch":2',
    );
    expect(code).toBe(130);
    const conflict = await runCli('--resume', join(dir, 'a.safetensors'), '--augment', 'shift=1');
    expect(conflict.code).toBe(2);
    expect(conflict.err[0]).toMatch(/--augment shift 1 contradicts .*trained with shift 2, rotate 10°, elastic 30:4/);
    expect((await runCli('--resume', join(dir, 'a.safetensors'), '--save', join(dir, 'a.safetensors'))).code).toBe(0);
    const whole = await runCli(...args, '--save', join(dir, 'b.safetensors'), '--report', join(dir, 'b.html'));
    expect(whole.out[2]).toMatch(/augmented \(shift 2, rotate 10°, elastic 30:4\)$/);
    // The report shows six digits as they are and as epochs 1–8 distorted them, each epoch's different.
    const html = readFileSync(join(dir, 'b.html'), 'utf8');
    expect(html).toContain('<h2>Augmented training digits (shift 2, rotate 10°, elastic 30:4)</h2>');
    expect(html.match(/<br>as it is<\/div>/g)).toHaveLength(6);
    const firstRow = [...html.matchAll(/src="(data:image\/png;base64,[^"]+)"><br>(?:as it is|epoch \d)</g)].slice(0, 9);
    expect(new Set(firstRow.map((m) => m[1])).size).toBe(9);
    expect(same(loadModel(join(dir, 'a.safetensors')).params, loadModel(join(dir, 'b.safetensors')).params)).toBe(true);
    for (const [value, message] of [
      ['shift=9', /shift takes a number from 0 to 8/],
      ['wobble=1', /'wobble=1' is not one of/],
      ['elastic=34', /elastic takes alpha:sigma/],
    ] as const) {
      const bad = await runCli('--augment', value);
      expect(bad.code).toBe(2);
      expect(bad.err[0]).toMatch(message);
    }
  });
});
