import { readFileSync } from 'node:fs';
import { parseOptions, type Options, type OptionSpec } from './options.js';
import type { Io } from './io.js';

/** One `backprop` command: its line in the usage, its options, and what it does with their values. */
export interface CommandSpec<S extends readonly OptionSpec[]> {
  summary: string;
  options: S;
  run(options: Options<S>, io: Io): Promise<number>;
}

/** A command as `main` runs it: from the arguments after its name. */
export interface Command {
  summary: string;
  options: readonly OptionSpec[];
  run(args: readonly string[], name: string, io: Io): Promise<number>;
}

/** The command that parses its arguments against its own options and runs with their typed values. */
export function defineCommand<S extends readonly OptionSpec[]>(spec: CommandSpec<S>): Command {
  return {
    summary: spec.summary,
    options: spec.options,
    run: (args, name, io) => spec.run(parseOptions(args, spec.options, name), io),
  };
}

/** This package's version, from its package.json. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
