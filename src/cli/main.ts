import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { Network } from '../model/network.js';
import { fit, type FitResult } from '../train/fit.js';
import { loadAddon } from '../backends/native.js';
import { selectBackend } from '../backends/select.js';
import { EXIT, UsageError, UserError } from '../errors.js';
import { helpText, parseOptions, suggestion, type OptionSpec, type ParsedOptions } from './options.js';
import { describeBackend, describeNetwork, describeTraining } from './report.js';
import { backendFrom, buildNetwork, fitOptions, networkOf, prepareTraining, trainSettings, type TrainSettings } from './setup.js';
import { trainCommand } from './train-command.js';
import { stdio, type Io } from './io.js';
import { BENCH_OPTIONS, EXAMPLE_OPTIONS, EXPORT_OPTIONS, GRADCHECK_OPTIONS, PREDICT_OPTIONS, REPORT_OPTIONS, SAVE_OPTIONS, TRAIN_OPTIONS } from './specs.js';
import { reportCommand } from './report-command.js';
import { ONNX_OPSET, toOnnx } from '../export/onnx.js';
import { loadModel } from '../model/safetensors.js';
import { predictCommand } from './predict-command.js';
import { runTutorial } from '../examples/tutorial.js';
import { gradcheck } from '../train/gradcheck.js';
import { runBenchmark } from '../bench/benchmark.js';
import { markdown, terminalHeader, terminalLine, variantLabel } from '../bench/report.js';
import { writeFileAtomic } from '../io/atomic.js';
import { join } from 'node:path';


