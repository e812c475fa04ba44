import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  EVAL_ROWS,
  optimizerDefaults,
  OptimizerState,
  sgd,
  Workspace,
  type Backend,
  type OptimizerName,
  type OptimizerSettings,
} from '../backends/backend.js';
import { loadAddon, NativeBackend } from '../backends/native.js';
import { TsBackend } from '../backends/ts.js';
import { loadWasmBackend } from '../backends/wasm-node.js';
import { takeFirst, type Dataset } from '../data/dataset.js';
import { bundledMnistDir, loadMnist } from '../data/mnist.js';
import { Network } from '../model/network.js';
import type { BenchReport, BenchRow, OptimizerRow, PeakRow, WholeRun } from './results.js';
import { targetRows } from './targets.js';

export interface BenchOptions {
  hidden: number[];
  batches: number[];
  /** Native ISAs to run; all the CPU supports by default. */
  isas?: string[];
  /** Median of this many timed repeats, after a warm-up. */
  repeats: number;
  /** Each timed repeat trains whole batches for about this long (a whole epoch when that is shorter). */
  seconds: number;
  peers: boolean;
  /** Hidden sizes of one deeper network, timed at batch 100 (native and ts only). */
  deeper?: number[];
  /** Run beside one busy process per core but one, as on a machine doing other work. */
  contention?: boolean;
  /** Times `backprop train` with the seed's defaults this many times, process start included. */
  wholeRuns?: number;
}

const EPOCH = 60000;
const DEEPER_BATCH = 100;
const CHECK_TOLERANCE = 1e-4;

/** Nominal floating-point work to train one sample: forward and weight gradient of every layer (2 FLOP per weight each), input gradient of all but the first. */
export function flopsPerSample(sizes: readonly number[]): number {
  let flops = 0;
  for (let l = 0; l + 1 < sizes.length; l++) flops += (l === 0 ? 4 : 6) * sizes[l] * sizes[l + 1];
  return flops;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function trainSamples(
  backend: Backend,
  net: Network,
  train: Dataset,
  samples: number,
  batch: number,
  ws: Workspace,
  optimizer: OptimizerSettings,
  state: OptimizerState,
): Promise<void> {
  await backend.trainEpoch(net, takeFirst(train, samples), { batchSize: batch, optimizer, state, order: null }, ws);
}

/** Times `batches` batches of training a fresh network of `sizes` with `optimizer`, in seconds. */
function epochTimer(
  backend: Backend,
  sizes: number[],
  train: Dataset,
  batch: number,
  optimizer: OptimizerSettings,
): (batches: number) => Promise<number> {
  const net = new Network(sizes, { backend }).initWeights(1);
  const ws = Workspace.of(net, Math.max(batch, EVAL_ROWS));
  const state = new OptimizerState(net.parameterCount, optimizer.name, backend.memory);
  return async (batches) => {
    const start = performance.now();
    await trainSamples(backend, net, train, batches * batch, batch, ws, optimizer, state);
    return (performance.now() - start) / 1000;
  };
}

/** The batches a timed repeat trains: a probe grows the run until it lasts a fraction of `seconds` (also the warm-up). */
async function batchesToTime(
  timed: (batches: number) => Promise<number>,
  batch: number,
  seconds: number,
): Promise<number> {
  const totalBatches = Math.floor(EPOCH / batch);
  let batches = 1;
  let elapsed = await timed(batches);
  while (elapsed < seconds / 4 && batches < totalBatches) {
    batches = Math.min(totalBatches, batches * 4);
    elapsed = await timed(batches);
  }
  return Math.max(1, Math.min(totalBatches, Math.round((batches * seconds) / elapsed)));
}

/**
 * Seconds per epoch of each timer's training: all of them timed in turn, round after round, over the
 * same number of batches (what the first needs to last about `seconds`), so that a busy spell of a
 * shared machine slows them alike and their ratios hold. Medians of the repeats, scaled to an epoch.
 */
async function timeInTurn(
  timers: ((batches: number) => Promise<number>)[],
  batch: number,
  options: BenchOptions,
): Promise<{ secondsPerEpoch: number[]; batchesTimed: number }> {
  const batches = await batchesToTime(timers[0], batch, options.seconds);
  for (const timed of timers.slice(1)) await timed(batches);
  const times: number[][] = timers.map(() => []);
  for (let i = 0; i < options.repeats; i++)
    for (let t = 0; t < timers.length; t++) times[t].push(await timers[t](batches));
  return {
    secondsPerEpoch: times.map((t) => (median(t) * Math.floor(EPOCH / batch)) / batches),
    batchesTimed: batches,
  };
}

const TIMED_OPTIMIZERS: OptimizerName[] = ['sgd', 'momentum', 'adam'];
const OPTIMIZER_BATCH = 100;

/** Momentum's and Adam's epoch time against SGD's on one shape, timed in turn with it. */
async function timeOptimizers(
  backend: NativeBackend,
  hidden: number,
  train: Dataset,
  options: BenchOptions,
): Promise<OptimizerRow[]> {
  const sizes = [784, hidden, 10];
  const timers = TIMED_OPTIMIZERS.map((name) =>
    epochTimer(backend, sizes, train, OPTIMIZER_BATCH, optimizerDefaults(name, 0.01)),
  );
  const { secondsPerEpoch } = await timeInTurn(timers, OPTIMIZER_BATCH, options);
  return TIMED_OPTIMIZERS.slice(1).map((optimizer, i) => ({
    isa: backend.isa,
    threads: backend.threads,
    hidden,
    batch: OPTIMIZER_BATCH,
    optimizer,
    secondsPerEpoch: secondsPerEpoch[i + 1],
    ratio: secondsPerEpoch[i + 1] / secondsPerEpoch[0],
  }));
}

/** The weights after a few batches from seed 1, to check a backend against the ts reference before it is timed. */
async function checkRun(backend: Backend, sizes: number[], train: Dataset, batch: number): Promise<Float32Array> {
  const rows = Math.min(batch, 100);
  const net = new Network(sizes, { backend }).initWeights(1);
  const ws = Workspace.of(net, Math.max(rows, EVAL_ROWS));
  const optimizer = sgd(0.01);
  await trainSamples(
    backend,
    net,
    train,
    rows === 1 ? 10 : rows,
    rows,
    ws,
    optimizer,
    new OptimizerState(net.parameterCount, optimizer.name, backend.memory),
  );
  return net.params;
}

function relativeDifference(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-3));
  return worst;
}

