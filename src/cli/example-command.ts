import { grouped } from '../numbers.js';
import { EXIT } from '../errors.js';
import type { Options } from './options.js';
import { backendFrom } from './setup.js';
import type { Io } from './io.js';
import { EXAMPLE_OPTIONS } from './specs.js';
import { runTutorial } from '../examples/tutorial.js';
import { defineCommand } from './command.js';

async function tutorialCommand(options: Options<typeof EXAMPLE_OPTIONS>, io: Io): Promise<number> {
  const backend = backendFrom(options);
  const { bias, steps } = options;
  const rows = await runTutorial({ bias, steps, learningRate: options.lr, seed: options.seed, backend });
  // (−1,−1,−1) and (1,1,1) are each other's negation yet both want −1: without biases the network is
  // an odd function, f(−x) = −f(x), so at best they come out near 0, one on each side.
  const symmetric = (row: (typeof rows)[number]): boolean => row.input.every((v) => v === row.input[0]);
  const judged = bias ? rows : rows.filter((row) => !symmetric(row));
  const signs = judged.filter((row) => Math.sign(row.output) === Math.sign(row.target)).length;
  if (options.json) {
    for (const row of rows) io.out(JSON.stringify({ event: 'output', ...row }));
    io.out(JSON.stringify({ event: 'done', bias, steps, signsRight: signs, judged: judged.length }));
    return EXIT.ok;
  }
  io.out(
    `the tutorial's 3-2-1 network (bipolar, ${bias ? 'with biases, uniform ±0.5 start' : "no biases, the tutorial's weights"}), ${grouped(steps)} online steps`,
  );
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
    io.out(
      `biases the network is odd, f(-x) = -f(x), so they can only come out near 0: ${pair.join(' and ')}. Try --bias.`,
    );
  }
  return EXIT.ok;
}

export const exampleCommand = defineCommand({
  summary: 'run a worked example: `backprop example tutorial [--bias]`, the classic 3-2-1 network',
  options: EXAMPLE_OPTIONS,
  run: tutorialCommand,
});
