import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { UserError, EXIT } from '../errors.js';
import type { Backend, EpochOptions, Evaluation, Layered, Samples, Workspace } from './backend.js';

/** The shape of the compiled addon (native/addon.cc). */
interface Addon {
  Engine: new (options: { isa?: string; threads: number }) => Engine;
  compiledIsas: string[];
  supportedIsas: string[];
  bestIsa: string;
}

interface Engine {
  readonly isa: string;
  readonly threads: number;
  forward(net: Layered, x: Float32Array, rows: number, ws: Workspace): void;
  gradients(net: Layered, x: Float32Array, labels: Uint8Array, rows: number, ws: Workspace): void;
  trainEpoch(net: Layered, data: Samples, options: EpochOptions, ws: Workspace): Promise<void>;
  evaluate(net: Layered, data: Samples, ws: Workspace): Promise<{ lossSum: number; correct: number }>;
}

/** Where the addon is looked for: `BACKPROP_ADDON`, then the node-gyp build, then the cmake-js build. */
function addonCandidates(): string[] {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const candidates = [`${root}build/Release/backprop.node`, `${root}build-cmake/Release/backprop.node`];
  const override = process.env.BACKPROP_ADDON;
  return override ? [override] : candidates;
}

let loaded: { addon: Addon; path: string } | { error: string } | undefined;

/** The addon, or why it could not be loaded (memoised: a process loads it once). */
export function loadAddon(): { addon: Addon; path: string } | { error: string } {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const reasons: string[] = [];
  for (const path of addonCandidates()) {
    try {
      loaded = { addon: require(path) as Addon, path };
      return loaded;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      reasons.push(code === 'MODULE_NOT_FOUND' ? `${path} not found` : `${path}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  loaded = { error: reasons.join('; ') };
  return loaded;
}

export interface NativeOptions {
  /** `avx512`, `avx2`, `neon` or `scalar`; the best the CPU supports by default. */
  isa?: string;
  /** Default: the machine's available parallelism. */
  threads?: number;
}

export class NativeBackend implements Backend {
  readonly name = 'native' as const;
  private readonly engine: Engine;

  constructor(options: NativeOptions = {}) {
    const result = loadAddon();
    if ('error' in result) {
      throw new UserError(`the native addon is not built (${result.error}); run \`npm run build\` or use --backend ts`, EXIT.runtime);
    }
    const { addon } = result;
    if (options.isa !== undefined && !addon.supportedIsas.includes(options.isa)) {
      const why = addon.compiledIsas.includes(options.isa) ? 'this CPU does not support it' : 'it is not compiled into this build';
      throw new UserError(
        `cannot use ISA '${options.isa}': ${why} (supported here: ${addon.supportedIsas.join(', ')})`,
        EXIT.usage,
      );
    }
    this.engine = new addon.Engine({ isa: options.isa, threads: options.threads ?? availableParallelism() });
  }

  get isa(): string {
    return this.engine.isa;
  }

  get threads(): number {
    return this.engine.threads;
  }

  forward(net: Layered, x: Float32Array, rows: number, ws: Workspace): void {
    this.engine.forward(net, x, rows, ws);
  }

  gradients(net: Layered, x: Float32Array, labels: Uint8Array, rows: number, ws: Workspace): void {
    this.engine.gradients(net, x, labels, rows, ws);
  }

  trainEpoch(net: Layered, data: Samples, options: EpochOptions, ws: Workspace): Promise<void> {
    return this.engine.trainEpoch(net, data, options, ws);
  }

  async evaluate(net: Layered, data: Samples, ws: Workspace): Promise<Evaluation> {
    const { lossSum, correct } = await this.engine.evaluate(net, data, ws);
    return { accuracy: correct / data.count, error: lossSum / data.count };
  }
}
