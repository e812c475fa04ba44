import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DataError } from '../errors.js';

/**
 * Writes `path` so that it is always either the old file or the whole new one: the bytes go to a
 * temporary file in the same folder, are flushed to disk, and the temporary file is renamed over.
 */
export function writeFileAtomic(path: string, content: string | Uint8Array): void {
  // A device or pipe (/dev/stdout, /dev/full) is written in place: renaming over it would replace it.
  if (isSpecialFile(path)) {
    try {
      writeFileSync(path, content);
      return;
    } catch (err) {
      throw new DataError(`${path}: cannot write (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  try {
    mkdirSync(dir, { recursive: true });
    const fd = openSync(temp, 'w');
    try {
      writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    const code = (err as NodeJS.ErrnoException).code;
    throw new DataError(`${path}: cannot write (${code ?? (err as Error).message}); the previous file, if any, is unchanged`);
  }
}

function isSpecialFile(path: string): boolean {
  try {
    const stat = statSync(path);
    return !stat.isFile() && !stat.isDirectory();
  } catch {
    return false;
  }
}
