import { statSync } from 'node:fs';
import { DataError } from '../errors.js';

/**
 * The size of the regular file at `path`. A folder, a device (`/dev/zero` never ends) or a pipe
 * (which blocks until a writer comes) is refused before anything is read.
 */
export function regularFile(path: string): number {
  let stat;
  try {
    stat = statSync(path);
  } catch (err) {
    throw new DataError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (stat.isDirectory()) throw new DataError(`${path}: is a folder, not a file`);
  if (!stat.isFile()) throw new DataError(`${path}: not a regular file (a device, pipe or socket cannot be read as data)`);
  return stat.size;
}
