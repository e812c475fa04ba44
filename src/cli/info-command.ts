import { cpus } from 'node:os';
import { loadAddon } from '../backends/native.js';
import { EXIT } from '../errors.js';
import { pick, type Options } from './options.js';
import type { Io } from './io.js';
import { TRAIN_OPTIONS } from './specs.js';
import { defineCommand } from './command.js';
import { selectedBackend } from './setup.js';

const INFO_OPTIONS = pick(TRAIN_OPTIONS, ['backend', 'isa', 'threads', 'json']);

/** What would run: the backend `train` would choose with these options (and BACKPROP_BACKEND, BACKPROP_ISA), and the addon. */
async function info(options: Options<typeof INFO_OPTIONS>, io: Io): Promise<number> {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const facts: Record<string, unknown> = { cpu, logicalCpus: cpus().length };
  const { backend, fallbackReason } = selectedBackend(options);
  facts.backend = backend.name;
  if (fallbackReason) facts.fallback = fallbackReason;
  const addon = loadAddon();
  if (!('error' in addon)) {
    Object.assign(facts, {
      addon: addon.path,
      isaCompiled: addon.addon.compiledIsas,
      isaSupported: addon.addon.supportedIsas,
    });
  }
  if (backend.name === 'native') Object.assign(facts, { isaSelected: backend.isa, threads: backend.threads });
  if (options.json) {
    io.out(JSON.stringify({ event: 'info', ...facts }));
    return EXIT.ok;
  }
  for (const [key, value] of Object.entries(facts))
    io.out(`${key.padEnd(12)} ${Array.isArray(value) ? value.join(', ') : String(value)}`);
  return EXIT.ok;
}

export const infoCommand = defineCommand({
  summary:
    'the backend that would run, the CPU, the native ISAs compiled, supported and selected, and the thread count',
  options: INFO_OPTIONS,
  run: info,
});
