import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { constants, gunzipSync } from 'node:zlib';
import { DataError } from '../errors.js';
import { reasonOf, regularFile } from '../io/files.js';
import { MemoryError } from '../memory.js';
import { sharedUint8 } from '../io/shared-memory.js';
import type { IdxArray } from './dataset.js';
import { parseHeader, parseIdx } from './idx-format.js';

/** Larger inflated files are refused (60,000 MNIST images are 47 MB; EMNIST's largest, 550 MB). */
const MAX_INFLATED_BYTES = 1 << 30;

/** Reads an IDX file (`.gz` is inflated), checking its header against its length. */
export function readIdx(path: string): IdxArray {
  const size = regularFile(path);
  // Checked before reading: a plain file too large is refused without loading it.
  if (!path.endsWith('.gz') && size > MAX_INFLATED_BYTES + 4 + 4 * 255) {
    throw new DataError(`${path}: ${size} bytes is larger than an IDX file this reader takes (1 GiB)`);
  }
  let bytes: Uint8Array;
  try {
    bytes = path.endsWith('.gz') ? readFileSync(path) : readShared(path, size);
  } catch (err) {
    if (err instanceof RangeError || err instanceof MemoryError)
      throw new MemoryError(`${path}: out of memory reading its ${size} bytes`);
    throw new DataError(`${path}: cannot read (${reasonOf(err)})`);
  }
  if (!path.endsWith('.gz')) return parseIdx(bytes, path);
  const inflated = inflate(bytes, path);
  const shared = sharedUint8(inflated.length);
  shared.set(inflated);
  return parseIdx(shared, path);
}

/**
 * The file's bytes in shared memory, where both backends (and the ts backend's worker thread) read
 * them as they are: the data set is never copied.
 */
function readShared(path: string, size: number): Uint8Array {
  const bytes = sharedUint8(size);
  const fd = openSync(path, 'r');
  try {
    let filled = 0;
    while (filled < size) {
      const read = readSync(fd, bytes, filled, size - filled, null);
      if (read === 0) break;
      filled += read;
    }
    return bytes.subarray(0, filled);
  } finally {
    closeSync(fd);
  }
}

/**
 * Inflates a gzip file to no more than its IDX header says it holds (read from the first inflated
 * bytes), and never past 1 GiB: a small file that would inflate to gigabytes (a gzip bomb) is
 * refused before it is inflated, and one cut short says so.
 */
function inflate(gz: Uint8Array, path: string): Uint8Array {
  if (gz.length < 18) throw new DataError(`${path}: not a valid gzip stream (${gz.length} bytes)`);
  let head: Uint8Array;
  try {
    // A sync flush inflates what the first bytes hold without asking for the end of the stream.
    head = gunzipSync(gz.subarray(0, 4096), { finishFlush: constants.Z_SYNC_FLUSH });
  } catch (err) {
    throw new DataError(`${path}: not a valid gzip stream (${(err as Error).message})`);
  }
  const { headerBytes, count } = parseHeader(head, path);
  const expected = headerBytes + count;
  if (count > MAX_INFLATED_BYTES) {
    throw new DataError(`${path}: its IDX header declares ${count} values, more than this reader takes (1 GiB)`);
  }
  try {
    return gunzipSync(gz, { maxOutputLength: Math.max(expected, 1) });
  } catch (err) {
    const { code, message } = err as NodeJS.ErrnoException;
    if (code === 'ERR_BUFFER_TOO_LARGE')
      throw new DataError(
        `${path}: inflates to more than the ${expected} bytes its IDX header declares (a damaged file or a gzip bomb)`,
      );
    if (/unexpected end/i.test(message))
      throw new DataError(`${path}: truncated: the gzip stream ends before its last byte (the file was cut short)`);
    throw new DataError(`${path}: not a valid gzip stream (${message})`);
  }
}
