import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nativeTables } from '../scripts/native-tables.mjs';
import { describe, expect, it } from 'vitest';
import { ACTIVATIONS, LOSSES, type Activation, type Loss } from '../src/backends/activations.js';
import {
  EVAL_ROWS,
  OPTIMIZERS,
  OptimizerState,
  optimizerDefaults,
  sgd,
  Workspace,
  type OptimizerName,
  type OptimizerSettings,
} from '../src/backends/backend.js';
import { NativeBackend } from '../src/backends/native.js';
import { TsBackend } from '../src/backends/ts.js';
import { TsWorkerBackend } from '../src/backends/ts-worker.js';
import { selectBackend } from '../src/backends/select.js';
import { takeFirst, type Dataset } from '../src/data/dataset.js';
import { floatRows } from '../src/data/features.js';
import { Network } from '../src/model/network.js';
import { fit, sampleOrder, type Sampling } from '../src/train/fit.js';
import type { NetworkOptions } from '../src/model/network.js';
import { addon, addonBuilds, realMnist, runCli, supportedIsas } from './helpers.js';

/** 50 SGD steps (batch 100 over the first 5,000 MNIST images) from seed 1. */
async function fiftySteps(
  backend: NativeBackend | TsBackend,
  hidden = 30,
  shuffle = false,
  wsRows = EVAL_ROWS,
  batchSize = 100,
): Promise<Float32Array> {
  const train = takeFirst(realMnist().train, 5000);
  const net = new Network([784, hidden, 10], { backend }).initWeights(1);
  const ws = new Workspace(net.sizes, wsRows);
  const order = shuffle ? sampleOrder('shuffle', train.count, train.count, 1, 1) : null;
  await backend.trainEpoch(
    net,
    train,
    { batchSize, optimizer: sgd(0.1), state: new OptimizerState(0, 'sgd'), order },
    ws,
  );
  return net.params;
}

/** The largest |a − b| / max(|b|, 1e-3) over the weights: relative, with a floor for weights near 0. */
function largestRelativeDifference(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-3));
  return worst;
}

describe('native against ts on real MNIST', async () => {
  const reference = await fiftySteps(new TsBackend());
  const referenceShuffled = await fiftySteps(new TsBackend(), 30, true);

  describe.each(addonBuilds.map(([build, path]) => ({ build, path })))('$build build', ({ path }) => {
    it.each(supportedIsas)('%s: 50 SGD steps give the same weights within 1e-5 relative', async (isa) => {
      const native = await fiftySteps(new NativeBackend({ isa, threads: 2, addonPath: path }));
      expect(largestRelativeDifference(native, reference)).toBeLessThan(1e-5);
    });

    it.each(supportedIsas)('%s: the same with shuffled batches', async (isa) => {
      const native = await fiftySteps(new NativeBackend({ isa, threads: 2, addonPath: path }), 30, true);
      expect(largestRelativeDifference(native, referenceShuffled)).toBeLessThan(1e-5);
    });
  });

  it('evaluation agrees: accuracy exactly, error within 1e-6', async () => {
    const test = realMnist().test!;
    const net = new Network([784, 30, 10]).initWeights(3);
    const ws = new Workspace(net.sizes, EVAL_ROWS);
    const ts = await new TsBackend().evaluate(net, test, ws);
    for (const isa of supportedIsas) {
      const native = await new NativeBackend({ isa }).evaluate(net, test, ws);
      expect(native.accuracy).toBe(ts.accuracy);
      expect(Math.abs(native.error - ts.error)).toBeLessThan(1e-6);
    }
  });
});

