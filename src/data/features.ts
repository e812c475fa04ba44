/**
 * Features as float32 values, or as bytes that each stand for byte / 255: image pixels kept as the
 * files hold them, a quarter of the memory of floats. The backends widen each batch to floats as
 * they read it, so a byte never needs a float copy of the whole data set.
 */
export type Features = Float32Array | Uint8Array;

/** What each byte feature stands for: byte / 255, rounded to float32 once (as the native kernels compute it). */
const BYTE_VALUES = Float32Array.from({ length: 256 }, (_, byte) => byte / 255);

/**
 * Rows `start…end` of `x` (`features` values each) as floats: a view of float features, or the
 * bytes widened into `into` (a new array when it is not given).
 */
export function floatRows(
  x: Features,
  features: number,
  start: number,
  end: number,
  into?: Float32Array,
): Float32Array {
  const rows = x.subarray(start * features, end * features);
  if (rows instanceof Float32Array) return rows;
  const out = into ? into.subarray(0, rows.length) : new Float32Array(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = BYTE_VALUES[rows[i]];
  return out;
}