interface Command {
  summary: string;
  options: readonly OptionSpec[];
  run(options: ParsedOptions, io: Io): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  train: {
    summary: 'train on MNIST (the default command)',
    options: TRAIN_OPTIONS,
    run: (options, io) => trainCommand(options, io),
  },
  compare: {
    summary: 'train the same network from the same seed on the native and ts backends, side by side',
    options: TRAIN_OPTIONS.filter((spec) => !['backend', 'progress-json', 'quiet', 'log-every'].includes(spec.name) && !SAVE_OPTIONS.includes(spec)),
    run: (options, io) => compare(trainSettings(options), options.get('report') as string | undefined, io),
  },
  bench: {
    summary: 'time native (every ISA, 1 and all threads), ts and the optional peers (--out DIR writes latest.json and latest.md)',
    options: BENCH_OPTIONS,
    run: (options, io) => bench(options, io),
  },
  predict: {
    summary: 'evaluate a saved model: accuracy, error, confusion matrix, per-class precision and recall',
    options: PREDICT_OPTIONS,
    run: (options, io) => {
      if (!options.has('model')) throw new UsageError('predict needs --model FILE');
      return predictCommand(options, io);
    },
  },
  export: {
    summary: 'write a saved model as ONNX: input [N, inputs] scaled as in training, output [N, outputs]',
    options: EXPORT_OPTIONS,
    run: async (options, io) => {
      if (!options.has('model') || !options.has('out')) throw new UsageError('export needs --model FILE and --out FILE');
      const file = loadModel(options.get('model') as string);
      const out = options.get('out') as string;
      writeFileAtomic(out, toOnnx(file.architecture, file.params, version()));
      io.out(`wrote ${out} (ONNX opset ${ONNX_OPSET}, ${file.architecture.sizes.join('-')}, input "input" [N, ${file.architecture.sizes[0]}], output "output" [N, ${file.architecture.sizes.at(-1)}])`);
      return EXIT.ok;
    },
  },
  report: {
    summary: 'write the HTML report of a saved model (curves, confusion matrix, the most confidently wrong digits)',
    options: REPORT_OPTIONS,
    run: (options, io) => reportCommand(options, io),
  },
  example: {
    summary: 'run a worked example: `backprop example tutorial [--bias]`, the classic 3-2-1 network',
    options: EXAMPLE_OPTIONS,
    run: (options, io) => tutorialCommand(options, io),
  },
  gradcheck: {
    summary: 'check the analytic gradient of every parameter tensor against finite differences (float64)',
    options: GRADCHECK_OPTIONS,
    run: (options, io) => gradcheckCommand(options, io),
  },
  info: {
    summary: 'the CPU, the native ISAs compiled, supported and selected, and the thread count',
    options: TRAIN_OPTIONS.filter((spec) => ['isa', 'threads', 'json'].includes(spec.name)),
    run: (options, io) => info(options, io),
  },
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function usage(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(...names.map((n) => n.length));
  return [
    'usage: backprop [command] [options]',
    '',
    'commands:',
    ...names.map((name) => `  ${name.padEnd(width)}  ${COMMANDS[name].summary}`),
    '',
    'run `backprop <command> --help` for its options; exit codes: 0 done, 1 runtime error (or a failed gradcheck), 2 usage error, 130/143 interrupted',
  ].join('\n');
}

/** Runs the command line `argv` (without `node` and the script) and returns the exit code. */
export async function main(argv: readonly string[], io: Io = stdio): Promise<number> {
  try {
    if (argv[0] === '--version' || argv[0] === '-v') {
      io.out(version());
      return EXIT.ok;
    }
    if (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
      io.out(usage());
      return EXIT.ok;
    }
    const explicit = argv.length > 0 && !argv[0].startsWith('-');
    const name = explicit ? argv[0] : 'train';
    const command = COMMANDS[name];
    if (!command) {
      const hint = suggestion(name, Object.keys(COMMANDS)) || ` (expected ${Object.keys(COMMANDS).join(', ')})`;
      throw new UsageError(`unknown command '${name}'${hint}`);
    }
    let args = explicit ? argv.slice(1) : argv;
    if (name === 'example') {
      if (args[0] !== 'tutorial') throw new UsageError(`unknown example '${args[0] ?? ''}' (the one example is: tutorial)`);
      args = args.slice(1);
    }
    if (args.includes('--help') || args.includes('-h')) {
      io.out(`usage: backprop ${name} [options]\n${command.summary}\n\n${helpText(command.options)}`);
      return EXIT.ok;
    }
    return await command.run(parseOptions(args, command.options, name), io);
  } catch (err) {
    if (err instanceof UserError) {
      io.err(`backprop: ${err.message}`);
      return err.exitCode;
    }
    throw err;
  }
}

interface CompareRow {
  label: string;
  result: FitResult;
  net: Network;
}

async function compare(settings: TrainSettings, report: string | undefined, io: Io): Promise<number> {
  const rows: CompareRow[] = [];
  let trainCount = 0;
  for (const backendName of ['native', 'ts']) {
    const { data, sizes, backend } = prepareTraining(settings, backendName);
    trainCount = data.train.count;
    const net = buildNetwork(settings, sizes, backend);
    const result = await fit(net, data.train, { ...fitOptions(settings), validation: data.test });
    rows.push({ label: describeBackend(backend), result, net });
  }
  let maxDifference = 0;
  const [native, ts] = rows;
  for (let i = 0; i < native.net.params.length; i++) {
    maxDifference = Math.max(maxDifference, Math.abs(native.net.params[i] - ts.net.params[i]));
  }
  const epochs = native.result.history.length;
  const perEpoch = (row: CompareRow): number => row.result.trainSeconds / epochs;
  const table = rows.map((row) => {
    const last = row.result.history.at(-1)!;
    return {
      backend: row.net.backend.name,
      isa: row.net.backend.isa,
      threads: row.net.backend.threads,
      secondsPerEpoch: perEpoch(row),
      samplesPerSecond: trainCount / perEpoch(row),
      speedup: perEpoch(ts) / perEpoch(row),
      trainAccuracy: last.trainAccuracy,
      trainError: last.trainError,
      valAccuracy: last.valAccuracy,
    };
  });
  if (report) {
    const { timingReport } = await import('../report/html.js');
    const html = await timingReport({
      title: `backprop compare: ${native.net.sizes.join('-')}`,
      config: { network: native.net.sizes.join('-'), training: describeTraining(settings), 'largest weight difference': maxDifference.toExponential(2) },
      bars: rows.map((row) => ({ label: row.label, seconds: perEpoch(row), group: row.net.backend.name })),
    });
    writeFileAtomic(report, html);
  }
  if (settings.json) {
    for (const row of table) io.out(JSON.stringify({ event: 'compare', ...row }));
    io.out(JSON.stringify({ event: 'done', maxWeightDifference: maxDifference }));
    return EXIT.ok;
  }
  io.out(
    `network ${native.net.sizes.join('-')}, ${epochs} epoch${epochs === 1 ? '' : 's'} of ${trainCount.toLocaleString('en-US')} samples, batch ${settings.batchSize}, learning rate ${settings.learningRate}, seed ${settings.seed}`,
  );
  const header = ['backend', 's/epoch', 'samples/s', 'speed-up', 'train acc', 'val acc'];
  const cells = table.map((row, i) => [
    rows[i].label,
    row.secondsPerEpoch.toFixed(3),
    Math.round(row.samplesPerSecond).toLocaleString('en-US'),
    `${row.speedup.toFixed(1)}×`,
    row.trainAccuracy?.toFixed(4) ?? '—',
    row.valAccuracy?.toFixed(4) ?? '—',
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c].length)));
  const format = (row: string[]): string => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  io.out(format(header));
  for (const row of cells) io.out(format(row));
  io.out(`largest difference between the two weight sets: ${maxDifference.toExponential(2)}`);
  return EXIT.ok;
}

