import { DELIMITER_NAMES, type Scaling } from './csv.js';
import type { Preprocessing } from './mnist.js';

/** Pixel values 0–255 as an IDX model reads them: each multiplied by `scale` (1/255), as a column scaling. */
export function pixelScaling(features: number, scale: number): Scaling {
  return { shift: new Array<number>(features).fill(0), scale: new Array<number>(features).fill(1 / scale) };
}

/**
 * A picture's pixels (values in [0, 1], as image.ts makes them) as the inputs of a model with this
 * preprocessing: as they are for an IDX model; for a model of CSV columns (pixel values 0–255 in a
 * table), the raw values, scaled by its columns.
 */
export function pixelsAsInputs(pixels: Float32Array, preprocessing: Preprocessing | undefined): Float32Array {
  if (preprocessing?.kind !== 'csv') return pixels;
  const { shift, scale } = preprocessing;
  return pixels.map((v, i) => (v * 255 - shift[i % shift.length]) / scale[i % scale.length]);
}

/** Whether `value` is a preprocessing as backprop saves it, for a model of `inputs` inputs and `outputs` outputs. */
export function isPreprocessing(value: unknown, inputs: number, outputs: number): value is Preprocessing {
  if (!isObject(value)) return false;
  if (value.kind === 'idx') return typeof value.scale === 'number' && Number.isFinite(value.scale) && value.scale > 0;
  const numbers = (v: unknown, length: number, nonzero = false): boolean =>
    Array.isArray(v) &&
    v.length === length &&
    v.every((n) => typeof n === 'number' && Number.isFinite(n) && !(nonzero && n === 0));
  const strings = (v: unknown): boolean =>
    v === undefined || (Array.isArray(v) && v.every((n) => typeof n === 'string'));
  return (
    value.kind === 'csv' &&
    numbers(value.shift, inputs) &&
    numbers(value.scale, inputs, true) &&
    (value.targetShift === undefined || numbers(value.targetShift, outputs)) &&
    (value.targetScale === undefined || numbers(value.targetScale, outputs, true)) &&
    (value.targetShift === undefined) === (value.targetScale === undefined) &&
    Array.isArray(value.features) &&
    strings(value.target) &&
    strings(value.classNames) &&
    (value.delimiter === undefined || (DELIMITER_NAMES as readonly unknown[]).includes(value.delimiter))
  );
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
