import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WasmBackend } from './wasm.js';

/** The module `npm run build:wasm` builds and the package ships: one file for every OS and CPU. */
export const WASM_MODULE = fileURLToPath(new URL('../../prebuilds/wasm/backprop.wasm', import.meta.url));

let compiled: WebAssembly.Module | { error: string } | undefined;

/** The compiled module (`BACKPROP_WASM` names another file), or why it cannot be had; compiled once per thread. */
export function wasmModule(): WebAssembly.Module | { error: string } {
  if (compiled) return compiled;
  const path = process.env.BACKPROP_WASM ?? WASM_MODULE;
  try {
    compiled = new WebAssembly.Module(readFileSync(path));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    compiled = { error: code === 'ENOENT' ? `${path} not found` : `${path}: ${(err as Error).message}` };
  }
  return compiled;
}

/** The WebAssembly backend on this thread. */
export function loadWasmBackend(): WasmBackend | { error: string } {
  const module = wasmModule();
  return module instanceof WebAssembly.Module ? new WasmBackend(module) : module;
}