interface PeerResult {
  peer: string;
  hidden: number;
  batch: number;
  secondsPerEpoch: number;
  batchesTimed: number;
  /** The BLAS kernel a Python peer ran with. */
  blas?: string;
  /** The threads it ran on, when it says. */
  threads?: number;
}

/**
 * The environment of a peer's process: without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which some
 * machines set and which make OpenBLAS take a slower kernel than the CPU's own.
 */
export function peerEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

export const peersDir = fileURLToPath(new URL('../../bench/peers/', import.meta.url));

/**
 * The first Python that imports `module`: the one on the PATH, or the system's (a pyenv python3
 * does not see Debian's python3-torch).
 */
export function pythonWith(module: string): string | undefined {
  return ['python3', '/usr/bin/python3'].find(
    (python) => spawnSync(python, ['-c', `import ${module}`], { env: peerEnv() }).status === 0,
  );
}

/** Runs a peer script that prints one JSON line per configuration; null (with a note) when it cannot run. */
function runPeer(command: string, args: string[], notes: string[], name: string): PeerResult[] {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 24, env: peerEnv() });
  if (result.status !== 0) {
    notes.push(`${name} skipped: ${(result.stderr || result.error?.message || 'failed').trim().split('\n').at(-1)}`);
    return [];
  }
  return result.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as PeerResult);
}

function peerRows(options: BenchOptions, notes: string[]): PeerResult[] {
  const hidden = options.hidden.join(',');
  const results: PeerResult[] = [];
  // Which Python runs each peer is looked up once: importing torch alone takes a second or more.
  const pythonPeers = [
    { module: 'numpy', script: 'numpy_mlp.py', install: '' },
    {
      module: 'torch',
      script: 'torch_mlp.py',
      install: ' (on Debian: apt-get install python3-torch libopenblas0-pthread)',
    },
  ].map((peer) => ({ ...peer, python: pythonWith(peer.module) }));
  for (const { module, install, python } of pythonPeers)
    if (!python) notes.push(`${module} skipped: no python3 imports ${module}${install}`);
  for (const batch of options.batches) {
    const timing = ['--repeats', String(options.repeats), '--seconds', String(Math.max(options.seconds, 0.3))];
    for (const { module, script, python } of pythonPeers) {
      if (python)
        results.push(
          ...runPeer(
            python,
            [`${peersDir}${script}`, bundledMnistDir(), '--hidden', hidden, '--batch', String(batch), ...timing],
            notes,
            module,
          ),
        );
    }
    if (existsSync(`${peersDir}node_modules/@tensorflow/tfjs`)) {
      results.push(
        ...runPeer(
          process.execPath,
          [`${peersDir}tfjs_mlp.mjs`, bundledMnistDir(), '--hidden', hidden, '--batch', String(batch), ...timing],
          notes,
          'tfjs',
        ),
      );
    } else if (!notes.some((n) => n.startsWith('tfjs'))) {
      notes.push('tfjs skipped: not installed (run `npm run bench:peers` to install it into bench/peers/)');
    }
  }
  return results;
}

