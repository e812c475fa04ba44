import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { EVAL_ROWS, OptimizerState, sgd, Workspace, type Backend } from '../backends/backend.js';
import { loadAddon, NativeBackend } from '../backends/native.js';
import { TsBackend } from '../backends/ts.js';
import { takeFirst, type Dataset } from '../data/dataset.js';
import { bundledMnistDir, loadMnist } from '../data/mnist.js';
import { Network } from '../model/network.js';

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

export interface BenchRow {
  backend: string;
  isa: string;
  threads: number;
  /** Hidden layer sizes, e.g. `30` or `256,128`. */
  hidden: string;
  batch: number;
  secondsPerEpoch: number;
  samplesPerSecond: number;
  gflops: number;
  /**
   * The nominal dense work (gflops) over the FMA peak measured with the same ISA and thread count.
   * The native first layer skips MNIST's zero inputs (sparse products, or only the columns a batch
   * uses), so it does less work than counted, and this may pass 100 %.
   */
  percentOfPeak?: number;
  /** ts seconds per epoch over this row's. */
  speedupOverTs?: number;
  /** Batches in each timed repeat; fewer than an epoch's means the epoch time is scaled from a short run. */
  batchesTimed: number;
  fullEpoch: boolean;
  /** Largest relative weight difference from the ts backend after the check run. */
  checkDifference?: number;
}

export interface PeakRow {
  isa: string;
  threads: number;
  gflops: number;
}

export interface BenchReport {
  cpu: string;
  date: string;
  peaks: PeakRow[];
  rows: BenchRow[];
  notes: string[];
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

async function trainSamples(backend: Backend, net: Network, train: Dataset, samples: number, batch: number, ws: Workspace): Promise<void> {
  const optimizer = sgd(0.01);
  const state = new OptimizerState(net.parameterCount, optimizer.name);
  await backend.trainEpoch(net, takeFirst(train, samples), { batchSize: batch, optimizer, state, order: null }, ws);
}

/** Seconds per epoch: a probe grows the run until it lasts a fraction of `seconds` (also the warm-up), then the median of the repeats. */
async function timeEpoch(
  backend: Backend,
  sizes: number[],
  train: Dataset,
  batch: number,
  options: BenchOptions,
): Promise<{ secondsPerEpoch: number; batchesTimed: number }> {
  const net = new Network(sizes, { backend }).initWeights(1);
  const ws = new Workspace(sizes, Math.max(batch, EVAL_ROWS));
  const totalBatches = Math.floor(EPOCH / batch);
  const timed = async (batches: number): Promise<number> => {
    const start = performance.now();
    await trainSamples(backend, net, train, batches * batch, batch, ws);
    return (performance.now() - start) / 1000;
  };
  let batches = 1;
  let elapsed = await timed(batches);
  while (elapsed < options.seconds / 4 && batches < totalBatches) {
    batches = Math.min(totalBatches, batches * 4);
    elapsed = await timed(batches);
  }
  batches = Math.max(1, Math.min(totalBatches, Math.round((batches * options.seconds) / elapsed)));
  const times: number[] = [];
  for (let i = 0; i < options.repeats; i++) times.push(await timed(batches));
  return { secondsPerEpoch: (median(times) * totalBatches) / batches, batchesTimed: batches };
}

/** The weights after a few batches from seed 1, to check a backend against the ts reference before it is timed. */
async function checkRun(backend: Backend, sizes: number[], train: Dataset, batch: number): Promise<Float32Array> {
  const rows = Math.min(batch, 100);
  const net = new Network(sizes, { backend }).initWeights(1);
  const ws = new Workspace(sizes, Math.max(rows, EVAL_ROWS));
  await trainSamples(backend, net, train, rows === 1 ? 10 : rows, rows, ws);
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
  /** The BLAS kernel numpy ran with. */
  blas?: string;
}

/**
 * The environment of a peer's process: without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which some
 * machines set and which make OpenBLAS take a slower kernel than the CPU's own.
 */
function peerEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

const peersDir = fileURLToPath(new URL('../../bench/peers/', import.meta.url));

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
  for (const batch of options.batches) {
    const timing = ['--repeats', String(options.repeats), '--seconds', String(Math.max(options.seconds, 0.3))];
    const numpy = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
    if (numpy.status === 0) {
      results.push(
        ...runPeer('python3', [`${peersDir}numpy_mlp.py`, bundledMnistDir(), '--hidden', hidden, '--batch', String(batch), ...timing], notes, 'numpy'),
      );
    } else if (!notes.some((n) => n.startsWith('numpy'))) {
      notes.push('numpy skipped: `python3 -c "import numpy"` failed');
    }
    if (existsSync(`${peersDir}node_modules/@tensorflow/tfjs`)) {
      results.push(
        ...runPeer(process.execPath, [`${peersDir}tfjs_mlp.mjs`, bundledMnistDir(), '--hidden', hidden, '--batch', String(batch), ...timing], notes, 'tfjs'),
      );
    } else if (!notes.some((n) => n.startsWith('tfjs'))) {
      notes.push('tfjs skipped: not installed (run `npm run bench:peers` to install it into bench/peers/)');
    }
  }
  return results;
}

