import { cpus } from 'node:os';
import { loadAddon } from '../backends/native.js';
import { selectBackend } from '../backends/select.js';
import { EXIT } from '../errors.js';
import { type ParsedOptions } from './options.js';
import type { Io } from './io.js';
import { TRAIN_OPTIONS } from './specs.js';
import type { Command } from './command.js';

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

export const infoCommand: Command = {
  summary: 'the CPU, the native ISAs compiled, supported and selected, and the thread count',
  options: TRAIN_OPTIONS.filter((spec) => ['isa', 'threads', 'json'].includes(spec.name)),
  run: (options, io) => info(options, io),
};
