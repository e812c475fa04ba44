import { closeSync, constants, existsSync, fstatSync, openSync, realpathSync, statSync, type Stats } from 'node:fs';
import { isatty } from 'node:tty';
import { basename, dirname, join, resolve } from 'node:path';
import { DataError, UsageError } from '../errors.js';

/** What a failed file operation's error code means, in words. */
export function reasonOf(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file or folder';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EDQUOT':
      return 'the disk quota is used up';
    case 'ENOTDIR':
      return 'a parent of the path is a file, not a folder';
    case 'EISDIR':
      return 'it is a folder';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'the file system is read-only';
    case 'ELOOP':
      return 'a loop of symbolic links';
    case 'ENAMETOOLONG':
      return 'the name is too long';
    case 'EFBIG':
      return 'the file is larger than the file system allows';
    case 'EIO':
      return 'an input/output error of the device';
    case 'EMFILE':
    case 'ENFILE':
      return 'too many files are open';
    default:
      return code ?? (err as Error).message;
  }
}

/**
 * The size of the regular file at `path`. A folder, a device (`/dev/zero` never ends) or a pipe
 * (which blocks until a writer comes) is refused before anything is read.
 */
export function regularFile(path: string): number {
  let stat;
  try {
    stat = statSync(path);
  } catch (err) {
    throw new DataError(`${path}: cannot read (${reasonOf(err)})`);
  }
  if (stat.isDirectory()) throw new DataError(`${path}: is a folder, not a file`);
  if (!stat.isFile())
    throw new DataError(`${path}: not a regular file (a device, pipe or socket cannot be read as data)`);
  return stat.size;
}

/** A path a command reads or writes, and the option that named it. */
export interface NamedPath {
  option: string;
  path: string;
}

/**
 * What makes two paths the same file: the device and inode of one that exists (hard links and
 * symbolic links included), else the real path its folder resolves to, with its name.
 */
function identityOf(path: string): string {
  try {
    const stat = statSync(path);
    return `${stat.dev}:${stat.ino}`;
  } catch {
    try {
      return join(realpathSync(dirname(resolve(path))), basename(path));
    } catch {
      return resolve(path);
    }
  }
}

/** Whether two paths name the same file or folder (through links, or not yet there and spelled alike once resolved). */
export function sameFile(a: string, b: string): boolean {
  return identityOf(a) === identityOf(b);
}

/**
 * Refuses, before any work, an output that is the same file as an input (which writing it would
 * destroy: `--report m.safetensors` beside `--resume m.safetensors`) or as another output. An
 * output may replace an input only where `mayReplace(output, input)` says so (`--save` the file of
 * `--resume`, continuing the run in place).
 */
export function refuseAliases(
  inputs: readonly NamedPath[],
  outputs: readonly NamedPath[],
  mayReplace: (output: NamedPath, input: NamedPath) => boolean = () => false,
): void {
  const read = inputs.map((input) => ({ ...input, identity: identityOf(input.path) }));
  const written: (NamedPath & { identity: string })[] = [];
  for (const output of outputs) {
    const identity = identityOf(output.path);
    const input = read.find((i) => i.identity === identity && !mayReplace(output, i));
    if (input) {
      throw new UsageError(
        `--${output.option} ${output.path} is the file of --${input.option} ${input.path}: writing it would destroy it; give another path`,
      );
    }
    const other = written.find((o) => o.identity === identity);
    if (other)
      throw new UsageError(
        `--${output.option} ${output.path} and --${other.option} ${other.path} are the same file; give each its own path`,
      );
    written.push({ ...output, identity });
  }
}

/** The standard streams the log and results go to, by device and inode. */
function streamIdentities(): Map<string, string> {
  const streams = new Map<string, string>();
  for (const [fd, name] of [
    [1, 'the standard output'],
    [2, 'the standard error'],
  ] as const) {
    try {
      const stat = fstatSync(fd);
      streams.set(`${stat.dev}:${stat.ino}`, name);
    } catch {
      // A closed stream is nobody's output.
    }
  }
  return streams;
}

function isTerminal(path: string, stat: Stats): boolean {
  if (!stat.isCharacterDevice()) return false;
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    return isatty(fd);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Refuses a file output that cannot hold a file: a terminal, a pipe or socket, or the stream the log
 * goes to (`--save /dev/stdout > f` would mix the log into the model). Devices such as /dev/null are
 * written in place.
 */
export function refuseStreams(outputs: readonly NamedPath[]): void {
  const streams = streamIdentities();
  for (const { option, path } of outputs) {
    if (!existsSync(path)) continue;
    let stat;
    try {
      stat = statSync(path);
    } catch {
      continue;
    }
    // A device both may share (/dev/null) is no file of either.
    const stream = stat.isFile() ? streams.get(`${stat.dev}:${stat.ino}`) : undefined;
    const what =
      stream ??
      (stat.isFIFO() ? 'a pipe' : stat.isSocket() ? 'a socket' : isTerminal(path, stat) ? 'a terminal' : undefined);
    if (what) throw new UsageError(`--${option} ${path} is ${what}; a model or report needs a file`);
  }
}
