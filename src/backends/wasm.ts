import { ACTIVATIONS, LOSSES } from './activations.js';
import { OPTIMIZERS } from './optimizers.js';
import { heapMemory } from '../memory.js';
import { NOISE_KINDS, type NoiseMask } from './noise.js';
import {
  batchPolicy,
  type Backend,
  type EpochOptions,
  type Evaluation,
  type Layered,
  type Samples,
  type WarpJob,
  type Workspace,
} from './backend.js';

/** What native/wasm_binding.cc exports: pointers are offsets into `memory`. */
interface Exports {
  memory: WebAssembly.Memory;
  _initialize(): void;
  bp_alloc(bytes: number): number;
  bp_free(pointer: number): void;
  bp_error_message(): number;
  bp_engine_new(): number;
  bp_engine_isa(engine: number): number;
  bp_forward(engine: number, net: number, x: number, rows: number, ws: number, seed: number, step: number): number;
  bp_gradients(engine: number, net: number, batch: number, ws: number, seed: number, step: number): number;
  bp_train_epoch(engine: number, net: number, data: number, epoch: number, ws: number): number;
  bp_evaluate(engine: number, net: number, data: number, ws: number, result: number): number;
  bp_augment(
    engine: number,
    images: number,
    count: number,
    rows: number,
    cols: number,
    params: number,
    bank: number,
    fields: number,
    out: number,
  ): number;
}

/** What a call of the binding returns for a TypeError (wasm_binding.cc): minus the error's kind. */
const TYPE_ERROR = -1;

/** One array the call reads (`in`) or writes (`out`), in a block of the module's memory kept under `key`. */
interface Staged {
  key: string;
  array: ArrayBufferView | undefined;
  in?: boolean;
  out?: boolean;
}

/**
 * The engine of the native addon compiled to WebAssembly (`npm run build:wasm`): the same C++ and
 * the same argument checks, the scalar kernels, one thread. It runs wherever WebAssembly does —
 * any OS and CPU, a browser page — with weights equal to the TypeScript backend's bit for bit.
 *
 * The module's memory is its own (it grows, and a grown memory detaches every view of the old
 * one), so the network's buffers stay in ordinary memory and each call copies what it reads in and
 * what it writes out: the parameters and the optimizer state, and the samples, about 47 MB for
 * MNIST's training set, a few milliseconds against an epoch's seconds.
 */
export class WasmBackend implements Backend {
  readonly name = 'wasm' as const;
  readonly memory = heapMemory;
  readonly threads = 1;
  readonly isa: string;
  private readonly exports: Exports;
  private readonly engine: number;
  private readonly blocks = new Map<string, { pointer: number; bytes: number }>();
  /** The run policy of the epoch in progress: asked after every batch whether to go on. */
  private onBatch: (done: number, errorSum: number) => boolean = () => true;

  constructor(module: WebAssembly.Module) {
    const instance = new WebAssembly.Instance(module, this.imports(module));
    this.exports = instance.exports as unknown as Exports;
    this.exports._initialize();
    this.engine = this.exports.bp_engine_new();
    this.isa = this.text(this.exports.bp_engine_isa(this.engine));
  }

  forward(net: Layered, x: Float32Array, rows: number, ws: Workspace, mask?: NoiseMask): void {
    const staged = [...this.netArrays(net, false), { key: 'x', array: x, in: true }, ...this.workspace(ws, 'out')];
    this.call(staged, (p) =>
      this.exports.bp_forward(
        this.engine,
        this.netRecord(net, p),
        p.x,
        rows,
        this.wsRecord(net, ws, p),
        mask?.seed ?? -1,
        mask?.step ?? 0,
      ),
    );
  }

  gradients(net: Layered, batch: Samples, ws: Workspace, mask?: NoiseMask): void {
    const staged = [...this.netArrays(net, false), ...this.samples(batch), ...this.workspace(ws, 'in')];
    staged.push({ key: 'ws.grads', array: ws.grads, out: true });
    this.call(staged, (p) =>
      this.exports.bp_gradients(
        this.engine,
        this.netRecord(net, p),
        this.samplesRecord(batch, p),
        this.wsRecord(net, ws, p),
        mask?.seed ?? -1,
        mask?.step ?? 0,
      ),
    );
  }

