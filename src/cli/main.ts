import { DataError, EXIT, UsageError, UserError, type Remedy } from '../errors.js';
import { allocatable } from '../io/machine.js';
import { MemoryError } from '../memory.js';
import { benchCommand } from './bench-command.js';
import { packageVersion, type Command } from './command.js';
import { compareCommand } from './compare-command.js';
import { exampleCommand } from './example-command.js';
import { exportCommand } from './export-command.js';
import { gradcheckCommand } from './gradcheck-command.js';
import { infoCommand } from './info-command.js';
import { lrFindCommand } from './lr-find-command.js';
import { stdio, type Io } from './io.js';
import { helpText, suggestion } from './options.js';
import { predictCommand } from './predict-command.js';
import { reportCommand } from './report-command.js';
import { trainCommand } from './train-command.js';

const COMMANDS: Record<string, Command> = {
  train: trainCommand,
  compare: compareCommand,
  bench: benchCommand,
  predict: predictCommand,
  export: exportCommand,
  report: reportCommand,
  example: exampleCommand,
  gradcheck: gradcheckCommand,
  'lr-find': lrFindCommand,
  info: infoCommand,
};

/** The options that carry out a data error's remedy. */
const REMEDY_OPTIONS: Record<Remedy, string> = { regression: '--loss mse', 'declare-classes': '--classes N' };

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
      io.out(packageVersion());
      return EXIT.ok;
    }
    if (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
      // `backprop help train` is `backprop train --help`.
      if (argv[0] === 'help' && argv[1] !== undefined) return await main([argv[1], '--help'], io);
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
      if (args[0] === '--help' || args[0] === '-h') {
        io.out(`usage: backprop example tutorial [options]\n${command.summary}\n\n${helpText(command.options)}`);
        return EXIT.ok;
      }
      if (args[0] === undefined)
        throw new UsageError(
          'example needs the name of one: `backprop example tutorial` (see `backprop example --help`)',
        );
      if (args[0] !== 'tutorial') throw new UsageError(`unknown example '${args[0]}' (the one example is: tutorial)`);
      args = args.slice(1);
    }
    if (args.includes('--help') || args.includes('-h')) {
      io.out(`usage: backprop ${name} [options]\n${command.summary}\n\n${helpText(command.options)}`);
      return EXIT.ok;
    }
    return await command.run(args, name, io);
  } catch (err) {
    if (err instanceof UserError) {
      const remedy = err instanceof DataError && err.remedy ? ` (${REMEDY_OPTIONS[err.remedy]})` : '';
      // How much the machine can spare is the platform's to say, not the allocator's.
      const spare = err instanceof MemoryError ? ` (${allocatable().why})` : '';
      io.err(`backprop: ${err.message}${remedy}${spare}`);
      return err.exitCode;
    }
    throw err;
  }
}