/** A general network trained 40 steps on real MNIST with the given options, from seed 1. */
async function generalRun(
  backend: NativeBackend | TsBackend,
  options: NetworkOptions,
  optimizer: OptimizerSettings,
  sampling: Sampling,
): Promise<Float32Array> {
  const train = takeFirst(realMnist().train, 2000);
  const net = new Network([784, 48, 24, 10], { ...options, backend }).initialize({ scheme: 'xavier' }, 1);
  const ws = Workspace.of(net, EVAL_ROWS);
  const state = new OptimizerState(net.parameterCount, optimizer.name);
  const order = sampleOrder(sampling, train.count, train.count, 1, 1);
  await backend.trainEpoch(net, train, { batchSize: 50, optimizer, state, order }, ws);
  return net.params;
}

describe('every optimizer on both backends', () => {
  // A ReLU network's forward and backward passes agree bit for bit, so any difference is the step's:
  // GCC 12 once stored Adam's 1 − β1 unrounded, and 1 parameter in 10 took a different step.
  it.each(OPTIMIZERS.flatMap((name) => supportedIsas.map((isa) => ({ name, isa }))))(
    '$name ($isa), with weight decay, bit for bit',
    async ({ name, isa }) => {
      const optimizer = optimizerDefaults(name, name === 'sgd' || name === 'momentum' ? 0.05 : 0.002, {
        weightDecay: 1e-3,
      });
      const ts = await generalRun(new TsBackend(), {}, optimizer, 'shuffle');
      const native = await generalRun(new NativeBackend({ isa, threads: 2 }), {}, optimizer, 'shuffle');
      expect(Buffer.from(native.buffer).equals(Buffer.from(ts.buffer))).toBe(true);
    },
  );
});

describe('native against ts for general networks', () => {
  const cases: { label: string; options: NetworkOptions; optimizer: OptimizerSettings; sampling: Sampling }[] = [
    { label: 'tanh, adam', options: { hidden: 'tanh' }, optimizer: { ...sgd(0.001), name: 'adam' }, sampling: 'order' },
    {
      label: 'gelu + silu (derivatives from the kept pre-activations), momentum',
      options: { hidden: ['gelu', 'silu'] },
      optimizer: { ...sgd(0.05), name: 'momentum' },
      sampling: 'shuffle',
    },
    {
      label: 'relu, adamw with decoupled decay',
      options: {},
      optimizer: { ...sgd(0.001), name: 'adamw', weightDecay: 0.01 },
      sampling: 'order',
    },
    {
      label: 'sigmoid, rmsprop with L2 decay',
      options: { hidden: 'sigmoid' },
      optimizer: { ...sgd(0.0002), name: 'rmsprop', beta2: 0.99, weightDecay: 1e-4 },
      sampling: 'shuffle',
    },
    {
      label: 'sigmoid + relu, mse sigmoid output, momentum, weight decay',
      options: { hidden: ['sigmoid', 'relu'], loss: 'mse', output: 'sigmoid' },
      optimizer: { ...sgd(0.1), name: 'momentum', weightDecay: 1e-3 },
      sampling: 'shuffle',
    },
    {
      label: 'bipolar, no biases, mse bipolar output, sgd with decay, random draws',
      options: { hidden: 'bipolar', loss: 'mse', output: 'bipolar', bias: false },
      optimizer: { ...sgd(0.05), weightDecay: 1e-4 },
      sampling: 'random',
    },
  ];
  it.each(cases.flatMap((c) => supportedIsas.map((isa) => ({ ...c, isa }))))(
    '$label ($isa)',
    async ({ options, optimizer, sampling, isa }) => {
      const ts = await generalRun(new TsBackend(), options, optimizer, sampling);
      const native = await generalRun(new NativeBackend({ isa, threads: 2 }), options, optimizer, sampling);
      expect(largestRelativeDifference(native, ts)).toBeLessThan(1e-5);
    },
  );
});