async function info(options: ParsedOptions, io: Io): Promise<number> {
  const isa = (options.get('isa') as string | undefined) ?? process.env.BACKPROP_ISA;
  const threads = options.get('threads') as number | undefined;
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const facts: Record<string, unknown> = { cpu, logicalCpus: cpus().length };
  const { backend, fallbackReason } = selectBackend('auto', { isa, threads });
  facts.backend = backend.name;
  if (fallbackReason) facts.fallback = fallbackReason;
  const addon = loadAddon();
  if (!('error' in addon)) {
    Object.assign(facts, {
      addon: addon.path,
      isaCompiled: addon.addon.compiledIsas,
      isaSupported: addon.addon.supportedIsas,
      isaSelected: backend.isa,
      threads: backend.threads,
    });
  }
  if (options.has('json')) {
    io.out(JSON.stringify({ event: 'info', ...facts }));
    return EXIT.ok;
  }
  for (const [key, value] of Object.entries(facts)) io.out(`${key.padEnd(12)} ${Array.isArray(value) ? value.join(', ') : String(value)}`);
  return EXIT.ok;
}

async function bench(options: ParsedOptions, io: Io): Promise<number> {
  const json = options.has('json');
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  if (!json) io.out(`benchmark on ${cpu}\n${terminalHeader()}`);
  const report = await runBenchmark(
    {
      hidden: options.get('hidden') as number[],
      batches: options.get('batch') as number[],
      isas: options.has('isa') ? [options.get('isa') as string] : undefined,
      repeats: options.get('repeats') as number,
      seconds: options.get('seconds') as number,
      peers: !options.has('no-peers'),
      deeper: options.has('no-deeper') ? undefined : (options.get('deeper') as number[]),
      contention: options.has('contention'),
      wholeRuns: options.get('whole-runs') as number,
    },
    (row) => io.out(json ? JSON.stringify({ event: 'backend' in row ? 'result' : 'peak', ...row }) : terminalLine(row)),
    cpu,
  );
  // The committed results are refreshed on purpose only: nothing is written without --out.
  const out = options.get('out') as string | undefined;
  const command = ['backprop bench', ...process.argv.slice(3)].join(' ');
  if (out) {
    writeFileAtomic(join(out, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
    writeFileAtomic(join(out, 'latest.md'), markdown(report, command));
  }
  const html = options.get('report') as string | undefined;
  if (html) {
    const { timingReport } = await import('../report/html.js');
    writeFileAtomic(
      html,
      await timingReport({
        title: `backprop bench on ${cpu}`,
        config: { command, date: report.date, ...Object.fromEntries(report.peaks.map((p) => [`FMA peak ${p.isa} ×${p.threads}`, `${p.gflops.toFixed(1)} GFLOP/s`])) },
        bars: report.rows.map((row) => ({ label: `${variantLabel(row)}, H ${row.hidden}, batch ${row.batch}`, seconds: row.secondsPerEpoch, group: row.backend === 'native' ? `native ${row.isa}` : row.backend })),
      }),
    );
  }
  for (const note of report.notes) io.err(`backprop: ${note}`);
  if (!json && out) io.out(`wrote ${join(out, 'latest.json')} and ${join(out, 'latest.md')}`);
  if (!json && html) io.out(`wrote ${html}`);
  return EXIT.ok;
}

async function gradcheckCommand(options: ParsedOptions, io: Io): Promise<number> {
  const hidden = options.get('hidden') as number[];
  const sizes = [options.get('inputs') as number, ...hidden, options.get('outputs') as number];
  const backend = backendFrom(options);
  const network = networkOf(options, hidden.length);
  const tolerance = options.get('tolerance') as number;
  const checks = gradcheck({ sizes, network, backend, rows: options.get('rows') as number, seed: options.get('seed') as number });
  const passed = checks.every((check) => check.relativeError <= tolerance);
  if (options.has('json')) {
    for (const check of checks) io.out(JSON.stringify({ event: 'tensor', ...check }));
    io.out(JSON.stringify({ event: 'done', passed, tolerance, backend: backend.name, isa: backend.isa }));
  } else {
    const net = new Network(sizes, network);
    io.out(`gradient check of ${sizes.join('-')} (${describeNetwork(net)}) on ${describeBackend(backend)}, ${options.get('rows')} samples`);
    for (const check of checks) io.out(`  ${check.tensor.padEnd(16)} largest relative error ${check.relativeError.toExponential(2)}`);
    io.out(passed ? `passed (tolerance ${tolerance})` : `FAILED: above the tolerance ${tolerance}`);
  }
  return passed ? EXIT.ok : EXIT.runtime;
}

async function tutorialCommand(options: ParsedOptions, io: Io): Promise<number> {
  const backend = backendFrom(options);
  const bias = options.has('bias');
  const steps = options.get('steps') as number;
  const rows = await runTutorial({ bias, steps, learningRate: options.get('lr') as number, seed: options.get('seed') as number, backend });
  // (−1,−1,−1) and (1,1,1) are each other's negation yet both want −1: without biases the network is
  // an odd function, f(−x) = −f(x), so at best they come out near 0, one on each side.
  const symmetric = (row: (typeof rows)[number]): boolean => row.input.every((v) => v === row.input[0]);
  const judged = bias ? rows : rows.filter((row) => !symmetric(row));
  const signs = judged.filter((row) => Math.sign(row.output) === Math.sign(row.target)).length;
  if (options.has('json')) {
    for (const row of rows) io.out(JSON.stringify({ event: 'output', ...row }));
    io.out(JSON.stringify({ event: 'done', bias, steps, signsRight: signs, judged: judged.length }));
    return EXIT.ok;
  }
  io.out(`the tutorial's 3-2-1 network (bipolar, ${bias ? 'with biases, uniform ±0.5 start' : "no biases, the tutorial's weights"}), ${steps.toLocaleString('en-US')} online steps`);
  io.out('input        target   output');
  for (const row of rows) {
    const input = row.input.map((v) => (v > 0 ? ' 1' : '-1')).join(' ');
    io.out(`${input}     ${row.target > 0 ? ' 1' : '-1'}   ${row.output >= 0 ? ' ' : ''}${row.output.toFixed(4)}`);
  }
  if (bias) {
    io.out(`${signs} of 8 outputs have the target's sign`);
  } else {
    const pair = rows.filter(symmetric).map((row) => row.output.toFixed(4));
    io.out(`${signs} of the other 6 outputs have the target's sign; (-1,-1,-1) and (1,1,1) both want -1, but without`);
    io.out(`biases the network is odd, f(-x) = -f(x), so they can only come out near 0: ${pair.join(' and ')}. Try --bias.`);
  }
  return EXIT.ok;
}
