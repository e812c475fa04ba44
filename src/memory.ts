import { UserError, EXIT } from './errors.js';

/**
 * An allocation the machine or the process limit (`ulimit -v`) refused. Exit code 1. (What the
 * machine can spare is the platform's to say: io/machine.ts, which the CLI adds to the message.)
 */
export class MemoryError extends UserError {
  constructor(message: string) {
    super(message, EXIT.runtime);
  }
}

/**
 * Where a backend keeps the buffers it trains on: the parameters, the optimizer state, the
 * workspace and the flag that stops an epoch. The core asks the backend for them (after ggml's
 * backend buffer types), so a backend whose memory is not the JavaScript heap can own its own.
 */
export interface Memory {
  float32(length: number): Float32Array;
  float64(length: number): Float64Array;
  int32(length: number): Int32Array;
  uint8(length: number): Uint8Array;
}

/** Typed arrays on buffers from `allocate`, which may refuse with a RangeError. */
export function memoryFrom(allocate: (bytes: number) => ArrayBufferLike): Memory {
  const buffer = (bytes: number): ArrayBufferLike => {
    try {
      return allocate(bytes);
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      throw new MemoryError(`out of memory: ${megabytes(bytes)} could not be allocated`);
    }
  };
  return {
    float32: (length) => new Float32Array(buffer(length * Float32Array.BYTES_PER_ELEMENT)),
    float64: (length) => new Float64Array(buffer(length * Float64Array.BYTES_PER_ELEMENT)),
    int32: (length) => new Int32Array(buffer(length * Int32Array.BYTES_PER_ELEMENT)),
    uint8: (length) => new Uint8Array(buffer(length)),
  };
}

/** Ordinary ArrayBuffers, which every JavaScript engine has (a browser page without cross-origin isolation too). */
export const heapMemory: Memory = memoryFrom((bytes) => new ArrayBuffer(bytes));

const MiB = 1024 * 1024;

/** `bytes` for a message: in MiB, or GiB from 1 GiB up. */
export function megabytes(bytes: number): string {
  return bytes >= 1024 * MiB ? `${(bytes / 1024 / MiB).toFixed(1)} GiB` : `${Math.ceil(bytes / MiB)} MiB`;
}
