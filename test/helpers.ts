import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ADDON_BUILDS, loadAddon, NativeBackend } from '../src/backends/native.js';
import { TsBackend } from '../src/backends/ts.js';
import { WasmBackend } from '../src/backends/wasm.js';
import { wasmModule } from '../src/backends/wasm-node.js';
import type { Backend } from '../src/backends/backend.js';
import { loadMnist, type MnistSplits } from '../src/data/mnist.js';
import { main } from '../src/cli/main.js';

/** The bytes of an IDX file of unsigned bytes with the given dimensions. */
export function idxBytes(dims: number[], values: ArrayLike<number>): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(Uint8Array.from(values))]);
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'backprop-test-'));
}

/** A folder with the four MNIST file names holding `train` and `test` random 4×4 images of 3 classes. */
export function writeTinyIdxSet(options: { train?: number; test?: number; gz?: boolean } = {}): string {
  const { train = 12, test = 6, gz = false } = options;
  const dir = tempDir();
  const write = (name: string, bytes: Buffer): void =>
    writeFileSync(join(dir, gz ? `${name}.gz` : name), gz ? gzipSync(bytes) : bytes);
  const images = (n: number): Buffer =>
    idxBytes(
      [n, 4, 4],
      Array.from({ length: n * 16 }, (_, i) => (i * 37) % 256),
    );
  const labels = (n: number): Buffer =>
    idxBytes(
      [n],
      Array.from({ length: n }, (_, i) => i % 3),
    );
  write('train-images-idx3-ubyte', images(train));
  write('train-labels-idx1-ubyte', labels(train));
  write('t10k-images-idx3-ubyte', images(test));
  write('t10k-labels-idx1-ubyte', labels(test));
  return dir;
}

let mnist: MnistSplits | undefined;
/** The bundled MNIST, loaded once per test file. */
export function realMnist(): MnistSplits {
  mnist ??= loadMnist();
  return mnist;
}

export const addon = loadAddon(ADDON_BUILDS.gyp);
export const supportedIsas: string[] = 'error' in addon ? [] : addon.addon.supportedIsas;

/** Every build of the addon present (node-gyp always after `npm install`; cmake-js after `npm run build:cmake`). */
export const addonBuilds = Object.entries(ADDON_BUILDS).filter(([, path]) => !('error' in loadAddon(path)));

/** The TypeScript backend and the native one forced to each ISA the CPU supports. */
/** The WebAssembly backend on this thread, from the module the package ships. */
export function wasmBackend(): WasmBackend {
  const module = wasmModule();
  if (!(module instanceof WebAssembly.Module)) throw new Error(module.error);
  return new WasmBackend(module);
}

export function everyBackend(threads = 2): { label: string; make: () => Backend }[] {
  return [
    { label: 'ts', make: () => new TsBackend() },
    { label: 'wasm', make: wasmBackend },
    ...supportedIsas.map((isa) => ({ label: `native ${isa}`, make: () => new NativeBackend({ isa, threads }) })),
  ];
}

/** Runs the CLI in-process and returns its exit code and output lines. */
export async function runCli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

/** Runs the CLI in a child process and sends it `signal` once its stdout holds `marker`. */
export async function interruptWhen(
  args: string[],
  signal: NodeJS.Signals,
  marker: string,
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [join(__dirname, '..', 'bin', 'backprop.js'), ...args]);
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes(marker)) child.kill(signal);
    });
    child.on('exit', resolve);
  });
  return { code, stderr };
}
