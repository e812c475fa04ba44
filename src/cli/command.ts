import { readFileSync } from 'node:fs';
import type { OptionSpec, ParsedOptions } from './options.js';
import type { Io } from './io.js';

/** One `backprop` command: its line in the usage, its options, and what it does. */
export interface Command {
  summary: string;
  options: readonly OptionSpec[];
  run(options: ParsedOptions, io: Io): Promise<number>;
}

/** This package's version, from its package.json. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
