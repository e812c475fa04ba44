import { PARAMS_PER_IMAGE, warpImages } from '../data/warp.js';
import { Rng } from '../model/rng.js';

/**
 * Augmentation of image data: each epoch, every training image is shifted, rotated, scaled and
 * elastically distorted at random (Simard, Steinkraus & Platt 2003), and the network trains on
 * the distorted copy. The randomness is all drawn here, in TypeScript, from the run's seed and the
 * epoch: each image's transform as six numbers, and a bank of smoothed displacement fields made
 * once per run. A backend only warps the pixels (data/warp.ts, or native/augment.cc in the same
 * order of operations), so every backend and thread count gives the same bytes, and a resumed
 * epoch the same images.
 */
export interface Augmentation {
  /** The largest shift, in pixels, along each axis. */
  shift: number;
  /** The largest rotation, in degrees, either way. */
  rotate: number;
  /** The largest change of size: the scale is drawn from 1 ± this. */
  scale: number;
  /** Simard's elastic distortion: a field of displacements smoothed by a Gaussian of `sigma` pixels, scaled by `alpha`. */
  elastic?: { alpha: number; sigma: number };
}

/** The displacement fields each image draws one of: enough that no two of a batch are likely to share one. */
export const FIELD_BANK = 1024;

const RADIANS = Math.PI / 180;

const LIMITS = { shift: 8, rotate: 45, scale: 0.5, alpha: 100, sigma: 10 };

/** Whether `value` is an augmentation this version takes (a saved one, checked). */
export function isAugmentation(value: unknown): value is Augmentation {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const within = (x: unknown, most: number, above = -1): boolean => typeof x === 'number' && x > above && x <= most;
  const elastic = v.elastic as Record<string, unknown> | undefined;
  return (
    within(v.shift, LIMITS.shift) &&
    within(v.rotate, LIMITS.rotate) &&
    within(v.scale, LIMITS.scale) &&
    (elastic === undefined || (within(elastic.alpha, LIMITS.alpha) && within(elastic.sigma, LIMITS.sigma, 0)))
  );
}

/** `shift=2,rotate=10,scale=0.1,elastic=34:4` (any of them; elastic's `alpha:sigma`), as the command line writes it. */
export function parseAugmentation(text: string): Augmentation | string {
  const spec: Augmentation = { shift: 0, rotate: 0, scale: 0 };
  for (const part of text.split(',')) {
    const [key, value = ''] = part.split('=');
    const number = (v: string): number => (/^\d+(\.\d+)?$/.test(v) ? Number(v) : NaN);
    if (key === 'shift' || key === 'rotate' || key === 'scale') {
      const n = number(value);
      const most = LIMITS[key];
      if (!(n >= 0 && n <= most)) return `${key} takes a number from 0 to ${most}, got '${value}'`;
      spec[key] = n;
    } else if (key === 'elastic') {
      const [alpha, sigma] = value.split(':').map(number);
      if (!(alpha >= 0 && alpha <= LIMITS.alpha && sigma > 0 && sigma <= LIMITS.sigma))
        return `elastic takes alpha:sigma (alpha 0 to 100, sigma above 0 up to 10; Simard's 34:4), got '${value}'`;
      spec.elastic = { alpha, sigma };
    } else {
      return `'${part}' is not one of shift=N, rotate=DEG, scale=X, elastic=ALPHA:SIGMA`;
    }
  }
  return spec;
}

/** `shift 2, rotate 10°, scale ±0.1, elastic 34:4`. */
export function describeAugmentation(spec: Augmentation): string {
  const parts = [
    spec.shift ? `shift ${spec.shift}` : '',
    spec.rotate ? `rotate ${spec.rotate}°` : '',
    spec.scale ? `scale ±${spec.scale}` : '',
    spec.elastic ? `elastic ${spec.elastic.alpha}:${spec.elastic.sigma}` : '',
  ];
  return parts.filter(Boolean).join(', ') || 'none';
}

