import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { isShared, sharedMemory } from '../io/shared-memory.js';
import type { Backend, EpochOptions, Evaluation, Layered, Samples, WarpJob, Workspace } from './backend.js';
import type { Job, Reply, ThreadBackend } from './ts-thread.js';
import type { NoiseMask } from './noise.js';
import { TsBackend } from './ts.js';
import type { WasmBackend } from './wasm.js';

/** The compiled worker entry (the tests run the sources, the worker always runs the build). */
const THREAD = fileURLToPath(new URL('../../dist/backends/ts-thread.js', import.meta.url));

type Pending = {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  onProgress?: EpochOptions['onProgress'];
};

/**
 * The one worker thread every TsWorkerBackend hands its jobs to, started on first use and unref'd
 * while idle, so that it neither multiplies with networks nor keeps the process alive.
 */
class TrainingThread {
  private worker?: Worker;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();

  run(job: WithoutId<Job>, onProgress?: EpochOptions['onProgress']): Promise<unknown> {
    const worker = this.start();
    const id = this.nextId++;
    worker.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      worker.postMessage({ ...job, id });
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(THREAD);
    worker.on('message', (reply: Reply) => {
      const job = this.pending.get(reply.id);
      if (!job) return;
      if (reply.kind === 'progress') {
        job.onProgress?.(reply.samplesDone, reply.errorSum);
        return;
      }
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref();
      if (reply.kind === 'done') job.resolve(reply.result);
      else job.reject(new Error(reply.message));
    });
    worker.on('error', (err) => {
      for (const job of this.pending.values()) job.reject(err);
      this.pending.clear();
      this.worker = undefined;
    });
    worker.unref();
    this.worker = worker;
    return worker;
  }
}

const thread = new TrainingThread();

/**
 * A backend that runs in JavaScript's own thread (TypeScript, WebAssembly) with its epochs and
 * evaluations on a worker thread, so that `fit` does not block the caller's event loop. The work is
 * the backend's, on the same shared memory; arrays that are not on a SharedArrayBuffer (which a
 * worker cannot write back) are trained on this thread instead. The small synchronous calls
 * (forward, gradients) stay on this thread.
 */
export class WorkerBackend implements Backend {
  readonly name: ThreadBackend;
  readonly memory = sharedMemory;
  readonly isa: string;
  readonly threads = 1;

  constructor(private readonly local: TsBackend | WasmBackend) {
    this.name = local.name;
    this.isa = local.isa;
  }

  forward(net: Layered, x: Float32Array, rows: number, ws: Workspace, mask?: NoiseMask): void {
    this.local.forward(net, x, rows, ws, mask);
  }

  gradients(net: Layered, batch: Samples, ws: Workspace, mask?: NoiseMask): void {
    this.local.gradients(net, batch, ws, mask);
  }

  trainEpoch(net: Layered, data: Samples, options: EpochOptions, ws: Workspace): Promise<number> {
    if (!shareable(net, data, ws, options)) return this.local.trainEpoch(net, data, options, ws);
    const { onProgress, ...rest } = options;
    return thread.run(
      {
        kind: 'trainEpoch',
        backend: this.name,
        net: plain(net),
        data,
        options: rest,
        ws,
        progress: onProgress !== undefined,
      },
      onProgress,
    ) as Promise<number>;
  }

  // The warp is short beside an epoch (about 5 % of the ts backend's): it stays on this thread.
  augment(job: WarpJob): Promise<void> {
    return this.local.augment(job);
  }

  evaluate(net: Layered, data: Samples, ws: Workspace): Promise<Evaluation> {
    if (!shareable(net, data, ws)) return this.local.evaluate(net, data, ws);
    return thread.run({ kind: 'evaluate', backend: this.name, net: plain(net), data, ws }) as Promise<Evaluation>;
  }
}

/** The TypeScript backend on a worker thread. */
export class TsWorkerBackend extends WorkerBackend {
  constructor() {
    super(new TsBackend());
  }
}

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/** The network's plain data (a class instance with a backend does not cross to a worker). */
function plain(net: Layered): Layered {
  return {
    sizes: net.sizes,
    activations: net.activations,
    loss: net.loss,
    bias: net.bias,
    params: net.params,
    layout: net.layout,
    noise: net.noise,
  };
}

function shareable(net: Layered, data: Samples, ws: Workspace, options?: EpochOptions): boolean {
  const arrays: (ArrayBufferView | undefined)[] = [
    net.params,
    data.x,
    data.labels,
    data.targets,
    ws.grads,
    ws.batchX,
    ...ws.acts,
    ...ws.pre,
    ...ws.noisy,
    ...ws.factors,
  ];
  if (options) arrays.push(options.state.first, options.state.second, options.state.scalars, options.stop);
  return arrays.every((a) => a === undefined || isShared(a));
}
