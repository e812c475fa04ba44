// The speed targets of issues 10 and 28, each checked against what one benchmark run measured. A target
// that the run did not measure (its shape was not in the grid, or the mode was not asked for) says
// so instead of passing or failing.
import type { BenchRow, OptimizerRow, TargetRow, WholeRun } from './results.js';

export interface TargetInputs {
  rows: BenchRow[];
  optimizers: OptimizerRow[];
  wholeRun?: WholeRun;
  /** The default thread count. */
  threads: number;
  contention: boolean;
}

export const NOT_MEASURED = 'not measured in this run';

const seconds = (s: number): string => `${s.toFixed(3)} s`;

/** The fastest native epoch at the default thread count for this shape (the ISA a user gets is the fastest). */
function nativeEpoch(rows: BenchRow[], hidden: string, batch: number, threads: number): BenchRow | undefined {
  return rows
    .filter((r) => r.backend === 'native' && r.hidden === hidden && r.batch === batch && r.threads === threads)
    .reduce<BenchRow | undefined>(
      (best, r) => (!best || r.secondsPerEpoch < best.secondsPerEpoch ? r : best),
      undefined,
    );
}

function epochTarget(
  rows: BenchRow[],
  what: string,
  hidden: string,
  batch: number,
  limit: number,
  threads: number,
): TargetRow {
  const row = nativeEpoch(rows, hidden, batch, threads);
  const target = `≤ ${limit} s per epoch`;
  if (!row) return { what, target, measured: NOT_MEASURED };
  return {
    what,
    target,
    measured: `${seconds(row.secondsPerEpoch)} (${row.isa} ×${row.threads})`,
    met: row.secondsPerEpoch <= limit,
  };
}

/** All threads against one, per ISA and shape, at the worst shape of the grid. */
function threadsTarget(rows: BenchRow[], threads: number, contention: boolean): TargetRow {
  const what = contention
    ? `${threads} threads against 1, beside busy processes`
    : `${threads} threads against 1, idle machine`;
  const limit = contention ? 1.2 : 1.05;
  const target = `≤ ${limit}× the time, every shape`;
  const ratios = rows
    .filter((row) => row.backend === 'native' && row.threads === threads && threads > 1)
    .flatMap((multi) => {
      const single = rows.find(
        (r) =>
          r.backend === 'native' &&
          r.threads === 1 &&
          r.isa === multi.isa &&
          r.hidden === multi.hidden &&
          r.batch === multi.batch,
      );
      return single ? [{ row: multi, ratio: multi.secondsPerEpoch / single.secondsPerEpoch }] : [];
    });
  if (ratios.length === 0) return { what, target, measured: NOT_MEASURED };
  const worst = ratios.reduce((a, b) => (b.ratio > a.ratio ? b : a));
  return {
    what,
    target,
    measured: `at worst ${worst.ratio.toFixed(2)}× (${worst.row.isa}, hidden ${worst.row.hidden}, batch ${worst.row.batch})`,
    met: worst.ratio <= limit,
  };
}

function optimizerTarget(optimizers: OptimizerRow[], name: string, limit: number): TargetRow {
  const what = `${name} against SGD, H ≥ 256, batch 100, 1 and all threads`;
  const target = `≤ ${limit}× the epoch time`;
  const measured = optimizers.filter((o) => o.optimizer === name);
  if (measured.length === 0) return { what, target, measured: NOT_MEASURED };
  const worst = measured.reduce((a, b) => (b.ratio > a.ratio ? b : a));
  const all = measured.map((o) => `H ${o.hidden} ×${o.threads}: ${o.ratio.toFixed(2)}×`).join(', ');
  return { what, target, measured: `${all}; worst ${worst.ratio.toFixed(2)}×`, met: worst.ratio <= limit };
}

