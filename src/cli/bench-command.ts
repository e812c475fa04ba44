import { cpus } from 'node:os';
import { EXIT, UsageError } from '../errors.js';
import type { Options } from './options.js';
import type { Io } from './io.js';
import { BENCH_OPTIONS } from './specs.js';
import { runBenchmark } from '../bench/benchmark.js';
import { RECIPE_98, timeToAccuracy } from '../bench/time-to.js';
import { verdict } from '../bench/targets.js';
import { markdown, targetLine, terminalHeader, terminalLine, variantLabel } from '../bench/report.js';
import { writeFileAtomic } from '../io/atomic.js';
import { join } from 'node:path';
import { defineCommand } from './command.js';
import { outputsOf, refuseClashes } from './setup.js';

/** `bench --time-to ACC`: the race of the recipes, one line (or JSON object) per racer. */
async function timeTo(target: number, json: boolean, io: Io): Promise<number> {
  if (target > 1) throw new UsageError(`--time-to is an accuracy from 0 to 1, got ${target}`);
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  if (!json) io.out(`time to ${target} held-out accuracy on ${cpu}, process start included: ${RECIPE_98.join(' ')}`);
  const notes: string[] = [];
  for (const row of await timeToAccuracy(target, notes)) {
    if (json) {
      io.out(JSON.stringify({ event: 'time-to', target, ...row }));
      continue;
    }
    const reached =
      row.seconds === undefined
        ? `not reached (best ${row.bestValAccuracy.toFixed(4)})`
        : `${row.seconds.toFixed(2)} s (epoch ${row.epoch})`;
    const test = row.testAccuracy === undefined ? '' : `, test ${row.testAccuracy.toFixed(4)}`;
    io.out(
      `${row.peer.padEnd(9)} ${reached}; best validation ${row.bestValAccuracy.toFixed(4)}${test}, whole run ${row.wallSeconds.toFixed(2)} s`,
    );
  }
  for (const note of notes) io.err(`backprop: ${note}`);
  return EXIT.ok;
}

async function bench(options: Options<typeof BENCH_OPTIONS>, io: Io): Promise<number> {
  const { json } = options;
  if (options.timeTo !== undefined) return timeTo(options.timeTo, json, io);
  const written =
    options.out === undefined
      ? []
      : ['latest.json', 'latest.md'].map((name) => ({ option: 'out', path: join(options.out!, name) }));
  refuseClashes({}, [...written, ...outputsOf({ report: options.report })]);
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  if (!json) io.out(`benchmark on ${cpu}\n${terminalHeader()}`);
  const report = await runBenchmark(
    {
      hidden: options.hidden,
      batches: options.batch,
      isas: options.isa === undefined ? undefined : [options.isa],
      repeats: options.repeats,
      seconds: options.seconds,
      peers: !options.noPeers,
      deeper: options.noDeeper ? undefined : options.deeper,
      contention: options.contention,
      wholeRuns: options.wholeRuns,
    },
    (row) => io.out(json ? JSON.stringify({ event: 'backend' in row ? 'result' : 'peak', ...row }) : terminalLine(row)),
    cpu,
  );
  // The committed results are refreshed on purpose only: nothing is written without --out.
  const { out } = options;
  const command = ['backprop bench', ...process.argv.slice(3)].join(' ');
  if (out) {
    writeFileAtomic(join(out, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
    writeFileAtomic(join(out, 'latest.md'), markdown(report, command));
  }
  const html = options.report;
  if (html) {
    const { timingReport } = await import('../report/html.js');
    writeFileAtomic(
      html,
      await timingReport({
        title: `backprop bench on ${cpu}`,
        config: {
          command,
          date: report.date,
          ...Object.fromEntries(
            report.peaks.map((p) => [`FMA peak ${p.isa} ×${p.threads}`, `${p.gflops.toFixed(1)} GFLOP/s`]),
          ),
        },
        bars: report.rows.map((row) => ({
          label: `${variantLabel(row)}, H ${row.hidden}, batch ${row.batch}`,
          seconds: row.secondsPerEpoch,
          group: row.backend === 'native' ? `native ${row.isa}` : row.backend,
        })),
        scale: 'log',
        tables: [
          {
            heading: 'Optimizers against SGD',
            header: ['native', 'H', 'optimizer', '× SGD'],
            rows: report.optimizers.map((o) => [
              `${o.isa} ×${o.threads}`,
              String(o.hidden),
              o.optimizer,
              `${o.ratio.toFixed(2)}×`,
            ]),
          },
          {
            heading: 'Targets',
            header: ['what', 'target', 'measured', ''],
            rows: report.targets.map((t) => [t.what, t.target, t.measured, verdict(t)]),
          },
        ],
      }),
    );
  }
  if (json) {
    for (const optimizer of report.optimizers) io.out(JSON.stringify({ event: 'optimizer', ...optimizer }));
    for (const target of report.targets) io.out(JSON.stringify({ event: 'target', ...target }));
  } else {
    for (const o of report.optimizers)
      io.out(`native ${o.isa} ×${o.threads}, H ${o.hidden}: ${o.optimizer} ${o.ratio.toFixed(2)}× SGD's epoch time`);
    io.out('targets:');
    for (const target of report.targets) io.out(`  ${targetLine(target)}`);
  }
  for (const note of report.notes) io.err(`backprop: ${note}`);
  if (!json && out) io.out(`wrote ${join(out, 'latest.json')} and ${join(out, 'latest.md')}`);
  if (!json && html) io.out(`wrote ${html}`);
  return EXIT.ok;
}

export const benchCommand = defineCommand({
  summary:
    'time native (every ISA, 1 and all threads), ts and the optional peers numpy, PyTorch and TensorFlow.js (--out DIR writes latest.json and latest.md)',
  options: BENCH_OPTIONS,
  run: bench,
});