/** Runs the whole benchmark; `onRow` sees each result as it is measured. */
export async function runBenchmark(options: BenchOptions, onRow: (row: BenchRow | PeakRow) => void, cpu: string): Promise<BenchReport> {
  const stopBusy = options.contention ? startBusyProcesses(Math.max(1, availableParallelism() - 1)) : undefined;
  try {
    return await timeGrid(options, onRow, cpu);
  } finally {
    stopBusy?.();
  }
}

async function timeGrid(options: BenchOptions, onRow: (row: BenchRow | PeakRow) => void, cpu: string): Promise<BenchReport> {
  const notes: string[] = [];
  const { train } = loadMnist();
  const addon = loadAddon();
  const all = availableParallelism();
  const variants: { isa: string; threads: number }[] = [];
  if ('error' in addon) {
    notes.push(`native skipped: ${addon.error}`);
  } else {
    for (const isa of options.isas ?? addon.addon.supportedIsas) for (const threads of new Set([1, all])) variants.push({ isa, threads });
  }
  const peaks: PeakRow[] = [];
  for (const variant of variants) {
    const peak = { ...variant, gflops: await new NativeBackend(variant).peakGflops(0.5) };
    peaks.push(peak);
    onRow(peak);
  }
  const rows: BenchRow[] = [];
  // Times every variant and ts on one shape, each native result checked against ts first.
  const measure = async (hidden: number[], batch: number): Promise<void> => {
    const sizes = [784, ...hidden, 10];
    const flops = flopsPerSample(sizes) * EPOCH;
    const ts = new TsBackend();
    const reference = await checkRun(ts, sizes, train, batch);
    const tsTime = await timeEpoch(ts, sizes, train, batch, options);
    const row = (backend: string, isa: string, threads: number, time: typeof tsTime, extra: Partial<BenchRow>): BenchRow => ({
      backend,
      isa,
      threads,
      hidden: hidden.join(','),
      batch,
      secondsPerEpoch: time.secondsPerEpoch,
      samplesPerSecond: EPOCH / time.secondsPerEpoch,
      gflops: flops / time.secondsPerEpoch / 1e9,
      batchesTimed: time.batchesTimed,
      fullEpoch: time.batchesTimed * batch >= EPOCH,
      ...extra,
    });
    for (const variant of variants) {
      const native = new NativeBackend(variant);
      const checkDifference = relativeDifference(await checkRun(native, sizes, train, batch), reference);
      if (!(checkDifference < CHECK_TOLERANCE)) {
        throw new Error(`native ${variant.isa} ×${variant.threads} at ${sizes.join('-')}, batch ${batch} differs from ts by ${checkDifference}`);
      }
      const time = await timeEpoch(native, sizes, train, batch, options);
      const peak = peaks.find((p) => p.isa === variant.isa && p.threads === variant.threads)!;
      const nativeRow = row('native', variant.isa, variant.threads, time, {
        checkDifference,
        speedupOverTs: tsTime.secondsPerEpoch / time.secondsPerEpoch,
      });
      nativeRow.percentOfPeak = (100 * nativeRow.gflops) / peak.gflops;
      rows.push(nativeRow);
      onRow(nativeRow);
    }
    const tsRow = row('ts', 'js', 1, tsTime, { speedupOverTs: 1 });
    rows.push(tsRow);
    onRow(tsRow);
  };
  for (const hidden of options.hidden) for (const batch of options.batches) await measure([hidden], batch);
  if (options.deeper) await measure(options.deeper, DEEPER_BATCH);
  if (options.peers) {
    const peers = peerRows(options, notes);
    const blas = [...new Set(peers.flatMap((peer) => (peer.blas ? [peer.blas] : [])))];
    if (blas.length > 0) notes.push(`numpy ran with ${blas.join(', ')} (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for it)`);
    for (const peer of peers) {
      const peerRow: BenchRow = {
        backend: peer.peer,
        isa: '',
        threads: peer.peer.startsWith('numpy') ? all : 1,
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
  if (options.wholeRuns) notes.push(...wholeRunNotes(options.wholeRuns, options.peers));
  // The peak once more: a machine that was busy during the run shows it here.
  const peaksAfter: PeakRow[] = [];
  for (const variant of variants) peaksAfter.push({ ...variant, gflops: await new NativeBackend(variant).peakGflops(0.5) });
  if (options.contention) notes.push(`run beside ${Math.max(1, all - 1)} busy process(es) (--contention): the busy-machine notes are expected`);
  notes.push(...busyMachineNotes(peaks, peaksAfter), ...threadsNotes(rows, all, options.contention ?? false));
  return { cpu, date: new Date().toISOString().slice(0, 10), peaks, rows, notes };
}

/**
 * `backprop train` as a user starts it (`npm start`: the seed's 20 epochs, 70,000 images evaluated
 * after each, process start and data loading included), `runs` times: its median wall time and peak
 * memory against the targets of issue 10 (≤ 1.2 s, ≤ 150 MB, ≥ 8× the seed's numpy script).
 */
function wholeRunNotes(runs: number, peers: boolean): string[] {
  const cli = fileURLToPath(new URL('../../bin/backprop.js', import.meta.url));
  const walls: number[] = [];
  const peaks: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const run = spawnSync(process.execPath, [cli, 'train', '--json'], { encoding: 'utf8', maxBuffer: 1 << 24 });
    walls.push((performance.now() - start) / 1000);
    const done = run.stdout.split('\n').find((line) => line.includes('"event":"done"'));
    if (run.status !== 0 || !done) return [`the whole run failed: ${run.stderr.trim().split('\n').at(-1)}`];
    peaks.push((JSON.parse(done) as { peakMemoryMB: number }).peakMemoryMB);
  }
  const [wall, peak] = [median(walls), median(peaks)];
  const met = (ok: boolean): string => (ok ? 'met' : 'not met');
  const notes = [`npm start (20 epochs, evaluation included): ${wall.toFixed(2)} s wall, peak memory ${peak} MB (medians of ${runs}); targets ≤ 1.2 s: ${met(wall <= 1.2)}, ≤ 150 MB: ${met(peak <= 150)}`];
  if (peers && spawnSync('python3', ['-c', 'import numpy'], { env: peerEnv() }).status === 0) {
    const start = performance.now();
    const seed = spawnSync('python3', [`${peersDir}numpy_mlp.py`, bundledMnistDir(), '--seed-run', '20'], { encoding: 'utf8', env: peerEnv() });
    const seconds = (performance.now() - start) / 1000;
    if (seed.status === 0) notes.push(`the seed's main.py in numpy (float64, the same 20 epochs and evaluations): ${seconds.toFixed(2)} s wall, ${(seconds / wall).toFixed(1)}× npm start's; target ≥ 8×: ${met(seconds / wall >= 8)}`);
  }
  return notes;
}

/** `count` processes that keep a core busy each, until the returned function stops them (or this process ends). */
function startBusyProcesses(count: number): () => void {
  const children = Array.from({ length: count }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  const stop = (): void => {
    process.off('exit', stop);
    for (const child of children) child.kill('SIGKILL');
  };
  process.once('exit', stop);
  return stop;
}

/**
 * How all threads compare with one, per ISA and shape: never more than 1.05× slower on an idle
 * machine, 1.2× beside busy processes (the targets of issue 10). One line, with the worst case.
 */
export function threadsNotes(rows: BenchRow[], all: number, contention: boolean): string[] {
  if (all === 1) return [];
  const ratios = rows
    .filter((row) => row.backend === 'native' && row.threads === all)
    .flatMap((multi) => {
      const single = rows.find((r) => r.backend === 'native' && r.threads === 1 && r.isa === multi.isa && r.hidden === multi.hidden && r.batch === multi.batch);
      return single ? [{ row: multi, ratio: multi.secondsPerEpoch / single.secondsPerEpoch }] : [];
    });
  if (ratios.length === 0) return [];
  const worst = ratios.reduce((a, b) => (b.ratio > a.ratio ? b : a));
  const target = contention ? 1.2 : 1.05;
  const where = `${worst.row.isa}, hidden ${worst.row.hidden}, batch ${worst.row.batch}`;
  return [`${all} threads against 1: at worst ${worst.ratio.toFixed(2)}× the time (${where}); target ≤ ${target}× ${contention ? 'beside busy processes' : 'on an idle machine'}: ${worst.ratio <= target ? 'met' : 'not met'}`];
}

/**
 * What says the machine was busy, so that the figures are read with care: the FMA peak measured at
 * the start and at the end more than 10 % apart, or more threads reaching a lower peak than one.
 * (A result above 100 % of the peak says nothing: the zero inputs it skipped are counted as work.)
 */
export function busyMachineNotes(before: PeakRow[], after: PeakRow[]): string[] {
  const notes: string[] = [];
  const label = (p: PeakRow): string => `${p.isa} ×${p.threads}`;
  for (const first of before) {
    const second = after.find((p) => p.isa === first.isa && p.threads === first.threads);
    if (second && Math.abs(second.gflops - first.gflops) > 0.1 * Math.max(first.gflops, second.gflops)) {
      notes.push(`the machine was busy: the FMA peak ${label(first)} measured ${first.gflops.toFixed(1)} GFLOP/s at the start and ${second.gflops.toFixed(1)} at the end`);
    }
    const single = before.find((p) => p.isa === first.isa && p.threads === 1);
    if (single && first.threads > 1 && first.gflops < single.gflops) {
      notes.push(`the machine was busy: the FMA peak ${label(first)} (${first.gflops.toFixed(1)} GFLOP/s) is below ${label(single)} (${single.gflops.toFixed(1)})`);
    }
  }
  return notes;
}