describe('native against ts on real MNIST, bit for bit', () => {
  // MNIST's pixels are mostly zero: the native first layer runs sparse products (on AVX-512 up to
  // 256 hidden units but on Zen 4, dense ones above), its weight gradient at H=30 scattered from the
  // batch's rows and at H=256 and 300 from its columns; every ISA must give the ts backend's weights
  // exactly.
  it.runIf(supportedIsas.length).each([
    [30, 'sgd'],
    [30, 'adam'],
    [256, 'momentum'],
    [300, 'sgd'],
  ] as const)('H=%i, %s, 2 threads', async (hidden, optimizer) => {
    const train = takeFirst(realMnist().train, 2000);
    const run = async (backend: NativeBackend | TsBackend): Promise<Buffer> => {
      const net = new Network([784, hidden, 10], { backend }).initWeights(1);
      const state = new OptimizerState(net.parameterCount, optimizer);
      await backend.trainEpoch(
        net,
        train,
        { batchSize: 100, optimizer: optimizerDefaults(optimizer, 0.01, {}), state, order: null },
        new Workspace(net.sizes, EVAL_ROWS),
      );
      return Buffer.from(net.params.buffer);
    };
    const ts = await run(new TsBackend());
    for (const isa of supportedIsas)
      expect((await run(new NativeBackend({ isa, threads: 2 }))).equals(ts), isa).toBe(true);
  });
});

describe('native against ts on inputs too dense to skip, bit for bit', () => {
  // MNIST's digits with every pixel of the middle 20 rows at least 1: 71 % of the inputs are
  // non-zero, so the first layer is dense, and the top and bottom rows are blank in every image, so
  // it works on the compacted columns only (their weights keep a zero gradient).
  const inked = (): Dataset => {
    const train = takeFirst(realMnist().train, 2000);
    const x = Uint8Array.from(train.x as Uint8Array, (pixel, i) =>
      i % 784 >= 4 * 28 && i % 784 < 24 * 28 ? Math.max(pixel, 1) : pixel,
    );
    return { ...train, x };
  };
  it.runIf(supportedIsas.length).each(['sgd', 'adam'] as const)('H=64, %s, 2 threads', async (optimizer) => {
    const train = inked();
    const run = async (backend: NativeBackend | TsBackend): Promise<Buffer> => {
      const net = new Network([784, 64, 10], { backend }).initWeights(1);
      const state = new OptimizerState(net.parameterCount, optimizer);
      await backend.trainEpoch(
        net,
        train,
        { batchSize: 100, optimizer: optimizerDefaults(optimizer, 0.01, {}), state, order: null },
        new Workspace(net.sizes, EVAL_ROWS),
      );
      return Buffer.from(net.params.buffer);
    };
    expect((await run(new NativeBackend({ threads: 2 }))).equals(await run(new TsBackend()))).toBe(true);
  });
});

describe('an onProgress callback that throws', () => {
  it.each(['native', 'ts'])(
    'stops the epoch at that report, and its promise rejects with the error (%s)',
    async (name) => {
      if (name === 'native' && !supportedIsas.length) return;
      const backend = name === 'native' ? new NativeBackend({ threads: 2 }) : new TsBackend();
      const net = new Network([784, 16, 10], { backend }).initWeights(1);
      let calls = 0;
      const onProgress = (): void => {
        calls++;
        throw new Error('the callback failed');
      };
      const epoch = backend.trainEpoch(
        net,
        realMnist().train,
        { batchSize: 100, optimizer: sgd(0.1), state: new OptimizerState(0, 'sgd'), order: null, onProgress },
        new Workspace(net.sizes, EVAL_ROWS),
      );
      await expect(epoch).rejects.toThrow('the callback failed');
      expect(calls).toBe(1);
    },
  );
});

