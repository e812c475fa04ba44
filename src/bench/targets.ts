// The speed targets of issue 30 (and those of issues 10 and 28 it kept), each checked against what one
// benchmark run measured. A target that the run did not measure (its shape was not in the grid, or the mode was not asked for) says
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

/** All threads against one for each native shape both were timed at, by ISA. */
function threadRatios(rows: BenchRow[], threads: number): { row: BenchRow; ratio: number }[] {
  return rows
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
}

const shape = (row: BenchRow): string => `hidden ${row.hidden}, batch ${row.batch}`;

/** The worst of some ratios against a limit: `worst` picks the highest (a cost) or the lowest (a speed-up). */
function worstRatio(
  what: string,
  target: string,
  ratios: { ratio: number; label: string }[],
  met: (ratio: number) => boolean,
  worst: 'highest' | 'lowest' = 'highest',
): TargetRow {
  if (ratios.length === 0) return { what, target, measured: NOT_MEASURED };
  const pick = ratios.reduce((a, b) => ((worst === 'highest' ? b.ratio > a.ratio : b.ratio < a.ratio) ? b : a));
  return {
    what,
    target,
    measured: `at worst ${pick.ratio.toFixed(2)}× (${pick.label}), ${ratios.length} shape${ratios.length === 1 ? '' : 's'}`,
    met: ratios.every((r) => met(r.ratio)),
  };
}

/** All threads are never slower than one, on every shape (idle, or beside busy processes). */
function neverSlowerTarget(rows: BenchRow[], threads: number, contention: boolean): TargetRow {
  const what = contention
    ? `${threads} threads against 1, beside busy processes`
    : `${threads} threads against 1, idle machine`;
  const ratios = threadRatios(rows, threads).map(({ row, ratio }) => ({ ratio, label: `${row.isa}, ${shape(row)}` }));
  return worstRatio(what, '≤ 1.00× the time, every shape', ratios, (r) => r <= 1);
}

/** All threads' speed-up over one where the products are wide enough to split: H ≥ 256. */
function speedUpTarget(rows: BenchRow[], threads: number): TargetRow {
  const ratios = threadRatios(rows, threads)
    .filter(({ row }) => Number(row.hidden.split(',')[0]) >= 256)
    .map(({ row, ratio }) => ({ ratio: 1 / ratio, label: `${row.isa}, ${shape(row)}` }));
  return worstRatio(
    `${threads} threads against 1, H ≥ 256`,
    '≥ 1.7× faster, every shape',
    ratios,
    (r) => r >= 1.7,
    'lowest',
  );
}

/** The fastest native epoch against numpy float32's at every shape both ran with batch ≥ 10. */
function numpyTarget(rows: BenchRow[], threads: number): TargetRow {
  const ratios = rows
    .filter((peer) => peer.backend === 'numpy-f32' && peer.batch >= 10)
    .flatMap((peer) => {
      const native = nativeEpoch(rows, peer.hidden, peer.batch, threads);
      return native ? [{ ratio: native.secondsPerEpoch / peer.secondsPerEpoch, label: shape(peer) }] : [];
    });
  return worstRatio(
    'native against numpy float32, batch ≥ 10',
    '≤ 0.5× the time, every shape',
    ratios,
    (r) => r <= 0.5,
  );
}

/** A sample's cost at batch 1000 against batch 100 (an epoch is the same 60,000 samples at both). */
function largeBatchTarget(rows: BenchRow[], threads: number): TargetRow {
  const hiddens = [...new Set(rows.filter((r) => r.backend === 'native').map((r) => r.hidden))];
  const ratios = hiddens.flatMap((hidden) => {
    const large = nativeEpoch(rows, hidden, 1000, threads);
    const small = nativeEpoch(rows, hidden, 100, threads);
    return large && small ? [{ ratio: large.secondsPerEpoch / small.secondsPerEpoch, label: `hidden ${hidden}` }] : [];
  });
  return worstRatio('a sample at batch 1000 against batch 100', '≤ 1.00× the cost, every H', ratios, (r) => r <= 1);
}

/** The fastest native epoch of a shape as a share of the FMA peak measured with its ISA and threads. */
function peakShareTarget(rows: BenchRow[], what: string, hidden: string, percent: number, threads: number): TargetRow {
  const row = nativeEpoch(rows, hidden, 100, threads);
  const target = `≥ ${percent} % of the ${threads}-thread nominal peak`;
  if (row?.percentOfPeak === undefined) return { what, target, measured: NOT_MEASURED };
  return {
    what,
    target,
    measured: `${row.percentOfPeak.toFixed(0)} % (${seconds(row.secondsPerEpoch)}, ${row.isa} ×${row.threads})`,
    met: row.percentOfPeak >= percent,
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

/** Every target of issue 30, and those of issues 10 and 28 it did not replace, met or not. */
export function targetRows(inputs: TargetInputs): TargetRow[] {
  const { rows, optimizers, wholeRun: run, threads, contention } = inputs;
  const ts = rows.find((r) => r.backend === 'ts' && r.hidden === '256' && r.batch === 100);
  return [
    neverSlowerTarget(rows, threads, contention),
    speedUpTarget(rows, threads),
    numpyTarget(rows, threads),
    largeBatchTarget(rows, threads),
    peakShareTarget(rows, 'seed network (H 30, batch 100)', '30', 60, threads),
    peakShareTarget(rows, 'H 1024, batch 100', '1024', 150, threads),
    optimizerTarget(optimizers, 'momentum', 1.15),
    optimizerTarget(optimizers, 'adam', 1.15),
    {
      what: 'npm start (20 epochs, evaluation, process start) against its training time',
      target: '≤ 1.3×',
      measured: run
        ? `${seconds(run.wallSeconds)} for ${seconds(run.trainSeconds)}, ${(run.wallSeconds / run.trainSeconds).toFixed(2)}×`
        : NOT_MEASURED,
      met: run && run.wallSeconds <= 1.3 * run.trainSeconds,
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
