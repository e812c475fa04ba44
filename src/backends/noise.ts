/**
 * The noise layers: weightless layers that, while training, multiply each unit of each sample by a
 * random factor drawn for it, and are the identity at evaluation, in `predict` and in ONNX. The
 * backward pass multiplies the error signal by the same factors, so a kind is only its draw; each
 * is defined once here and in native/noise.h (native/tables.h lists the kinds, generated from this
 * table).
 *
 * A unit's draw is a hash of (the run's seed, the step, the layer, the row in the batch, the unit),
 * not a draw from a sequential generator: any thread can compute any row's factors, so the result is
 * the same for every thread count, and a run resumed at step t draws what it would have drawn.
 */

/** Which draws a batch gets: the run's seed, and the optimizer steps taken before this batch. */
export interface NoiseMask {
  seed: number;
  step: number;
}

interface NoiseSpec {
  /** The highest rate a layer may take (0 turns the layer off). */
  readonly maxRate: number;
  /** Unit `unit`'s factor at `rate`, from its row's key (`rowKey`). */
  readonly factors: (rate: number) => (key: number, unit: number) => number;
  readonly help: string;
}

const TWO_TO_24 = 0x1000000;

const NOISE_TABLE = {
  // Inverted dropout: a unit is dropped (factor 0) when the top 24 bits of its hash fall below
  // p·2^24, the others are scaled by 1/(1 − p).
  dropout: {
    maxRate: 0.95,
    factors: (p) => {
      const threshold = Math.round(p * TWO_TO_24);
      const scale = Math.fround(1 / (1 - p));
      return (key, j) => (mix32((key + j) >>> 0) >>> 8 >= threshold ? scale : 0);
    },
    help: 'each unit zeroed with probability p, the others scaled by 1/(1−p)',
  },
  // Gaussian dropout (Srivastava et al. 2014; Keras's GaussianDropout): a factor from N(1, p/(1 − p)),
  // by Box–Muller from two 24-bit uniforms, computed in double and rounded to float once.
  'gaussian-dropout': {
    maxRate: 0.95,
    factors: (p) => {
      const deviation = Math.sqrt(p / (1 - p));
      return (key, j) => {
        const first = mix32((key + j) >>> 0);
        const u1 = ((first >>> 8) + 1) / TWO_TO_24;
        const u2 = (mix32(first) >>> 8) / TWO_TO_24;
        return Math.fround(1 + deviation * (Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2)));
      };
    },
    help: 'each unit times a factor from N(1, p/(1−p))',
  },
} satisfies Record<string, NoiseSpec>;

export type NoiseKind = keyof typeof NOISE_TABLE;
export const NOISE_KINDS = Object.keys(NOISE_TABLE) as NoiseKind[];

/** A stage's noise: its kind and rate. */
export interface Noise {
  readonly kind: NoiseKind;
  readonly rate: number;
}

export function noiseSpec(kind: NoiseKind): NoiseSpec {
  return NOISE_TABLE[kind];
}

/** murmur3's 32-bit finaliser: every input bit flips each output bit with probability about ½. */
export function mix32(x: number): number {
  let h = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The hash every unit of row `row` of layer `layer`'s output adds its index to. */
export function rowKey(mask: NoiseMask, layer: number, row: number): number {
  const stepLow = mask.step % 2 ** 32;
  const stepHigh = Math.floor(mask.step / 2 ** 32);
  let key = mix32((mask.seed ^ Math.imul(layer + 1, 0x9e3779b9)) >>> 0);
  key = mix32((key ^ stepLow) >>> 0);
  key = mix32((key ^ stepHigh) >>> 0);
  return mix32((key ^ row) >>> 0);
}

/** factor (rows × width) ← each unit's factor, noisy ← acts · factor. */
export function applyNoise(
  acts: Float32Array,
  noisy: Float32Array,
  factor: Float32Array,
  rows: number,
  width: number,
  noise: Noise,
  mask: NoiseMask,
  layer: number,
): void {
  const draw = NOISE_TABLE[noise.kind].factors(noise.rate);
  for (let r = 0; r < rows; r++) {
    const key = rowKey(mask, layer, r);
    for (let j = 0; j < width; j++) {
      const i = r * width + j;
      const f = draw(key, j);
      factor[i] = f;
      noisy[i] = acts[i] * f;
    }
  }
}

/** Whether any stage of a network has noise. */
export function hasNoise(noise: readonly (Noise | null)[] | undefined): boolean {
  return noise !== undefined && noise.some((n) => n !== null);
}
