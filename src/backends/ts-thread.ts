/**
 * The entry point of the worker thread of the TypeScript and WebAssembly backends: it trains and
 * evaluates with TsBackend or WasmBackend on the caller's shared memory, so that the caller's event
 * loop stays free.
 */
import { parentPort } from 'node:worker_threads';
import type { Backend, EpochOptions, Layered, Samples, Workspace } from './backend.js';
import { TsBackend } from './ts.js';
import { loadWasmBackend } from './wasm-node.js';

export type ThreadBackend = 'ts' | 'wasm';

export type Job =
  | {
      id: number;
      kind: 'trainEpoch';
      backend: ThreadBackend;
      net: Layered;
      data: Samples;
      options: Omit<EpochOptions, 'onProgress'>;
      ws: Workspace;
      progress: boolean;
    }
  | { id: number; kind: 'evaluate'; backend: ThreadBackend; net: Layered; data: Samples; ws: Workspace };

export type Reply =
  | { id: number; kind: 'progress'; samplesDone: number; errorSum: number }
  | { id: number; kind: 'done'; result: unknown }
  | { id: number; kind: 'failed'; message: string };

const backends = new Map<ThreadBackend, Backend>();

function backendFor(name: ThreadBackend): Backend {
  let backend = backends.get(name);
  if (!backend) {
    const loaded = name === 'ts' ? new TsBackend() : loadWasmBackend();
    if ('error' in loaded) throw new Error(loaded.error);
    backend = loaded;
    backends.set(name, backend);
  }
  return backend;
}

/** Runs one job and posts its result, or its failure: it never rejects. */
async function run(job: Job): Promise<void> {
  const post = (reply: Reply): void => parentPort!.postMessage(reply);
  try {
    const backend = backendFor(job.backend);
    const result =
      job.kind === 'evaluate'
        ? await backend.evaluate(job.net, job.data, job.ws)
        : await backend.trainEpoch(
            job.net,
            job.data,
            {
              ...job.options,
              onProgress: job.progress
                ? (samplesDone, errorSum) => post({ id: job.id, kind: 'progress', samplesDone, errorSum })
                : undefined,
            },
            job.ws,
          );
    post({ id: job.id, kind: 'done', result });
  } catch (err) {
    post({ id: job.id, kind: 'failed', message: (err as Error).message });
  }
}

parentPort?.on('message', (job: Job) => void run(job));