/**
 * The bank of elastic displacement fields for images of rows × cols: FIELD_BANK pairs (dy, dx) of
 * uniform noise in [−1, 1] smoothed by a normalised Gaussian of `sigma` (cut at 3σ, zero past the
 * edges) and scaled by `alpha`; empty without elastic distortion.
 */
export function fieldBank(spec: Augmentation, rows: number, cols: number, seed: number): Float32Array {
  if (!spec.elastic) return new Float32Array(0);
  const { alpha, sigma } = spec.elastic;
  const radius = Math.ceil(3 * sigma);
  const kernel = Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)));
  const total = kernel.reduce((a, b) => a + b, 0);
  const weights = kernel.map((w) => w / total);
  const rng = new Rng((seed ^ 0x5eed0e1a) >>> 0);
  const size = rows * cols;
  const bank = new Float32Array(FIELD_BANK * 2 * size);
  const noise = new Float64Array(size);
  const across = new Float64Array(size);
  for (let field = 0; field < 2 * FIELD_BANK; field++) {
    for (let i = 0; i < size; i++) noise[i] = 2 * rng.uniform() - 1;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        let sum = 0;
        for (let k = -radius; k <= radius; k++)
          if (c + k >= 0 && c + k < cols) sum += weights[k + radius] * noise[r * cols + c + k];
        across[r * cols + c] = sum;
      }
    }
    const out = bank.subarray(field * size, (field + 1) * size);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        let sum = 0;
        for (let k = -radius; k <= radius; k++)
          if (r + k >= 0 && r + k < rows) sum += weights[k + radius] * across[(r + k) * cols + c];
        out[r * cols + c] = alpha * sum;
      }
    }
  }
  return bank;
}

/**
 * Each of `count` images' transform for `epoch`, PARAMS_PER_IMAGE numbers: the inverse map's
 * matrix (a, b; c, d) from output to input offsets around the centre, the shift (dy, dx) folded in
 * by the warp, and which field of the bank. Rotations come from t = tan(θ/2) (cos θ = (1 − t²)/(1 + t²),
 * sin θ = 2t/(1 + t²)), so only + − × ÷ are needed to use them.
 */
export function augmentationParams(spec: Augmentation, count: number, seed: number, epoch: number): Float64Array {
  const rng = new Rng((seed ^ Math.imul(epoch, 0x85ebca6b) ^ 0xa9e3) >>> 0);
  const most = Math.tan((spec.rotate * RADIANS) / 2);
  const params = new Float64Array(count * PARAMS_PER_IMAGE);
  for (let i = 0; i < count; i++) {
    const t = most * (2 * rng.uniform() - 1);
    const cos = (1 - t * t) / (1 + t * t);
    const sin = (2 * t) / (1 + t * t);
    const inverseScale = 1 / (1 + spec.scale * (2 * rng.uniform() - 1));
    const p = params.subarray(i * PARAMS_PER_IMAGE, (i + 1) * PARAMS_PER_IMAGE);
    // The inverse of (scale · rotation): rotationᵀ / scale.
    p[0] = cos * inverseScale;
    p[1] = sin * inverseScale;
    p[2] = spec.shift * (2 * rng.uniform() - 1);
    p[3] = spec.shift * (2 * rng.uniform() - 1);
    p[4] = spec.elastic ? rng.below(FIELD_BANK) : -1;
    p[5] = 0;
  }
  return params;
}

/**
 * The first `digits` images as epochs 1…`epochs` of a run with this seed distort them (for the
 * report): `[digit][epoch − 1]`, each rows × cols bytes.
 */
export function distortedExamples(
  images: Uint8Array,
  [rows, cols]: [number, number],
  spec: Augmentation,
  seed: number,
  digits: number,
  epochs: number,
): Uint8Array[][] {
  const size = rows * cols;
  const bank = fieldBank(spec, rows, cols, seed);
  const byEpoch = Array.from({ length: epochs }, (_, e) => {
    const out = new Uint8Array(digits * size);
    warpImages(images, digits, rows, cols, augmentationParams(spec, digits, seed, e + 1), bank, out);
    return out;
  });
  return Array.from({ length: digits }, (_, d) => byEpoch.map((out) => out.subarray(d * size, (d + 1) * size)));
}
