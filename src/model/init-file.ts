import { readFileSync } from 'node:fs';
import { DataError } from '../errors.js';
import { regularFile } from '../io/files.js';
import { initFromJson, type Init } from './init.js';

/** Larger weight files are refused before they are read (a 784-1024-10 network's JSON is about 20 MB). */
const MAX_INIT_BYTES = 256 * 1024 * 1024;

/** Reads initial weights from a JSON file in the form `initFromJson` takes. */
export function readInitFile(path: string): Init {
  // A weights file is small: a pipe or device (which could block or never end) is refused first.
  if (regularFile(path) > MAX_INIT_BYTES)
    throw new DataError(`${path}: larger than a weights file this reader takes (256 MiB)`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DataError(`${path}: ${code ? `cannot read (${code})` : `not valid JSON (${(err as Error).message})`}`);
  }
  return initFromJson(parsed, path);
}