  async trainEpoch(net: Layered, data: Samples, options: EpochOptions, ws: Workspace): Promise<number> {
    const { state, order, learningRates } = options;
    const staged: Staged[] = [
      ...this.netArrays(net, true),
      ...this.samples(data),
      ...this.workspace(ws, 'none'),
      { key: 'state.first', array: state.first, in: true, out: true },
      { key: 'state.second', array: state.second, in: true, out: true },
      { key: 'state.scalars', array: state.scalars, in: true, out: true },
      { key: 'order', array: order ?? undefined, in: true },
      { key: 'rates', array: learningRates, in: true },
    ];
    const visits = order?.length ?? data.count;
    this.onBatch = batchPolicy(options, visits);
    try {
      return this.call(staged, (p) => {
        const { optimizer: o } = options;
        const epoch = this.record('epoch', [
          ...[options.batchSize, OPTIMIZERS.indexOf(o.name), o.learningRate, o.momentum, o.beta1, o.beta2, o.epsilon],
          ...[o.weightDecay, p['state.first'], p['state.second'], p['state.scalars'], p.order, visits],
          ...[options.start ?? 0, p.rates, options.noiseSeed ?? 0],
        ]);
        return this.exports.bp_train_epoch(
          this.engine,
          this.netRecord(net, p),
          this.samplesRecord(data, p),
          epoch,
          this.wsRecord(net, ws, p),
        );
      });
    } finally {
      this.onBatch = () => true;
    }
  }

  async evaluate(net: Layered, data: Samples, ws: Workspace): Promise<Evaluation> {
    const result = new Float64Array(2);
    const staged = [
      ...this.netArrays(net, false),
      ...this.samples(data),
      ...this.workspace(ws, 'none'),
      { key: 'result', array: result, out: true },
    ];
    this.call(staged, (p) =>
      this.exports.bp_evaluate(
        this.engine,
        this.netRecord(net, p),
        this.samplesRecord(data, p),
        this.wsRecord(net, ws, p),
        p.result,
      ),
    );
    const [lossSum, correct] = result;
    return { accuracy: data.labels ? correct / data.count : undefined, error: lossSum / data.count };
  }

  async augment(job: WarpJob): Promise<void> {
    const size = job.count * job.rows * job.cols;
    const staged: Staged[] = [
      { key: 'images', array: job.images.subarray(0, size), in: true },
      { key: 'params', array: job.params, in: true },
      { key: 'bank', array: job.bank, in: true },
      { key: 'out', array: job.out.subarray(0, size), out: true },
    ];
    const fields = job.bank.length / (2 * job.rows * job.cols);
    this.call(staged, (p) =>
      this.exports.bp_augment(this.engine, p.images, job.count, job.rows, job.cols, p.params, p.bank, fields, p.out),
    );
  }

  /**
   * Places every array in a block of the module's memory, copies in what the call reads, runs it,
   * copies out what it wrote, and returns what it returned; a negative result throws the binding's
   * message. Blocks are kept and reused: after the first call of a shape nothing is allocated.
   */
  private call(staged: Staged[], run: (pointers: Record<string, number>) => number): number {
    const pointers: Record<string, number> = {};
    for (const s of staged) pointers[s.key] = s.array?.byteLength ? this.block(s.key, s.array.byteLength) : 0;
    // Views are made after every allocation: a growing memory detaches the views of the old one.
    for (const s of staged) if (s.in && pointers[s.key]) this.bytes(pointers[s.key], s.array!).set(bytesOf(s.array!));
    const result = run(pointers);
    if (result < 0) {
      const message = this.text(this.exports.bp_error_message());
      throw result === TYPE_ERROR ? new TypeError(message) : new RangeError(message);
    }
    for (const s of staged) if (s.out && pointers[s.key]) bytesOf(s.array!).set(this.bytes(pointers[s.key], s.array!));
    return result;
  }

  private block(key: string, bytes: number): number {
    const block = this.blocks.get(key);
    if (block && block.bytes >= bytes) return block.pointer;
    if (block) this.exports.bp_free(block.pointer);
    const pointer = this.exports.bp_alloc(bytes);
    if (pointer === 0) throw new RangeError(`the WebAssembly memory has no room for ${bytes} more bytes`);
    this.blocks.set(key, { pointer, bytes });
    return pointer;
  }