describe('native threads', () => {
  // More threads than this machine has cores stand in for a larger machine. At H=30 a batch trains
  // on one thread while another prepares the next one; at H=300 most batches split their sparse
  // products, by column panels (5 of them) on 2 and 3 threads and by rows on 8; at H=1024 by panels.
  const cases = supportedIsas.flatMap((isa) => [30, 300, 1024].map((hidden) => ({ isa, hidden })));

  it.each(cases)('$isa, H=$hidden: 1, 2, 3 and 8 threads give bitwise identical weights', async ({ isa, hidden }) => {
    const one = await fiftySteps(new NativeBackend({ isa, threads: 1 }), hidden, true);
    for (const threads of [2, 3, 8]) {
      const many = await fiftySteps(new NativeBackend({ isa, threads }), hidden, true);
      expect(Buffer.from(many.buffer).equals(Buffer.from(one.buffer)), `${threads} threads`).toBe(true);
    }
  });

  // Batches of 1,000: at H=30 a batch still trains on one thread beside the next one's preparation
  // (the sparse products are too small to split), at H=300 they split.
  it.each(cases.filter((c) => c.hidden < 1024))(
    '$isa, H=$hidden, batches of 1,000: 1, 2 and 3 threads give the weights of the ts backend',
    async ({ isa, hidden }) => {
      const ts = await fiftySteps(new TsBackend(), hidden, true, EVAL_ROWS, 1000);
      for (const threads of [1, 2, 3]) {
        const native = await fiftySteps(new NativeBackend({ isa, threads }), hidden, true, EVAL_ROWS, 1000);
        expect(Buffer.from(native.buffer).equals(Buffer.from(ts.buffer)), `${threads} threads`).toBe(true);
      }
    },
  );

  // Batches of 10 at H=1024: a sparse batch that small still splits its wide products.
  let tsAtTen: ReturnType<typeof fiftySteps> | undefined;
  it.each(supportedIsas)(
    '%s, H=1024, batches of 10: 1, 2 and 3 threads give the weights of the ts backend',
    async (isa) => {
      const ts = await (tsAtTen ??= fiftySteps(new TsBackend(), 1024, true, EVAL_ROWS, 10));
      for (const threads of [1, 2, 3]) {
        const native = await fiftySteps(new NativeBackend({ isa, threads }), 1024, true, EVAL_ROWS, 10);
        expect(Buffer.from(native.buffer).equals(Buffer.from(ts.buffer)), `${threads} threads`).toBe(true);
      }
    },
  );

  // At H=30 a batch of 30 or more scatters its first layer's weight gradient from its rows, a
  // smaller one lists them by column, one sample (online learning) has a path of its own: batches of
  // 31 over 5,000 samples end with one of 9, so one epoch takes both forms.
  it.each(supportedIsas.flatMap((isa) => [1, 31].map((batch) => ({ isa, batch }))))(
    '$isa, H=30, batches of $batch: 1 and 2 threads give the weights of the ts backend',
    async ({ isa, batch }) => {
      const ts = await fiftySteps(new TsBackend(), 30, true, EVAL_ROWS, batch);
      for (const threads of [1, 2]) {
        const native = await fiftySteps(new NativeBackend({ isa, threads }), 30, true, EVAL_ROWS, batch);
        expect(Buffer.from(native.buffer).equals(Buffer.from(ts.buffer)), `${threads} threads`).toBe(true);
      }
    },
  );

  // A library's caller may give a workspace with room for more rows than a batch has.
  it.each(supportedIsas)(
    '%s: batches of 100 in a workspace of 4,000 rows, on 2 threads, give the weights of 1 thread',
    async (isa) => {
      const one = await fiftySteps(new NativeBackend({ isa, threads: 1 }), 30, true, 4000);
      const two = await fiftySteps(new NativeBackend({ isa, threads: 2 }), 30, true, 4000);
      expect(Buffer.from(two.buffer).equals(Buffer.from(one.buffer))).toBe(true);
    },
  );

  it.each(cases)(
    '$isa, H=$hidden: a thread that is late to every piece of work (as on a busy machine) changes no weight',
    async ({ isa, hidden }) => {
      const one = await fiftySteps(new NativeBackend({ isa, threads: 1 }), hidden, true);
      for (const [threads, stragglerMicros] of [
        [2, 50],
        [3, 300],
      ]) {
        const late = await fiftySteps(new NativeBackend({ isa, threads, stragglerMicros }), hidden, true);
        expect(
          Buffer.from(late.buffer).equals(Buffer.from(one.buffer)),
          `${threads} threads, ${stragglerMicros} µs late`,
        ).toBe(true);
      }
    },
  );
});

