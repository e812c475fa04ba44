/**
 * Inverted dropout: while training, each hidden unit of each sample is dropped (set to zero) with
 * probability p and the others are scaled by 1/(1 − p), so evaluation runs the network unchanged.
 *
 * Which units are dropped is a hash of (the run's seed, the step, the layer, the row in the batch,
 * the unit), not a draw from a sequential generator: any thread can compute any row's mask, so the
 * result is the same for every thread count, and a run resumed at step t draws the masks it would
 * have drawn. native/dropout.h computes the same bits.
 */

/** Which masks a batch gets: the run's seed, and the optimizer steps taken before this batch. */
export interface DropoutMask {
  seed: number;
  step: number;
}

/** The rates a network can take: 0 (no dropout) up to below 1 (which would drop every unit). */
export const MAX_DROPOUT = 0.95;

/** murmur3's 32-bit finaliser: every input bit flips each output bit with probability about ½. */
export function mix32(x: number): number {
  let h = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The hash every unit of row `row` of layer `layer`'s output adds its index to. */
export function rowKey(mask: DropoutMask, layer: number, row: number): number {
  const stepLow = mask.step % 2 ** 32;
  const stepHigh = Math.floor(mask.step / 2 ** 32);
  let key = mix32((mask.seed ^ Math.imul(layer + 1, 0x9e3779b9)) >>> 0);
  key = mix32((key ^ stepLow) >>> 0);
  key = mix32((key ^ stepHigh) >>> 0);
  return mix32((key ^ row) >>> 0);
}

/**
 * keep (rows × width) ← each unit's factor, 0 where dropped and 1/(1 − p) elsewhere; dropped ←
 * acts · keep. A unit is dropped when the top 24 bits of its hash fall below p·2^24.
 */
export function applyDropout(
  acts: Float32Array,
  dropped: Float32Array,
  keep: Float32Array,
  rows: number,
  width: number,
  p: number,
  mask: DropoutMask,
  layer: number,
): void {
  const threshold = Math.round(p * 0x1000000);
  const scale = Math.fround(1 / (1 - p));
  for (let r = 0; r < rows; r++) {
    const key = rowKey(mask, layer, r);
    for (let j = 0; j < width; j++) {
      const i = r * width + j;
      const factor = mix32((key + j) >>> 0) >>> 8 >= threshold ? scale : 0;
      keep[i] = factor;
      dropped[i] = acts[i] * factor;
    }
  }
}

/** Whether any layer of a network with these rates drops units. */
export function hasDropout(dropout: readonly number[] | undefined): boolean {
  return dropout !== undefined && dropout.some((p) => p > 0);
}