/** Runs the whole benchmark; `onRow` sees each result as it is measured. */
export async function runBenchmark(
  options: BenchOptions,
  onRow: (row: BenchRow | PeakRow) => void,
  cpu: string,
): Promise<BenchReport> {
  const stopBusy = options.contention ? startBusyProcesses(Math.max(1, availableParallelism() - 1)) : undefined;
  try {
    return await timeGrid(options, onRow, cpu);
  } finally {
    stopBusy?.();
  }
}

async function timeGrid(
  options: BenchOptions,
  onRow: (row: BenchRow | PeakRow) => void,
  cpu: string,
): Promise<BenchReport> {
  const notes: string[] = [];
  const { train } = loadMnist();
  const addon = loadAddon();
  const all = availableParallelism();
  const variants: { isa: string; threads: number }[] = [];
  if ('error' in addon) {
    notes.push(`native skipped: ${addon.error}`);
  } else {
    for (const isa of options.isas ?? addon.addon.supportedIsas)
      for (const threads of new Set([1, all])) variants.push({ isa, threads });
  }
  // One engine per variant for the whole run: an engine's scratch lives outside the JavaScript heap,
  // so engines made per shape waited for a collection that never came (a small grid peaked at 975 MB).
  const engines = new Map(variants.map((variant) => [`${variant.isa}×${variant.threads}`, new NativeBackend(variant)]));
  const engine = (variant: { isa: string; threads: number }): NativeBackend =>
    engines.get(`${variant.isa}×${variant.threads}`)!;
  const peaks: PeakRow[] = [];
  for (const variant of variants) {
    const peak = { ...variant, gflops: await engine(variant).peakGflops(0.5) };
    peaks.push(peak);
    onRow(peak);
  }
  const loadedWasm = loadWasmBackend();
  if ('error' in loadedWasm) notes.push(`wasm skipped: ${loadedWasm.error}`);
  const wasm = 'error' in loadedWasm ? undefined : loadedWasm;
  const rows: BenchRow[] = [];
  // Times every variant, ts and wasm on one shape, each native result checked against ts first; an ISA's
  // thread counts in turn with each other (their ratio is a target).
  const measure = async (hidden: number[], batch: number): Promise<void> => {
    const sizes = [784, ...hidden, 10];
    const flops = flopsPerSample(sizes) * EPOCH;
    const ts = new TsBackend();
    const reference = await checkRun(ts, sizes, train, batch);
    // The wasm backend, when its module loads, is checked bit for bit and timed in turn with ts.
    if (wasm && relativeDifference(await checkRun(wasm, sizes, train, batch), reference) !== 0)
      throw new Error(`wasm at ${sizes.join('-')}, batch ${batch} differs from ts`);
    const tsTime = await timeInTurn(
      [ts, ...(wasm ? [wasm] : [])].map((backend) => epochTimer(backend, sizes, train, batch, sgd(0.01))),
      batch,
      options,
    );
    const row = (
      backend: string,
      isa: string,
      threads: number,
      secondsPerEpoch: number,
      batchesTimed: number,
      extra: Partial<BenchRow>,
    ): BenchRow => ({
      backend,
      isa,
      threads,
      hidden: hidden.join(','),
      batch,
      secondsPerEpoch,
      samplesPerSecond: EPOCH / secondsPerEpoch,
      gflops: flops / secondsPerEpoch / 1e9,
      batchesTimed,
      fullEpoch: batchesTimed * batch >= EPOCH,
      ...extra,
    });
    for (const isa of new Set(variants.map((v) => v.isa))) {
      const natives = variants.filter((v) => v.isa === isa).map((variant) => ({ variant, backend: engine(variant) }));
      const checks: number[] = [];
      for (const { variant, backend } of natives) {
        const checkDifference = relativeDifference(await checkRun(backend, sizes, train, batch), reference);
        if (!(checkDifference < CHECK_TOLERANCE)) {
          throw new Error(
            `native ${variant.isa} ×${variant.threads} at ${sizes.join('-')}, batch ${batch} differs from ts by ${checkDifference}`,
          );
        }
        checks.push(checkDifference);
      }
      const time = await timeInTurn(
        natives.map(({ backend }) => epochTimer(backend, sizes, train, batch, sgd(0.01))),
        batch,
        options,
      );
      natives.forEach(({ variant }, i) => {
        const peak = peaks.find((p) => p.isa === variant.isa && p.threads === variant.threads)!;
        const nativeRow = row('native', variant.isa, variant.threads, time.secondsPerEpoch[i], time.batchesTimed, {
          checkDifference: checks[i],
          speedupOverTs: tsTime.secondsPerEpoch[0] / time.secondsPerEpoch[i],
        });
        nativeRow.percentOfPeak = (100 * nativeRow.gflops) / peak.gflops;
        rows.push(nativeRow);
        onRow(nativeRow);
      });
    }
    const tsRow = row('ts', 'js', 1, tsTime.secondsPerEpoch[0], tsTime.batchesTimed, { speedupOverTs: 1 });
    const wasmRows = wasm
      ? [
          row('wasm', wasm.isa, 1, tsTime.secondsPerEpoch[1], tsTime.batchesTimed, {
            checkDifference: 0,
            speedupOverTs: tsTime.secondsPerEpoch[0] / tsTime.secondsPerEpoch[1],
          }),
        ]
      : [];
    for (const measured of [...wasmRows, tsRow]) {
      rows.push(measured);
      onRow(measured);
    }
  };
  for (const hidden of options.hidden) for (const batch of options.batches) await measure([hidden], batch);
  if (options.deeper) await measure(options.deeper, DEEPER_BATCH);
  if (options.peers) {
    const peers = peerRows(options, notes);
    const blas = [
      ...new Set(peers.flatMap((peer) => (peer.blas ? [`${peer.peer.split('-')[0]} ran with ${peer.blas}`] : []))),
    ];
    if (blas.length > 0) notes.push(`${blas.join(', ')} (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for them)`);
    for (const peer of peers) {
      const peerRow: BenchRow = {
        backend: peer.peer,
        isa: '',
        threads: peer.threads ?? (peer.peer.startsWith('numpy') ? all : 1),
        hidden: String(peer.hidden),
        batch: peer.batch,
        secondsPerEpoch: peer.secondsPerEpoch,
        samplesPerSecond: EPOCH / peer.secondsPerEpoch,
        gflops: (flopsPerSample([784, peer.hidden, 10]) * EPOCH) / peer.secondsPerEpoch / 1e9,
        batchesTimed: peer.batchesTimed,
        fullEpoch: peer.batchesTimed * peer.batch >= EPOCH,
      };
      rows.push(peerRow);
      onRow(peerRow);
    }
  }
  // Momentum and Adam against SGD with the ISA a user gets, at the widths the target names.
  const optimizers: OptimizerRow[] = [];
  const isa = options.isas?.[0] ?? ('error' in addon ? undefined : addon.addon.supportedIsas[0]);
  if (isa) {
    for (const hidden of options.hidden.filter((h) => h >= 256)) {
      for (const threads of new Set([1, all]))
        optimizers.push(
          ...(await timeOptimizers(
            engines.get(`${isa}×${threads}`) ?? new NativeBackend({ isa, threads }),
            hidden,
            train,
            options,
          )),
        );
    }
  }
  const wholeRun = options.wholeRuns ? timeWholeRun(options.wholeRuns, options.peers, notes) : undefined;
  // The peak once more: a machine that was busy during the run shows it here.
  const peaksAfter: PeakRow[] = [];
  for (const variant of variants) peaksAfter.push({ ...variant, gflops: await engine(variant).peakGflops(0.5) });
  if (options.contention)
    notes.push(
      `run beside ${Math.max(1, all - 1)} busy process(es) (--contention): the busy-machine notes are expected`,
    );
  notes.push(...busyMachineNotes(peaks, peaksAfter));
  const targets = targetRows({ rows, optimizers, wholeRun, threads: all, contention: options.contention ?? false });
  return { cpu, date: new Date().toISOString().slice(0, 10), peaks, rows, optimizers, wholeRun, targets, notes };
}

