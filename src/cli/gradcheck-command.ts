import { grouped } from '../numbers.js';
import { Network } from '../model/network.js';
import { EXIT } from '../errors.js';
import type { Options } from './options.js';
import { describeBackend, describeNetwork } from './report.js';
import { backendFrom, networkOf } from './setup.js';
import type { Io } from './io.js';
import { GRADCHECK_OPTIONS } from './specs.js';
import { gradcheck } from '../train/gradcheck.js';
import { defineCommand } from './command.js';

async function runGradcheck(options: Options<typeof GRADCHECK_OPTIONS>, io: Io): Promise<number> {
  const { hidden, rows, tolerance } = options;
  const sizes = [options.inputs, ...hidden, options.outputs];
  const backend = backendFrom(options);
  const network = networkOf(options, hidden.length);
  const checks = gradcheck({ sizes, network, backend, rows, seed: options.seed });
  const passed = checks.every((check) => check.relativeError <= tolerance);
  if (options.json) {
    for (const check of checks) io.out(JSON.stringify({ event: 'tensor', ...check }));
    io.out(JSON.stringify({ event: 'done', passed, tolerance, backend: backend.name, isa: backend.isa }));
  } else {
    const net = new Network(sizes, network);
    io.out(
      `gradient check of ${sizes.join('-')} (${describeNetwork(net)}) on ${describeBackend(backend)}, ${rows} samples`,
    );
    for (const check of checks) {
      const sampled =
        check.checked < check.entries ? ` (${check.checked} of ${grouped(check.entries)} entries, at random)` : '';
      io.out(`  ${check.tensor.padEnd(16)} largest relative error ${check.relativeError.toExponential(2)}${sampled}`);
    }
    io.out(passed ? `passed (tolerance ${tolerance})` : `FAILED: above the tolerance ${tolerance}`);
  }
  return passed ? EXIT.ok : EXIT.runtime;
}

export const gradcheckCommand = defineCommand({
  summary: 'check the analytic gradient of every parameter tensor against finite differences (float64)',
  options: GRADCHECK_OPTIONS,
  run: runGradcheck,
});