/** The wasm backend's epoch against another row's of the same shape: `faster` ×, or `within` × of it. */
function wasmTarget(
  rows: BenchRow[],
  what: string,
  hidden: string,
  against: (r: BenchRow) => boolean,
  goal: { faster: number } | { within: number },
): TargetRow {
  const wasm = rows.find((r) => r.backend === 'wasm' && r.hidden === hidden && r.batch === 100);
  const other = rows.find((r) => r.hidden === hidden && r.batch === 100 && against(r));
  const target = 'faster' in goal ? `≥ ${goal.faster}× faster` : `≤ ${goal.within}× the time`;
  if (!wasm || !other) return { what, target, measured: NOT_MEASURED };
  const ratio = wasm.secondsPerEpoch / other.secondsPerEpoch;
  return 'faster' in goal
    ? { what, target, measured: `${(1 / ratio).toFixed(2)}× faster`, met: 1 / ratio >= goal.faster }
    : { what, target, measured: `${ratio.toFixed(2)}× the time`, met: ratio <= goal.within };
}

/** Every target of issue 10, met or not, with what this run measured for it. */
export function targetRows(inputs: TargetInputs): TargetRow[] {
  const { rows, optimizers, wholeRun, threads, contention } = inputs;
  const ts = rows.find((r) => r.backend === 'ts' && r.hidden === '256' && r.batch === 100);
  const run = wholeRun;
  return [
    threadsTarget(rows, threads, contention),
    optimizerTarget(optimizers, 'momentum', 1.1),
    optimizerTarget(optimizers, 'adam', 1.3),
    {
      what: 'npm start (20 epochs, evaluation, process start)',
      target: '≤ 1.2 s wall',
      measured: run ? seconds(run.wallSeconds) : NOT_MEASURED,
      met: run && run.wallSeconds <= 1.2,
    },
    {
      what: "the seed's main.py in numpy, against npm start",
      target: '≥ 8× the wall time',
      measured:
        run?.seedScriptSeconds === undefined
          ? NOT_MEASURED
          : `${seconds(run.seedScriptSeconds)}, ${(run.seedScriptSeconds / run.wallSeconds).toFixed(1)}×`,
      met: run?.seedScriptSeconds === undefined ? undefined : run.seedScriptSeconds / run.wallSeconds >= 8,
    },
    {
      what: 'peak memory of npm start',
      target: '≤ 150 MB',
      measured: run ? `${run.peakMemoryMB} MB` : NOT_MEASURED,
      met: run && run.peakMemoryMB <= 150,
    },
    {
      what: 'peak memory, hidden 1024, one epoch',
      target: 'stated',
      measured: run?.widePeakMemoryMB === undefined ? NOT_MEASURED : `${run.widePeakMemoryMB} MB`,
    },
    epochTarget(rows, 'seed network (H 30, batch 100)', '30', 100, 0.025, threads),
    epochTarget(rows, 'H 1024, batch 100', '1024', 100, 0.45, threads),
    epochTarget(rows, 'online learning (H 30, batch 1)', '30', 1, 0.12, threads),
    wasmTarget(rows, 'wasm against ts, H 256, batch 100', '256', (r) => r.backend === 'ts', { faster: 5 }),
    wasmTarget(
      rows,
      'wasm against native AVX2 on one thread, H 256, batch 100',
      '256',
      (r) => r.backend === 'native' && r.isa === 'avx2' && r.threads === 1,
      { within: 2.5 },
    ),
    wasmTarget(
      rows,
      'wasm against native AVX2 on one thread, seed network',
      '30',
      (r) => r.backend === 'native' && r.isa === 'avx2' && r.threads === 1,
      { within: 3 },
    ),
    {
      what: 'ts backend, H 256, batch 100',
      target: '≤ 3.5 s per epoch',
      measured: ts ? seconds(ts.secondsPerEpoch) : NOT_MEASURED,
      met: ts && ts.secondsPerEpoch <= 3.5,
    },
  ];
}

/** `met`, `not met` or `—` (not measured, or stated only). */
export function verdict(row: TargetRow): string {
  return row.met === undefined ? '—' : row.met ? 'met' : 'not met';
}