describe('native evaluation on every thread', () => {
  // Chunks of samples go forward on all threads at once, each thread in its own lane: sparse and
  // dense first layers, a kept pre-activation (GELU), pixel bytes and floats, several rounds of
  // chunks (100-row workspace) and a last chunk cut short (2,503 samples).
  const test = realMnist().test!;
  const cases = [
    {
      label: 'H=30 ReLU, pixel bytes',
      sizes: [784, 30, 10],
      options: {},
      data: takeFirst(test, 2503),
      rows: EVAL_ROWS,
    },
    {
      label: 'H=300 GELU, dense',
      sizes: [784, 300, 10],
      options: { hidden: 'gelu' },
      data: takeFirst(test, 2503),
      rows: EVAL_ROWS,
    },
    {
      label: 'H=30, floats, squared error, 100-row chunks',
      sizes: [784, 30, 10],
      options: { loss: 'mse', output: 'sigmoid' },
      data: { ...takeFirst(test, 2503), x: floatRows(takeFirst(test, 2503).x, 784, 0, 2503) },
      rows: 100,
    },
  ] as const;
  it.each(cases.flatMap((c) => supportedIsas.map((isa) => ({ ...c, isa }))))(
    "$label ($isa): 1, 2, 3 and 8 threads, and a late thread, give the ts backend's figures bit for bit",
    async ({ sizes, options, data, rows, isa }) => {
      const net = new Network([...sizes], { ...options, backend: new TsBackend() }).initWeights(7);
      const want = await net.backend.evaluate(net, data, Workspace.of(net, rows));
      for (const [threads, stragglerMicros] of [
        [1, 0],
        [2, 0],
        [3, 0],
        [8, 0],
        [2, 300],
      ]) {
        const got = await new NativeBackend({ isa, threads, stragglerMicros }).evaluate(
          net,
          data,
          Workspace.of(net, rows),
        );
        expect(got, `${threads} threads, ${stragglerMicros} µs late`).toEqual(want);
      }
    },
  );
});

/** The best ISA of this CPU by its own flags (Linux), independently of the addon's CPUID code. */
function bestIsaFromCpuinfo(): string {
  if (process.arch === 'arm64') return 'neon';
  const flags = new Set(
    readFileSync('/proc/cpuinfo', 'utf8')
      .match(/^flags\s*:(.*)$/m)?.[1]
      .trim()
      .split(/\s+/),
  );
  if (flags.has('avx512f') && flags.has('fma')) return 'avx512';
  if (flags.has('avx2') && flags.has('fma')) return 'avx2';
  return 'scalar';
}

describe.runIf(supportedIsas.length && process.platform === 'linux')('ISA dispatch', () => {
  it('the default is the best ISA this CPU has; each forced ISA is the one whose kernels run; info says so', async () => {
    const best = bestIsaFromCpuinfo();
    expect(supportedIsas[0]).toBe(best);
    expect(new NativeBackend({ threads: 1 }).isa).toBe(best);
    expect(selectBackend('native', {}).backend.isa).toBe(best);
    for (const isa of supportedIsas) expect(new NativeBackend({ isa, threads: 1 }).isa).toBe(isa);
    const info = await runCli('info', '--json');
    expect(JSON.parse(info.out[0])).toMatchObject({ isaSelected: best, isaSupported: supportedIsas });
  });
});

describe('the addon', () => {
  it('was built by npm install (node-gyp) and loads, with the scalar kernels at least', () => {
    expect('error' in addon ? addon.error : 'loaded').toBe('loaded');
    expect(supportedIsas).toContain('scalar');
  });
});

