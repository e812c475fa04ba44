/**
 * The optimizers, each defined once: the state it keeps, the settings it reads and their defaults,
 * how weight decay enters, and its help. Both backends step each one in float32 arithmetic, every
 * operation rounded (src/backends/ts.ts, native/elementwise.h); native/tables.h is generated from
 * this table (`npm run generate:native`).
 */
export interface OptimizerSpec {
  /**
   * The state it keeps in the layout of the parameters: `first` (momentum's velocity, Adam's first
   * moment) and `second` (the mean square of the gradient).
   */
  readonly buffers: { readonly first: boolean; readonly second: boolean };
  /** The settings it reads besides the learning rate and the weight decay. */
  readonly uses: readonly ('momentum' | 'beta1' | 'beta2' | 'epsilon')[];
  /** Its own defaults for those, where they differ from Adam's. */
  readonly defaults?: { readonly beta2?: number };
  /** Weight decay added to the gradient (L2), or applied to the weights apart from it (decoupled, as in AdamW). */
  readonly decay: 'l2' | 'decoupled';
  readonly help: string;
}

const OPTIMIZER_TABLE = {
  sgd: { buffers: { first: false, second: false }, uses: [], decay: 'l2', help: 'p −= lr·g' },
  momentum: { buffers: { first: true, second: false }, uses: ['momentum'], decay: 'l2', help: 'v = μv + g; p −= lr·v' },
  adam: {
    buffers: { first: true, second: true },
    uses: ['beta1', 'beta2', 'epsilon'],
    decay: 'l2',
    help: 'bias-corrected moments',
  },
  adamw: {
    buffers: { first: true, second: true },
    uses: ['beta1', 'beta2', 'epsilon'],
    decay: 'decoupled',
    help: 'Adam with decoupled weight decay, as PyTorch',
  },
  rmsprop: {
    buffers: { first: false, second: true },
    uses: ['beta2', 'epsilon'],
    defaults: { beta2: 0.99 },
    decay: 'l2',
    help: 's = αs + (1−α)g², α = beta2 (0.99); p −= lr·g/(√s + ε), as PyTorch',
  },
} as const satisfies Record<string, OptimizerSpec>;

export type OptimizerName = keyof typeof OPTIMIZER_TABLE;
export const OPTIMIZERS = Object.keys(OPTIMIZER_TABLE) as OptimizerName[];

export function optimizerSpec(name: OptimizerName): OptimizerSpec {
  return OPTIMIZER_TABLE[name];
}

/** `sgd (p −= lr·g), …`: the optimizers for the help. */
export function optimizerHelp(): string {
  return OPTIMIZERS.map((name) => `${name} (${OPTIMIZER_TABLE[name].help})`).join(', ');
}
