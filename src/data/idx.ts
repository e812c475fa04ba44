import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { DataError } from '../errors.js';
import { regularFile } from '../io/files.js';
import { MemoryError, sharedUint8 } from '../memory.js';

/** An IDX array of unsigned bytes: its dimensions and the raw values, row-major, in shared memory. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const UBYTE = 0x08;
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
    if (err instanceof RangeError || err instanceof MemoryError) throw new MemoryError(`${path}: out of memory reading its ${size} bytes`);
    const code = (err as NodeJS.ErrnoException).code;
    throw new DataError(`${path}: cannot read (${code ?? String(err)})`);
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
 * Inflates a gzip file, never to more than its trailer says (the inflated size mod 2³², which gzip
 * checks) nor more than 1 GiB: a small file that would inflate to gigabytes (a gzip bomb) is
 * refused before it is inflated.
 */
function inflate(gz: Uint8Array, path: string): Uint8Array {
  if (gz.length < 18) throw new DataError(`${path}: not a valid gzip stream (${gz.length} bytes)`);
  const declared = new DataView(gz.buffer, gz.byteOffset + gz.length - 4, 4).getUint32(0, true);
  if (declared > MAX_INFLATED_BYTES) {
    throw new DataError(`${path}: not a valid gzip stream, or one that inflates to more than 1 GiB (its trailer says ${declared} bytes)`);
  }
  try {
    return gunzipSync(gz, { maxOutputLength: Math.max(declared, 1) });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new DataError(`${path}: inflates to more than the ${declared} bytes its gzip trailer says (a damaged file or a gzip bomb)`);
    }
    throw new DataError(`${path}: not a valid gzip stream (${(err as Error).message})`);
  }
}

/** Parses the bytes of an IDX file; `name` is used in error messages. */
export function parseIdx(bytes: Uint8Array, name: string): IdxArray {
  if (bytes.length < 4) throw new DataError(`${name}: truncated IDX file (${bytes.length} bytes, no header)`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const magic = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join('');
    throw new DataError(`${name}: not an IDX file (magic number 0x${magic}, expected 0x0000080N)`);
  }
  if (bytes[2] !== UBYTE) {
    throw new DataError(`${name}: IDX element type 0x${bytes[2].toString(16)} is not supported (only unsigned bytes, 0x08)`);
  }
  const ndims = bytes[3];
  if (ndims < 1) throw new DataError(`${name}: IDX header declares no dimensions`);
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) throw new DataError(`${name}: truncated IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < ndims; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    count *= d;
  }
  const expected = headerBytes + count;
  if (bytes.length !== expected) {
    const what = bytes.length < expected ? 'truncated' : 'longer than its header says';
    throw new DataError(`${name}: ${what} (header ${dims.join('×')} needs ${expected} bytes, file has ${bytes.length})`);
  }
  return { dims, data: bytes.subarray(headerBytes) };
}