describe('backend selection', () => {
  it('auto picks native when the addon is built; BACKPROP_BACKEND=ts picks ts', () => {
    expect(selectBackend('auto').backend.name).toBe(supportedIsas.length > 0 ? 'native' : 'ts');
    process.env.BACKPROP_BACKEND = 'ts';
    try {
      expect(selectBackend(undefined).backend.name).toBe('ts');
    } finally {
      delete process.env.BACKPROP_BACKEND;
    }
  });

  // And to ts when the WebAssembly module is missing too: test/15-wasm.test.ts, in a child process.
  it('auto falls back to wasm with the reason when the addon cannot load', () => {
    process.env.BACKPROP_ADDON = '/nonexistent/backprop.node';
    try {
      const selected = selectBackend('auto');
      expect(selected.backend.name).toBe('wasm');
      expect(selected.fallbackReason).toMatch(
        /native addon not loaded \(\/nonexistent\/backprop\.node not found\); using the wasm backend.*npm rebuild backprop.*npm run build:native/,
      );
      expect(() => selectBackend('native')).toThrow(/native addon is not built/);
    } finally {
      delete process.env.BACKPROP_ADDON;
    }
  });

  it('asking for an ISA the CPU lacks is a clear error', () => {
    const missing = ['avx512', 'avx2', 'neon'].find((isa) => !supportedIsas.includes(isa))!;
    expect(() => new NativeBackend({ isa: missing })).toThrow(new RegExp(`cannot use ISA '${missing}'`));
  });
});

