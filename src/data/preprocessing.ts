import { DELIMITER_NAMES, type DelimiterName } from './delimiters.js';

/** Values become `(value − shift) / scale`, per column. */
export interface Scaling {
  shift: number[];
  scale: number[];
}

/**
 * IDX pixels are divided by 255; CSV features are shifted and scaled per column, and a regression's
 * targets too (`targetShift`, `targetScale`; absent in files saved before targets were scaled).
 */
export type Preprocessing =
  | { kind: 'idx'; scale: number }
  | {
      kind: 'csv';
      target?: string[];
      features: string[];
      shift: number[];
      scale: number[];
      targetShift?: number[];
      targetScale?: number[];
      classNames?: string[];
      delimiter?: DelimiterName;
    };

/** `values` (`count × shift.length`) scaled in place; the identity leaves them untouched. */
export function applyScaling(values: Float32Array, count: number, { shift, scale }: Scaling): void {
  if (shift.every((v) => v === 0) && scale.every((v) => v === 1)) return;
  const n = shift.length;
  for (let r = 0; r < count; r++)
    for (let j = 0; j < n; j++) values[r * n + j] = (values[r * n + j] - shift[j]) / scale[j];
}

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
