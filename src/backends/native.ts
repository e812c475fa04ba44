import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { UserError, EXIT } from '../errors.js';
import { sharedMemory } from '../io/shared-memory.js';
import type { NoiseMask } from './noise.js';
import {
  DIVERGED,
  progressInterval,
  type Backend,
  type EpochOptions,
  type Evaluation,
  type Layered,
  type Samples,
  type WarpJob,
  type Workspace,
} from './backend.js';

/** The shape of the compiled addon (native/addon.cc). */
interface Addon {
  Engine: new (options: { isa?: string; threads: number; stragglerMicros?: number }) => Engine;
  compiledIsas: string[];
  supportedIsas: string[];
  bestIsa: string;
}

interface Engine {
  readonly isa: string;
  readonly threads: number;
  forward(net: Layered, x: Float32Array, rows: number, ws: Workspace, mask?: NoiseMask): void;
  gradients(net: Layered, batch: Samples, ws: Workspace, mask?: NoiseMask): void;
  trainEpoch(
    net: Layered,
    data: Samples,
    options: EpochOptions & { progressEvery: number; diverged: number },
    ws: Workspace,
    onProgress: ((samplesDone: number, errorSum: number) => void) | undefined,
  ): Promise<number>;
  evaluate(net: Layered, data: Samples, ws: Workspace): Promise<{ lossSum: number; correct: number }>;
  augment(job: WarpJob): Promise<void>;
  peakGflops(seconds: number): Promise<number>;
}

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Where the addon may be, in the order it is looked for. A local build exists only when someone
 * built one (a clone's `npm install`, `npm run build:native`, `npm rebuild backprop
 * --build-from-source`, or an install that found no working prebuilt binary), so it comes before
 * the binary shipped in the package.
 */
export const ADDON_BUILDS = {
  gyp: `${root}build/Release/backprop.node`,
  cmake: `${root}build-cmake/Release/backprop.node`,
  prebuilt: `${root}prebuilds/${process.platform}-${process.arch}/backprop.node`,
} as const;

export type LoadedAddon = { addon: Addon; path: string } | { error: string };

const loaded = new Map<string, LoadedAddon>();

/**
 * The addon at `path`, or else at `BACKPROP_ADDON`, or else the first of `ADDON_BUILDS` that
 * loads; or why none could be loaded.
 */
export function loadAddon(path?: string): LoadedAddon {
  const override = path ?? process.env.BACKPROP_ADDON;
  const candidates = override ? [override] : Object.values(ADDON_BUILDS);
  const key = candidates.join('|');
  const known = loaded.get(key);
  if (known) return known;
  const require = createRequire(import.meta.url);
  const failures: string[] = [];
  let result: LoadedAddon | undefined;
  for (const candidate of candidates) {
    try {
      result = { addon: require(candidate) as Addon, path: candidate };
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND')
        failures.push(`${candidate}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  const missing = override
    ? `${override} not found`
    : `none built here and no prebuilt binary for ${process.platform}-${process.arch}`;
  result ??= { error: failures.length > 0 ? failures.join('; ') : missing };
  loaded.set(key, result);
  return result;
}

export interface NativeOptions {
  /** `avx512`, `avx2`, `neon` or `scalar`; the best the CPU supports by default. */
  isa?: string;
  /** Default: the machine's available parallelism. */
  threads?: number;
  /** A specific build of the addon (see `ADDON_BUILDS`). */
  addonPath?: string;
  /** For tests: one worker thread sleeps this long before each piece of work it takes. */
  stragglerMicros?: number;
}

export class NativeBackend implements Backend {
  readonly name = 'native' as const;
  readonly memory = sharedMemory;
  private readonly engine: Engine;

  constructor(options: NativeOptions = {}) {
    const result = loadAddon(options.addonPath);
    if ('error' in result) {
      throw new UserError(
        `the native addon is not built (${result.error}); build it with a C++ compiler (\`npm rebuild backprop\`, or \`npm run build:native\` in a clone) or use --backend ts`,
        EXIT.runtime,
      );
    }
    const { addon } = result;
    // BACKPROP_ISA=AVX2 means avx2.
    const isa = options.isa?.toLowerCase();
    if (isa !== undefined && !addon.supportedIsas.includes(isa)) {
      const why = addon.compiledIsas.includes(isa)
        ? 'this CPU does not support it'
        : 'it is not compiled into this build';
      throw new UserError(
        `cannot use ISA '${options.isa}': ${why} (supported here: ${addon.supportedIsas.join(', ')})`,
        EXIT.usage,
      );
    }
    const threads = options.threads ?? availableParallelism();
    try {
      this.engine = new addon.Engine({ isa, threads, stragglerMicros: options.stragglerMicros });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ERR_THREADS') throw err;
      throw new UserError(
        `${(err as Error).message}: the process memory or thread limit is too low for them; use fewer --threads`,
        EXIT.runtime,
      );
    }
  }

  get isa(): string {
    return this.engine.isa;
  }

  get threads(): number {
    return this.engine.threads;
  }

  forward(net: Layered, x: Float32Array, rows: number, ws: Workspace, mask?: NoiseMask): void {
    this.engine.forward(net, x, rows, ws, mask);
  }

  gradients(net: Layered, batch: Samples, ws: Workspace, mask?: NoiseMask): void {
    this.engine.gradients(net, batch, ws, mask);
  }

  async trainEpoch(net: Layered, data: Samples, options: EpochOptions, ws: Workspace): Promise<number> {
    const batches = Math.ceil((options.order?.length ?? data.count) / options.batchSize);
    return this.engine.trainEpoch(
      net,
      data,
      { ...options, progressEvery: progressInterval(batches), diverged: DIVERGED },
      ws,
      options.onProgress,
    );
  }

  augment(job: WarpJob): Promise<void> {
    return this.engine.augment(job);
  }

  /** GFLOP/s of independent FMA chains with this backend's ISA on all its threads (for the benchmark). */
  peakGflops(seconds = 0.5): Promise<number> {
    return this.engine.peakGflops(seconds);
  }

  async evaluate(net: Layered, data: Samples, ws: Workspace): Promise<Evaluation> {
    const { lossSum, correct } = await this.engine.evaluate(net, data, ws);
    return { accuracy: data.labels ? correct / data.count : undefined, error: lossSum / data.count };
  }
}
