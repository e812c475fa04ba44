import type { Backend } from './backend.js';
import { TsBackend } from './ts.js';

/**
 * The backend a network gets when none is given. The core knows only the in-process TypeScript
 * backend; an entry point that may use Node's worker threads (the library's) installs its own.
 */
let makeDefault: () => Backend = () => new TsBackend();

export function useDefaultBackend(make: () => Backend): void {
  makeDefault = make;
}

export function defaultBackend(): Backend {
  return makeDefault();
}