describe('native argument checks', () => {
  const net = new Network([4, 3, 2]);
  const ws = new Workspace(net.sizes, 5);
  const backend = supportedIsas.length ? new NativeBackend() : undefined;

  it('evaluating pixel bytes with a workspace smaller than a chunk gives what floats give, on both backends', async () => {
    const pixels = takeFirst(realMnist().test!, 30);
    const floats = { ...pixels, x: floatRows(pixels.x, 784, 0, 30) };
    for (const make of [() => new TsBackend(), ...(backend ? [() => new NativeBackend()] : [])]) {
      const mnist = new Network([784, 8, 10], { backend: make() }).initWeights(3);
      const small = await mnist.backend.evaluate(mnist, pixels, Workspace.of(mnist, 7));
      expect(small).toEqual(await mnist.backend.evaluate(mnist, floats, Workspace.of(mnist, 30)));
    }
  });

  it('the evaluation is the same in chunks of any size (the workspace rows), on both backends', async () => {
    const images = takeFirst(realMnist().test!, 1200);
    for (const make of [() => new TsBackend(), ...(backend ? [() => new NativeBackend()] : [])]) {
      const mnist = new Network([784, 16, 10], { backend: make() }).initWeights(5);
      const whole = await mnist.backend.evaluate(mnist, images, Workspace.of(mnist, 4096));
      for (const rows of [1, 999, 1000])
        expect(await mnist.backend.evaluate(mnist, images, Workspace.of(mnist, rows))).toEqual(whole);
    }
  });

  it.runIf(backend)(
    'both backends report the same error, bit for bit, for cross-entropy and the squared error',
    async () => {
      const images = takeFirst(realMnist().test!, 1500);
      for (const options of [{}, { loss: 'mse', output: 'sigmoid' }] as const) {
        const [ts, native] = [new TsBackend(), new NativeBackend()].map((make) =>
          new Network([784, 16, 10], { ...options, backend: make }).initWeights(5),
        );
        expect(await native.backend.evaluate(native, images, Workspace.of(native, 1000))).toEqual(
          await ts.backend.evaluate(ts, images, Workspace.of(ts, 1000)),
        );
      }
    },
  );

  it('a GELU network refuses a workspace that keeps no pre-activations, on both backends', () => {
    const gelu = new Network([4, 3, 2], { hidden: 'gelu' });
    const bare = new Workspace(gelu.sizes, 5);
    expect(() => new TsBackend().forward(gelu, new Float32Array(20), 5, bare)).toThrow(
      /ws\.pre\[0\] has 0 elements, needs 15: a gelu layer keeps its pre-activations/,
    );
    if (backend)
      expect(() => backend.forward(gelu, new Float32Array(20), 5, bare)).toThrow(
        /ws\.pre\[0\] has 0 elements, needs at least 15/,
      );
    expect(() => new TsBackend().forward(gelu, new Float32Array(20), 5, Workspace.of(gelu, 5))).not.toThrow();
  });

  it('native/tables.h is generated from the TypeScript tables, and current (npm run generate:native)', () => {
    expect(readFileSync(join(__dirname, '..', 'native', 'tables.h'), 'utf8')).toBe(nativeTables());
  });

  it.runIf(backend)('the addon knows the names of the TypeScript tables, in their order', async () => {
    const b = backend!;
    // The addon lists its own names when it refuses one: they must be the tables', in order.
    expect(() =>
      b.forward({ ...net, activations: ['swish', 'softmax'] as unknown as Activation[] }, new Float32Array(20), 5, ws),
    ).toThrow(`net.activations[0] must be one of ${ACTIVATIONS.join(', ')}`);
    expect(() => b.forward({ ...net, loss: 'hinge' as Loss }, new Float32Array(20), 5, ws)).toThrow(
      `net.loss must be one of ${LOSSES.join(', ')}`,
    );
    const data = { x: new Float32Array(20), labels: Uint8Array.of(0, 1, 1, 0, 1), count: 5 };
    const optimizer = { ...sgd(0.1), name: 'lion' as OptimizerName };
    await expect(
      b.trainEpoch(net, data, { batchSize: 5, optimizer, state: new OptimizerState(0, 'sgd'), order: null }, ws),
    ).rejects.toThrow(`name must be one of ${OPTIMIZERS.join(', ')}`);
  });

  it.runIf(backend)('wrong types and lengths throw TypeError / RangeError naming the argument', async () => {
    const b = backend!;
    expect(() => b.forward(net, new Float64Array(20) as unknown as Float32Array, 5, ws)).toThrow(TypeError);
    expect(() => b.forward(net, new Float32Array(20), 5, ws)).not.toThrow();
    expect(() => b.forward(net, new Float32Array(19), 5, ws)).toThrow(/x has 19 elements, needs at least 20/);
    expect(() => b.forward(net, new Float32Array(20), 6, ws)).toThrow(RangeError);
    expect(() =>
      b.forward({ ...net, sizes: [4, 3, 2], params: new Float32Array(3) }, new Float32Array(20), 5, ws),
    ).toThrow(/net\.params has 3 elements/);
    const data = { x: new Float32Array(20), labels: Uint8Array.of(0, 1, 2, 0, 1), count: 5 };
    await expect(b.evaluate(net, data, ws)).rejects.toThrow(/data\.labels\[2\] is 2, but the network has 2 classes/);
    const detached = new Float32Array(20);
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    expect(() => b.forward(net, detached, 5, ws)).toThrow(/x has 0 elements, needs at least 20/);
    const order = Uint32Array.of(0, 1, 2, 3, 9);
    const good = { ...data, labels: Uint8Array.of(0, 1, 1, 0, 1) };
    await expect(
      b.trainEpoch(net, good, { batchSize: 5, optimizer: sgd(0.1), state: new OptimizerState(0, 'sgd'), order }, ws),
    ).rejects.toThrow(/options\.order\[4\] is not a sample index below 5/);
  });
});

