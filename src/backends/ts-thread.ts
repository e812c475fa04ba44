/**
 * The entry point of the TypeScript backend's worker thread: it trains and evaluates with TsBackend
 * on the caller's shared memory, so that the caller's event loop stays free.
 */
import { parentPort } from 'node:worker_threads';
import type { EpochOptions, Layered, Samples, Workspace } from './backend.js';
import { TsBackend } from './ts.js';

export type Job =
  | {
      id: number;
      kind: 'trainEpoch';
      net: Layered;
      data: Samples;
      options: Omit<EpochOptions, 'onProgress'>;
      ws: Workspace;
      progress: boolean;
    }
  | { id: number; kind: 'evaluate'; net: Layered; data: Samples; ws: Workspace };

export type Reply =
  | { id: number; kind: 'progress'; samplesDone: number; errorSum: number }
  | { id: number; kind: 'done'; result: unknown }
  | { id: number; kind: 'failed'; message: string };

const backend = new TsBackend();

/** Runs one job and posts its result, or its failure: it never rejects. */
async function run(job: Job): Promise<void> {
  const post = (reply: Reply): void => parentPort!.postMessage(reply);
  try {
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
