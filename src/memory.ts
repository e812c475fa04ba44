import { readFileSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import { UserError, EXIT } from './errors.js';

/** An allocation the machine or the process limit (`ulimit -v`) refused. Exit code 1. */
export class MemoryError extends UserError {
  constructor(message: string) {
    super(message, EXIT.runtime);
  }
}

/**
 * Typed arrays on SharedArrayBuffers. The parameters, the optimizer state, the workspace and the
 * data live in these, so that the TypeScript backend can train in a worker thread on the very same
 * memory (the native addon borrows them like any typed array).
 */
export function sharedFloat32(length: number): Float32Array {
  return new Float32Array(sharedBuffer(length * Float32Array.BYTES_PER_ELEMENT));
}

export function sharedFloat64(length: number): Float64Array {
  return new Float64Array(sharedBuffer(length * Float64Array.BYTES_PER_ELEMENT));
}

export function sharedUint8(length: number): Uint8Array {
  return new Uint8Array(sharedBuffer(length));
}

export function sharedInt32(length: number): Int32Array {
  return new Int32Array(sharedBuffer(length * Int32Array.BYTES_PER_ELEMENT));
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

/** Shared memory: the native addon borrows it, and the ts backend's worker thread trains on it in place. */
export const sharedMemory: Memory = {
  float32: sharedFloat32,
  float64: sharedFloat64,
  int32: sharedInt32,
  uint8: sharedUint8,
};

function sharedBuffer(bytes: number): SharedArrayBuffer {
  try {
    return new SharedArrayBuffer(bytes);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    throw new MemoryError(`out of memory: ${megabytes(bytes)} could not be allocated (${allocatable().why})`);
  }
}

const MiB = 1024 * 1024;

/** `bytes` for a message: in MiB, or GiB from 1 GiB up. */
export function megabytes(bytes: number): string {
  return bytes >= 1024 * MiB ? `${(bytes / 1024 / MiB).toFixed(1)} GiB` : `${Math.ceil(bytes / MiB)} MiB`;
}

/** The process's address-space limit (`ulimit -v`) in bytes, and how much of it is in use; Linux only. */
function addressSpace(): { limit: number; used: number } | undefined {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8').match(/^Max address space\s+(\S+)/m)?.[1];
    const used = readFileSync('/proc/self/status', 'utf8').match(/^VmSize:\s+(\d+) kB/m)?.[1];
    if (!limits || limits === 'unlimited' || !used) return undefined;
    return { limit: Number(limits), used: Number(used) * 1024 };
  } catch {
    return undefined;
  }
}

/**
 * Bytes this process can expect to allocate: three quarters of the machine's memory (or what is
 * free, if more), and no more than its address-space limit leaves.
 */
export function allocatable(): { bytes: number; why: string } {
  const machine = Math.min(totalmem() * 0.75, Math.max(freemem(), 2 * 1024 * MiB));
  const space = addressSpace();
  const left = space && Math.max(0, space.limit - space.used);
  if (left !== undefined && left < machine)
    return { bytes: left, why: `the process memory limit (ulimit -v) leaves about ${megabytes(left)}` };
  return { bytes: machine, why: `this machine can spare about ${megabytes(machine)}` };
}

export function isShared(array: ArrayBufferView): boolean {
  return array.buffer instanceof SharedArrayBuffer;
}

/**
 * This process's peak resident memory in MB. Linux's VmHWM belongs to the process image; getrusage's
 * maxrss, used elsewhere, also counts what the parent held when it forked this process (a benchmark
 * holding 2 GB made every child it timed look 2 GB large).
 */
export function peakMemoryMB(): number {
  try {
    const line = readFileSync('/proc/self/status', 'utf8').match(/^VmHWM:\s+(\d+) kB$/m);
    if (line) return Math.round(Number(line[1]) / 1024);
  } catch {
    // Not Linux: getrusage is what there is.
  }
  return Math.round(process.resourceUsage().maxRSS / 1024);
}
