import { DataError } from '../errors.js';
import type { IdxArray } from './dataset.js';

/** IDX's element type of unsigned bytes, the only one read. */
const UBYTE = 0x08;

/** An IDX header: the dimensions, the header's length and the number of values it declares. */
export function parseHeader(bytes: Uint8Array, name: string): { dims: number[]; headerBytes: number; count: number } {
  if (bytes.length < 4) throw new DataError(`${name}: truncated IDX file (${bytes.length} bytes, no header)`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const magic = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join('');
    throw new DataError(`${name}: not an IDX file (magic number 0x${magic}, expected 0x0000080N)`);
  }
  if (bytes[2] !== UBYTE) {
    throw new DataError(
      `${name}: IDX element type 0x${bytes[2].toString(16)} is not supported (only unsigned bytes, 0x08)`,
    );
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
  return { dims, headerBytes, count };
}

/** Parses the bytes of an IDX file; `name` is used in error messages. */
export function parseIdx(bytes: Uint8Array, name: string): IdxArray {
  const { dims, headerBytes, count } = parseHeader(bytes, name);
  const expected = headerBytes + count;
  if (bytes.length !== expected) {
    const what = bytes.length < expected ? 'truncated' : 'longer than its header says';
    throw new DataError(
      `${name}: ${what} (header ${dims.join('×')} needs ${expected} bytes, file has ${bytes.length})`,
    );
  }
  return { dims, data: bytes.subarray(headerBytes) };
}
