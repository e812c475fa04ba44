import { EXIT, UsageError, UserError } from '../errors.js';
import type { Backend } from './backend.js';
import { loadAddon, NativeBackend, type NativeOptions } from './native.js';
import { TsWorkerBackend, WorkerBackend } from './ts-worker.js';
import { loadWasmBackend } from './wasm-node.js';

export const BACKEND_NAMES = ['auto', 'native', 'wasm', 'ts'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface Selected {
  backend: Backend;
  /** Why `auto` did not run its first choice, for one line on stderr. */
  fallbackReason?: string;
}

interface Candidate {
  name: Exclude<BackendName, 'auto'>;
  /** The backend, or why it cannot run here and how to make it run. */
  load(options: NativeOptions): Backend | { unavailable: string; remedy: string };
}

/** The WebAssembly backend on a worker thread, or why its module cannot be had. */
function wasmBackend(): Backend | { unavailable: string; remedy: string } {
  const local = loadWasmBackend();
  if ('error' in local)
    return {
      unavailable: `WebAssembly module not loaded (${local.error})`,
      remedy: 'Reinstall backprop, or in a clone build it with `npm run build:wasm`.',
    };
  return new WorkerBackend(local);
}

/** What `auto` tries, in order; the last always loads. */
const AUTO_ORDER: readonly Candidate[] = [
  {
    name: 'native',
    load(options) {
      const addon = loadAddon();
      if ('error' in addon) {
        return {
          unavailable: `native addon not loaded (${addon.error})`,
          remedy: 'With a C++ compiler, build it: `npm rebuild backprop` (in a clone, `npm run build:native`)',
        };
      }
      return new NativeBackend(options);
    },
  },
  { name: 'wasm', load: wasmBackend },
  { name: 'ts', load: () => new TsWorkerBackend() },
];

/**
 * `native`, `wasm`, `ts`, or `auto`: the first of `AUTO_ORDER` that loads, with the reasons of those
 * that did not. The `BACKPROP_BACKEND` environment variable is used when no name is given.
 */
export function selectBackend(name: string | undefined, options: NativeOptions = {}): Selected {
  const chosen = name ?? process.env.BACKPROP_BACKEND ?? 'auto';
  if (!(BACKEND_NAMES as readonly string[]).includes(chosen)) {
    throw new UsageError(`unknown backend '${chosen}' (expected ${BACKEND_NAMES.join(', ')})`);
  }
  if (chosen === 'ts') return { backend: new TsWorkerBackend() };
  if (chosen === 'native') return { backend: new NativeBackend(options) };
  if (chosen === 'wasm') {
    const wasm = wasmBackend();
    if ('unavailable' in wasm) throw new UserError(`${wasm.unavailable}. ${wasm.remedy}`, EXIT.runtime);
    return { backend: wasm };
  }
  const skipped: { unavailable: string; remedy: string }[] = [];
  for (const candidate of AUTO_ORDER) {
    const loaded = candidate.load(options);
    if ('unavailable' in loaded) {
      skipped.push(loaded);
      continue;
    }
    if (skipped.length === 0) return { backend: loaded };
    const why = skipped.map((s) => s.unavailable).join('; ');
    return {
      backend: loaded,
      fallbackReason: `${why}; using the ${candidate.name} backend. ${skipped.map((s) => s.remedy).join(' ')}`,
    };
  }
  throw new Error('the last backend of AUTO_ORDER always loads');
}
