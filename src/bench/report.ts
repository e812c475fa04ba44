import { grouped } from '../numbers.js';
import type { BenchReport, BenchRow, PeakRow, TargetRow } from './results.js';
import { NOT_MEASURED, verdict } from './targets.js';

const thousands = (n: number): string => grouped(Math.round(n));

function seconds(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 1 ? value.toFixed(2) : value.toFixed(4);
}

export function variantLabel(row: BenchRow): string {
  if (row.backend === 'native') return `native ${row.isa} ×${row.threads}`;
  return row.backend;
}

function runLabel(row: BenchRow): string {
  return row.fullEpoch ? 'full epoch' : `${row.batchesTimed} batch${row.batchesTimed === 1 ? '' : 'es'}, scaled`;
}

const COLUMNS = ['backend', 'H', 'batch', 's/epoch', 'samples/s', 'GFLOP/s', '% peak', '× ts', 'timed'];
const WIDTHS = [20, 7, 6, 9, 11, 8, 7, 7, 0];

function cells(row: BenchRow): string[] {
  return [
    variantLabel(row),
    row.hidden,
    String(row.batch),
    seconds(row.secondsPerEpoch),
    thousands(row.samplesPerSecond),
    row.gflops.toFixed(1),
    row.percentOfPeak === undefined ? '' : `${row.percentOfPeak.toFixed(0)}%`,
    row.speedupOverTs === undefined ? '' : row.speedupOverTs.toFixed(1),
    runLabel(row),
  ];
}

const pad = (values: string[]): string =>
  values
    .map((v, i) => (i === 0 ? v.padEnd(WIDTHS[i]) : v.padStart(WIDTHS[i])))
    .join('  ')
    .trimEnd();

export function terminalHeader(): string {
  return pad(COLUMNS);
}

export function terminalLine(item: BenchRow | PeakRow): string {
  if (!('backend' in item)) return `FMA peak ${item.isa} ×${item.threads}: ${item.gflops.toFixed(1)} GFLOP/s`;
  return pad(cells(item));
}

/** A target's line for the terminal: what, the target, what was measured, and whether it is met. */
export function targetLine(row: TargetRow): string {
  if (row.met === undefined && row.measured === NOT_MEASURED) return `${row.what}: ${row.target}; ${NOT_MEASURED}`;
  return `${row.what}: ${row.target}; measured ${row.measured}: ${verdict(row)}`;
}

/** The Markdown the README shows: machine, peaks, one table row per result, the optimizers against SGD, and the targets. */
export function markdown(report: BenchReport, command: string): string {
  const lines = [
    `Measured on ${report.cpu}, ${report.date}, with \`${command}\`. Seconds per training epoch of 60,000 MNIST`,
    'samples (evaluation excluded), each the median of the timed repeats after a warm-up; "scaled" rows time',
    'that many batches and scale to an epoch. GFLOP/s counts the nominal work of an epoch,',
    '(4·784·H + 6·10·H)·60,000 for one hidden layer of H (4 FLOP per weight of the first layer, 6 of the others);',
    '"% peak" is of the FMA peak measured with the same ISA and threads.',
    '',
    '| FMA peak | GFLOP/s |',
    '|---|---:|',
    ...report.peaks.map((p) => `| ${p.isa} ×${p.threads} | ${p.gflops.toFixed(1)} |`),
    '',
    `| ${COLUMNS.join(' | ')} |`,
    `|---|${COLUMNS.slice(1)
      .map(() => '---:')
      .join('|')}|`,
    ...report.rows.map((row) => `| ${cells(row).join(' | ')} |`),
  ];
  if (report.optimizers.length) {
    lines.push(
      '',
      'Optimizers against SGD (batch 100; each timed in turn with SGD over the same batches, medians):',
      '',
      '| backend | H | optimizer | s/epoch | × SGD |',
      '|---|---:|---|---:|---:|',
      ...report.optimizers.map(
        (o) =>
          `| native ${o.isa} ×${o.threads} | ${o.hidden} | ${o.optimizer} | ${seconds(o.secondsPerEpoch)} | ${o.ratio.toFixed(2)} |`,
      ),
    );
  }
  lines.push(
    '',
    'Targets:',
    '',
    '| what | target | measured | |',
    '|---|---|---|---|',
    ...report.targets.map((t) => `| ${t.what} | ${t.target} | ${t.measured} | ${verdict(t)} |`),
  );
  if (report.notes.length) lines.push('', ...report.notes.map((n) => `- ${n}`));
  return `${lines.join('\n')}\n`;
}