describe('native training off the event loop', () => {
  it.runIf(supportedIsas.length)(
    'a 10 ms timer fires while an epoch of H=256 trains, and progress arrives',
    async () => {
      const { train } = realMnist();
      const backend = new NativeBackend();
      const net = new Network([784, 256, 10], { backend }).initWeights(1);
      const ws = new Workspace(net.sizes, EVAL_ROWS);
      const ticks: number[] = [];
      const progress: number[] = [];
      const timer = setInterval(() => ticks.push(performance.now()), 10);
      await backend.trainEpoch(
        net,
        train,
        {
          batchSize: 100,
          optimizer: sgd(0.1),
          state: new OptimizerState(0, 'sgd'),
          order: null,
          onProgress: (n) => progress.push(n),
        },
        ws,
      );
      const ended = performance.now();
      clearInterval(timer);
      // A blocked event loop fires no timer until the call returns; a free one fires during it, however busy the machine.
      expect(ticks.filter((t) => t < ended).length).toBeGreaterThanOrEqual(2);
      expect(progress.length).toBeGreaterThanOrEqual(10);
      expect(progress.at(-1)).toBe(train.count);
      expect(progress.every((n, i) => i === 0 || n > progress[i - 1])).toBe(true);
    },
  );
});

describe('ts training off the event loop', () => {
  it('a 10 ms timer fires while the ts backend trains an epoch on its worker thread', async () => {
    const train = takeFirst(realMnist().train, 20000);
    const backend = new TsWorkerBackend();
    const net = new Network([784, 30, 10], { backend }).initWeights(1);
    const ws = Workspace.of(net, EVAL_ROWS);
    const ticks: number[] = [];
    const timer = setInterval(() => ticks.push(performance.now()), 10);
    const visits = await backend.trainEpoch(
      net,
      train,
      { batchSize: 100, optimizer: sgd(0.1), state: new OptimizerState(0, 'sgd', backend.memory), order: null },
      ws,
    );
    const ended = performance.now();
    clearInterval(timer);
    expect(visits).toBe(20000);
    expect(ticks.filter((t) => t < ended).length).toBeGreaterThanOrEqual(2);
    // The worker trained the shared weights: the same as the TypeScript backend on this thread.
    const local = new Network([784, 30, 10], { backend: new TsBackend() }).initWeights(1);
    await local.backend.trainEpoch(
      local,
      train,
      { batchSize: 100, optimizer: sgd(0.1), state: new OptimizerState(0, 'sgd'), order: null },
      new Workspace(local.sizes, EVAL_ROWS),
    );
    expect(Buffer.from(net.params.buffer).equals(Buffer.from(local.params.buffer))).toBe(true);
  });
});

describe('memory belongs to the backend', () => {
  it("fit, the network and a resumed state take every buffer from the backend's memory, and train to the same bits", async () => {
    // A backend whose memory is its own (plain ArrayBuffers, as a WebAssembly backend's would be).
    const allocated: string[] = [];
    const own = {
      float32: (n: number) => (allocated.push('float32'), new Float32Array(n)),
      float64: (n: number) => (allocated.push('float64'), new Float64Array(n)),
      int32: (n: number) => (allocated.push('int32'), new Int32Array(n)),
      uint8: (n: number) => (allocated.push('uint8'), new Uint8Array(n)),
    };
    class OwnMemoryBackend extends TsBackend {
      override readonly memory = own;
    }
    const train = takeFirst(realMnist().train, 1000);
    const options = {
      epochs: 2,
      batchSize: 50,
      optimizer: { name: 'momentum' as const },
      schedule: { name: 'cosine' as const, warmup: 3 },
    };
    const mine = new Network([784, 16, 10], { backend: new OwnMemoryBackend() }).initWeights(4);
    await fit(mine, train, options);
    expect(new Set(allocated)).toEqual(new Set(['float32', 'float64', 'int32', 'uint8']));
    expect(mine.params.buffer).toBeInstanceOf(ArrayBuffer);
    const shared = new Network([784, 16, 10], { backend: new TsWorkerBackend() }).initWeights(4);
    await fit(shared, train, options);
    expect(shared.params.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(Buffer.from(mine.params.buffer).equals(Buffer.from(shared.params.buffer))).toBe(true);
  });
});
