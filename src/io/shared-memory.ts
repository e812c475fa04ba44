import { memoryFrom, type Memory } from '../memory.js';

/**
 * Shared memory: the native addon borrows it, and the ts backend's worker thread trains on it in
 * place. The data loaders put samples in it for the same reason.
 */
export const sharedMemory: Memory = memoryFrom((bytes) => new SharedArrayBuffer(bytes));

export const sharedFloat32 = (length: number): Float32Array => sharedMemory.float32(length);
export const sharedUint8 = (length: number): Uint8Array => sharedMemory.uint8(length);

export function isShared(array: ArrayBufferView): boolean {
  return array.buffer instanceof SharedArrayBuffer;
}
