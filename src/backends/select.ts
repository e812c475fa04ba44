import { UsageError } from '../errors.js';
import type { Backend } from './backend.js';
import { loadAddon, NativeBackend, type NativeOptions } from './native.js';
import { TsWorkerBackend } from './ts-worker.js';

export const BACKEND_NAMES = ['auto', 'native', 'ts'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface Selected {
  backend: Backend;
  /** Why `auto` fell back to the TypeScript backend, for one line on stderr. */
  fallbackReason?: string;
}

/**
 * `native`, `ts`, or `auto`: native when the addon loads, else ts with the reason. The
 * `BACKPROP_BACKEND` environment variable is used when no name is given.
 */
export function selectBackend(name: string | undefined, options: NativeOptions = {}): Selected {
  const chosen = name ?? process.env.BACKPROP_BACKEND ?? 'auto';
  if (!(BACKEND_NAMES as readonly string[]).includes(chosen)) {
    throw new UsageError(`unknown backend '${chosen}' (expected ${BACKEND_NAMES.join(', ')})`);
  }
  if (chosen === 'ts') return { backend: new TsWorkerBackend() };
  if (chosen === 'native') return { backend: new NativeBackend(options) };
  const addon = loadAddon();
  if ('error' in addon) {
    return {
      backend: new TsWorkerBackend(),
      fallbackReason: `native addon not loaded (${addon.error}); using the ts backend. With a C++ compiler, build it: \`npm rebuild backprop\` (in a clone, \`npm run build:native\`)`,
    };
  }
  return { backend: new NativeBackend(options) };
}