  private bytes(pointer: number, like: ArrayBufferView): Uint8Array {
    return new Uint8Array(this.exports.memory.buffer, pointer, like.byteLength);
  }

  /** Numbers as a record of doubles in its own block. */
  private record(key: string, values: readonly number[]): number {
    const pointer = this.block(`record.${key}`, values.length * 8);
    new Float64Array(this.exports.memory.buffer, pointer, values.length).set(values);
    return pointer;
  }

  private netArrays(net: Layered, trained: boolean): Staged[] {
    return [{ key: 'params', array: net.params, in: true, out: trained }];
  }

  private netRecord(net: Layered, p: Record<string, number>): number {
    const count = net.sizes.length - 1;
    return this.record('net', [
      ...[count, LOSSES.indexOf(net.loss), net.bias ? 1 : 0, p.params, ...net.sizes],
      ...net.activations.map((a) => ACTIVATIONS.indexOf(a)),
      ...net.layout.map((l) => l.weight),
      ...net.layout.map((l) => l.bias),
      ...net.sizes.slice(1).map((_, l) => (net.noise?.[l] ? NOISE_KINDS.indexOf(net.noise[l].kind) : -1)),
      ...net.sizes.slice(1).map((_, l) => net.noise?.[l]?.rate ?? 0),
    ]);
  }

  private samples(data: Samples): Staged[] {
    return [
      { key: 'data.x', array: data.x, in: true },
      { key: 'data.labels', array: data.labels, in: true },
      { key: 'data.targets', array: data.targets, in: true },
    ];
  }

  private samplesRecord(data: Samples, p: Record<string, number>): number {
    const bytes = data.x instanceof Uint8Array ? 1 : 0;
    return this.record('samples', [p['data.x'], bytes, p['data.labels'], p['data.targets'], data.count]);
  }

  /** The workspace's buffers: layer outputs copied in or out as the call needs them, the rest scratch. */
  private workspace(ws: Workspace, layers: 'in' | 'out' | 'none'): Staged[] {
    const copied = { in: layers === 'in', out: layers === 'out' };
    return [
      { key: 'ws.grads', array: ws.grads },
      { key: 'ws.batchX', array: ws.batchX },
      { key: 'ws.batchLabels', array: ws.batchLabels },
      { key: 'ws.batchTargets', array: ws.batchTargets },
      { key: 'ws.deltas0', array: ws.deltas[0] },
      { key: 'ws.deltas1', array: ws.deltas[1] },
      ...(['acts', 'pre', 'noisy', 'factors'] as const).flatMap((name) =>
        ws[name].map((array, l) => ({ key: `ws.${name}${l}`, array, ...copied })),
      ),
    ];
  }

  private wsRecord(net: Layered, ws: Workspace, p: Record<string, number>): number {
    const count = net.sizes.length - 1;
    const layers = (name: string): number[] => Array.from({ length: count }, (_, l) => p[`ws.${name}${l}`]);
    return this.record('ws', [
      ...[ws.rows, p['ws.grads'], p['ws.batchX'], p['ws.batchLabels'], p['ws.batchTargets']],
      ...[p['ws.deltas0'], p['ws.deltas1'], ...layers('acts'), ...layers('pre'), ...layers('noisy')],
      ...layers('factors'),
    ]);
  }

  private text(pointer: number): string {
    const memory = new Uint8Array(this.exports.memory.buffer);
    let end = pointer;
    while (memory[end] !== 0) end++;
    return new TextDecoder().decode(memory.subarray(pointer, end));
  }

  /** The run policy's callback, and the few WASI calls libc links in (nothing here does I/O). */
  private imports(module: WebAssembly.Module): WebAssembly.Imports {
    const wasi: Record<string, () => number> = {};
    for (const { module: name, name: field } of WebAssembly.Module.imports(module)) {
      if (name === 'wasi_snapshot_preview1') wasi[field] = () => 52; // ENOSYS
    }
    return {
      backprop: { batch_done: (done: number, errorSum: number) => (this.onBatch(done, errorSum) ? 1 : 0) },
      wasi_snapshot_preview1: wasi,
    };
  }
}

function bytesOf(array: ArrayBufferView): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}