/** The wall and training times of a `backprop train` run and the peak memory it reports (--json), or a note and undefined when it failed. */
function trainRun(
  args: string[],
  notes: string[],
): Omit<WholeRun, 'seedScriptSeconds' | 'widePeakMemoryMB'> | undefined {
  const cli = fileURLToPath(new URL('../../bin/backprop.js', import.meta.url));
  const start = performance.now();
  const run = spawnSync(process.execPath, [cli, 'train', '--json', ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const wallSeconds = (performance.now() - start) / 1000;
  const done = run.stdout.split('\n').find((line) => line.includes('"event":"done"'));
  if (run.status !== 0 || !done) {
    notes.push(`backprop train ${args.join(' ')} failed: ${run.stderr.trim().split('\n').at(-1)}`);
    return undefined;
  }
  const { trainSeconds, peakMemoryMB } = JSON.parse(done) as { trainSeconds: number; peakMemoryMB: number };
  return { wallSeconds, trainSeconds, peakMemoryMB };
}

/**
 * `backprop train` as a user starts it (`npm start`: the seed's 20 epochs, 70,000 images evaluated
 * after each, process start and data loading included), `runs` times: its median wall time and peak
 * memory; the seed's own numpy script once beside it; and the peak of one epoch of a wide network.
 */
function timeWholeRun(runs: number, peers: boolean, notes: string[]): WholeRun | undefined {
  const measured = [];
  for (let i = 0; i < runs; i++) {
    const run = trainRun([], notes);
    if (!run) return undefined;
    measured.push(run);
  }
  const wholeRun: WholeRun = {
    wallSeconds: median(measured.map((r) => r.wallSeconds)),
    trainSeconds: median(measured.map((r) => r.trainSeconds)),
    peakMemoryMB: median(measured.map((r) => r.peakMemoryMB)),
  };
  wholeRun.widePeakMemoryMB = trainRun(['--hidden', '1024', '--epochs', '1'], notes)?.peakMemoryMB;
  const python = peers ? pythonWith('numpy') : undefined;
  if (python) {
    const start = performance.now();
    const seed = spawnSync(python, [`${peersDir}numpy_mlp.py`, bundledMnistDir(), '--seed-run', '20'], {
      encoding: 'utf8',
      env: peerEnv(),
    });
    if (seed.status === 0) wholeRun.seedScriptSeconds = (performance.now() - start) / 1000;
  }
  return wholeRun;
}

/** `count` processes that keep a core busy each, until the returned function stops them (or this process ends). */
function startBusyProcesses(count: number): () => void {
  const children = Array.from({ length: count }, () =>
    spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
  );
  const stop = (): void => {
    process.off('exit', stop);
    for (const child of children) child.kill('SIGKILL');
  };
  process.once('exit', stop);
  return stop;
}

/**
 * What says the machine was busy, so that the figures are read with care: the FMA peak measured at
 * the start and at the end more than 10 % apart, or more threads reaching a lower peak than one.
 * (A result above 100 % of the peak says nothing: the zero inputs it skipped are counted as work.)
 */
export function busyMachineNotes(before: PeakRow[], after: PeakRow[]): string[] {
  const signs: string[] = [];
  const label = (p: PeakRow): string => `${p.isa} ×${p.threads}`;
  for (const first of before) {
    const second = after.find((p) => p.isa === first.isa && p.threads === first.threads);
    if (second && Math.abs(second.gflops - first.gflops) > 0.1 * Math.max(first.gflops, second.gflops)) {
      signs.push(
        `${label(first)} ${first.gflops.toFixed(1)} GFLOP/s at the start, ${second.gflops.toFixed(1)} at the end`,
      );
    }
    const single = before.find((p) => p.isa === first.isa && p.threads === 1);
    if (single && first.threads > 1 && first.gflops < single.gflops) {
      signs.push(`${label(first)} ${first.gflops.toFixed(1)} below ${label(single)} ${single.gflops.toFixed(1)}`);
    }
  }
  return signs.length
    ? [`the machine was busy: the FMA peaks moved (${signs.join('; ')}); read the figures with care`]
    : [];
}
