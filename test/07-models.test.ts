import { availableParallelism } from 'node:os';
import sharp from 'sharp';
import * as ort from 'onnxruntime-node';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OptimizerState, Workspace } from '../src/backends/backend.js';
import { NativeBackend } from '../src/backends/native.js';
import { TsBackend } from '../src/backends/ts.js';
import { architectureOf, networkFromFile } from '../src/model/network.js';
import { Network, type NetworkOptions } from '../src/model/network.js';
import { argmaxRow } from '../src/model/metrics.js';
import { Rng } from '../src/model/rng.js';
import { takeFirst } from '../src/data/dataset.js';
import { floatRows } from '../src/data/features.js';
import { fit } from '../src/train/fit.js';
import { loadModel, saveModel } from '../src/model/safetensors.js';
import { race } from '../src/bench/time-to.js';
import { undrawnMarks } from '../scripts/report-marks.mjs';
import { interruptWhen, realMnist, runCli, supportedIsas, tempDir, writeTinyIdxSet } from './helpers.js';

function savedNetwork(): { net: Network; path: string } {
  const net = new Network([6, 5, 3], { hidden: 'tanh', bias: true }).initialize({ scheme: 'xavier' }, 3);
  const state = new OptimizerState(net.parameterCount, 'adam');
  state.first.fill(0.25);
  state.second.fill(0.5);
  state.scalars.set([7, 0.9 ** 7, 0.999 ** 7]);
  const path = join(tempDir(), 'm.safetensors');
  saveModel(path, {
    architecture: architectureOf(net),
    params: net.params,
    optimizer: { first: state.first, second: state.second, scalars: Array.from(state.scalars) },
    extra: { note: 'test' },
  });
  return { net, path };
}

describe('model files (safetensors)', () => {
  it('round-trips the architecture, the weights bit for bit, the optimizer state and the metadata', () => {
    const { net, path } = savedNetwork();
    const file = loadModel(path);
    expect(file.architecture).toEqual({
      sizes: [6, 5, 3],
      activations: ['tanh', 'softmax'],
      loss: 'cross-entropy',
      bias: true,
    });
    expect(Buffer.from(file.params.buffer).equals(Buffer.from(net.params.buffer))).toBe(true);
    expect(file.optimizer!.first.every((v) => v === 0.25)).toBe(true);
    expect(file.optimizer!.scalars[0]).toBe(7);
    expect(file.extra).toEqual({ note: 'test' });
    // The header is the safetensors layout: u64 length, JSON with dtype/shape/data_offsets, 8-byte aligned.
    const bytes = readFileSync(path);
    const length = Number(bytes.readBigUInt64LE(0));
    expect(length % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + length).toString()) as Record<
      string,
      { dtype: string; shape: number[] }
    >;
    expect(header['layers.0.weight']).toMatchObject({ dtype: 'F32', shape: [6, 5] });
    expect(header['layers.1.bias']).toMatchObject({ dtype: 'F32', shape: [3] });
  });

  it.each(['ts', ...supportedIsas])('a loaded model predicts exactly what the saved one did (%s)', (isa) => {
    const backend = isa === 'ts' ? new TsBackend() : new NativeBackend({ isa });
    const { test } = realMnist();
    const net = new Network([784, 32, 10], { backend }).initWeights(9);
    const path = join(tempDir(), 'mnist.safetensors');
    saveModel(path, { architecture: architectureOf(net), params: net.params, extra: {} });
    const loaded = networkFromFile(loadModel(path).architecture, loadModel(path).params, backend);
    const x = test!.x.subarray(0, 100 * 784);
    const a = net.forward(x, new Workspace(net.sizes, 100)).at(-1)!;
    const b = loaded.forward(x, new Workspace(net.sizes, 100)).at(-1)!;
    expect(Buffer.from(b.buffer).equals(Buffer.from(a.buffer))).toBe(true);
  });

  it('refuses damaged and foreign files with one line naming the file and the problem', () => {
    const { path } = savedNetwork();
    const good = readFileSync(path);
    const variant = (mutate: (bytes: Buffer) => Buffer): string => {
      const target = join(tempDir(), 'bad.safetensors');
      writeFileSync(target, mutate(Buffer.from(good)));
      return target;
    };
    expect(() => loadModel(variant((b) => b.subarray(0, b.length - 3)))).toThrow(
      /has an entry that does not fit the file/,
    );
    expect(() => loadModel(variant((b) => b.subarray(0, 20)))).toThrow(/does not fit a 20-byte file/);
    expect(() => loadModel(variant((b) => (b.writeBigUInt64LE(2n ** 60n, 0), b)))).toThrow(
      /header length .* does not fit/,
    );
    expect(() => loadModel(variant((b) => ((b[b.length - 1] ^= 0x40), b)))).toThrow(/checksum mismatch/);
    expect(() =>
      loadModel(variant((b) => Buffer.from(b.toString('latin1').replace('"version":"1"', '"version":"9"'), 'latin1'))),
    ).toThrow(/format version 9 is newer than this backprop reads \(1\); upgrade backprop/);
    expect(() =>
      loadModel(
        variant((b) => Buffer.from(b.toString('latin1').replace('backprop-model', 'something-else'), 'latin1')),
      ),
    ).toThrow(/not a backprop model/);
    expect(() => loadModel(variant(() => Buffer.from('plain text, not a model')))).toThrow(/not a safetensors file/);
    // A header rewritten to claim a vast architecture (its length prefix and checksum still right).
    const withHeader = (edit: (header: Record<string, Record<string, string>>) => void): string => {
      const length = Number(good.readBigUInt64LE(0));
      const header = JSON.parse(good.subarray(8, 8 + length).toString()) as Record<string, Record<string, string>>;
      edit(header);
      const json = Buffer.from(JSON.stringify(header));
      const prefix = Buffer.alloc(8);
      prefix.writeBigUInt64LE(BigInt(json.length));
      const target = join(tempDir(), 'edited.safetensors');
      writeFileSync(target, Buffer.concat([prefix, json, good.subarray(8 + length)]));
      return target;
    };
    const huge = { sizes: [1 << 20, 1 << 20, 10], activations: ['relu', 'softmax'], loss: 'cross-entropy', bias: true };
    expect(() => loadModel(withHeader((h) => (h.__metadata__.architecture = JSON.stringify(huge))))).toThrow(
      /needs 1099523162122 parameters, more than the file holds/,
    );
    expect(() => loadModel(withHeader((h) => (h.__metadata__.architecture = '{"sizes":[6,5]}')))).toThrow(
      /not one this version understands/,
    );
    expect(() => loadModel('/nonexistent/model.safetensors')).toThrow(/cannot read \(no such file or folder\)/);
  });
});

type Header = Record<string, Record<string, unknown>> & { __metadata__: Record<string, unknown> };

/** The header and the tensor bytes of a model file. */
function partsOf(path: string): { header: Header; body: Buffer } {
  const bytes = readFileSync(path);
  const length = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + length).toString()) as Header, body: bytes.subarray(8 + length) };
}

/** A model file of `header` and `body`, its checksum recomputed so that only the intended fault remains. */
function modelFileOf(header: Header, body: Buffer): string {
  header.__metadata__.sha256 = createHash('sha256').update(body).digest('hex');
  const json = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  const path = join(tempDir(), 'edited.safetensors');
  writeFileSync(path, Buffer.concat([prefix, json, body]));
  return path;
}

describe('every check of a model file', () => {
  const { path } = savedNetwork();
  /** The saved model with one edit of its header and body (a fresh copy each time). */
  const edited = (edit: (header: Header, body: Buffer) => Buffer | void): string => {
    const { header, body } = partsOf(path);
    const copy = Buffer.from(body);
    return modelFileOf(header, edit(header, copy) ?? copy);
  };
  const architecture = (change: Record<string, unknown>) =>
    edited((h) => {
      h.__metadata__.architecture = JSON.stringify({
        ...(JSON.parse(h.__metadata__.architecture as string) as object),
        ...change,
      });
    });
  const NOT_UNDERSTOOD = /the architecture in its metadata is not one this version understands/;
  const DOES_NOT_FIT = /tensor layers\.0\.weight has an entry that does not fit the file/;

  it('refuses each way an architecture can be wrong', () => {
    for (const change of [
      { sizes: '6,5,3' },
      { sizes: [6], activations: [] },
      { sizes: [6, 2.5, 3] },
      { sizes: [6, 0, 3] },
      { sizes: [6, 2 ** 21, 3] },
      { activations: 'tanh,softmax' },
      { activations: ['tanh'] },
      { activations: ['tanh', 'swish'] },
      { loss: 'hinge' },
      { bias: 'true' },
      { dropout: [0.5, 0] },
      { dropout: [0.96] },
      { 'gaussian-dropout': ['0.2'] },
      { dropout: [0.2], 'gaussian-dropout': [0.3] },
    ]) {
      expect(() => loadModel(architecture(change)), JSON.stringify(change)).toThrow(NOT_UNDERSTOOD);
    }
    expect(loadModel(architecture({ 'gaussian-dropout': [0.2] })).architecture).toMatchObject({
      'gaussian-dropout': [0.2],
    });
  });

  it('refuses each way a tensor entry can be wrong', () => {
    const entry = (change: Record<string, unknown> | null) =>
      edited((h) => {
        h['layers.0.weight'] = (change && { ...h['layers.0.weight'], ...change }) as Record<string, unknown>;
      });
    const [begin, end] = partsOf(path).header['layers.0.weight'].data_offsets as number[];
    for (const change of [
      null,
      { dtype: 5 },
      { shape: '6,5' },
      { shape: [6, -5] },
      { shape: [6, 2.5] },
      { data_offsets: [-4, end] },
      { data_offsets: [end, begin] },
      { data_offsets: [begin, 10 ** 9] },
      { data_offsets: 'none' },
    ]) {
      expect(() => loadModel(entry(change)), JSON.stringify(change)).toThrow(DOES_NOT_FIT);
    }
    expect(() => loadModel(entry({ dtype: 'F16' }))).toThrow(/tensor layers\.0\.weight has dtype F16, expected F32/);
    expect(() => loadModel(entry({ shape: [5, 6] }))).toThrow(
      /tensor layers\.0\.weight has shape \[5,6\], the architecture needs \[6,5\]/,
    );
    expect(() => loadModel(edited((h) => void delete h['layers.1.bias']))).toThrow(
      /(layers\.1\.bias is missing|bytes after the last tensor)/,
    );
    // Offsets that cover the bytes of another tensor's shape: consistent extents, wrong length for this one.
    expect(() =>
      loadModel(
        edited((h) => {
          const bias = h['layers.0.bias'];
          bias.shape = [6];
          h['layers.0.weight'].shape = [6, 5];
          const [b0, b1] = bias.data_offsets as number[];
          bias.data_offsets = [b0, b1];
        }),
      ),
    ).toThrow(/tensor layers\.0\.bias has shape \[6\], the architecture needs \[5\]/);
    expect(() =>
      loadModel(
        edited((h) => {
          const second = h['layers.0.bias'].data_offsets as number[];
          h['layers.0.bias'].data_offsets = [second[0] - 4, second[1] - 4];
        }),
      ),
    ).toThrow(/overlaps another tensor's bytes|bytes after the last tensor/);
  });

  it('accepts what is unusual but valid: tensors listed out of offset order, an empty extra tensor, input size 1, no extra, zero steps', () => {
    const reordered = edited((h) => {
      const entries = Object.entries(h).reverse();
      for (const key of Object.keys(h)) delete h[key];
      Object.assign(h, Object.fromEntries(entries));
    });
    const tensors = Object.keys(partsOf(reordered).header).filter((key) => key !== '__metadata__');
    expect(tensors.indexOf('layers.0.weight')).toBeGreaterThan(tensors.indexOf('layers.1.weight'));
    expect(Array.from(loadModel(reordered).params)).toEqual(Array.from(loadModel(path).params));
    const empty = edited((h, body) => {
      h['notes.empty'] = { dtype: 'F32', shape: [0], data_offsets: [body.length, body.length] };
    });
    expect(loadModel(empty).params.length).toBe(loadModel(path).params.length);
    const tiny = join(tempDir(), 'tiny.safetensors');
    const net = new Network([1, 2, 2]).initWeights(4);
    saveModel(tiny, { architecture: architectureOf(net), params: net.params, extra: {} });
    expect(loadModel(tiny).architecture.sizes).toEqual([1, 2, 2]);
    expect(loadModel(edited((h) => void delete h.__metadata__.extra)).extra).toEqual({});
    expect(loadModel(edited((h) => void (h.__metadata__.optimizer_scalars = '[0,1,1]'))).optimizer?.scalars).toEqual([
      0, 1, 1,
    ]);
  });

  it('refuses a header, metadata, optimizer state or body that is not what it claims', () => {
    const meta = (change: Record<string, unknown>) => edited((h) => void Object.assign(h.__metadata__, change));
    expect(() => loadModel(edited((h) => void (h.__metadata__ = ['a'] as unknown as Header['__metadata__'])))).toThrow(
      /its __metadata__ is not a table of strings/,
    );
    expect(() => loadModel(meta({ steps: 3 }))).toThrow(/its __metadata__ is not a table of strings/);
    for (const scalars of ['[1,2]', '"x"', '[1,0.5,"a"]', '[1,0.5,1e999]', '[1,-0.5,0.5]', '[1.5,0.5,0.5]', '{']) {
      expect(() => loadModel(meta({ optimizer_scalars: scalars })), scalars).toThrow(
        /optimizer_scalars in its metadata is not/,
      );
    }
    expect(() => loadModel(meta({ extra: '[1]' }))).toThrow(/extra in its metadata is not a JSON object/);
    expect(() => loadModel(meta({ extra: '{' }))).toThrow(/extra in its metadata is not valid JSON/);
    const nan = edited(
      (h, body) => void body.writeFloatLE(Number.NaN, (h['layers.1.weight'].data_offsets as number[])[0]),
    );
    expect(() => loadModel(nan)).toThrow(/holds a weight that is not a finite number/);
    // The architecture's parameters must fit the body before anything is allocated or read.
    expect(() => loadModel(edited((_, body) => body.subarray(0, 40)))).toThrow(
      /needs 53 parameters, more than the file holds/,
    );
    const headerOnly = (bytes: Buffer): string => {
      const target = join(tempDir(), 'short.safetensors');
      writeFileSync(target, bytes);
      return target;
    };
    const good = readFileSync(path);
    const headerLength = Number(good.readBigUInt64LE(0));
    expect(() => loadModel(headerOnly(good.subarray(0, 8 + headerLength)))).toThrow(
      /needs 53 parameters, more than the file holds/,
    );
    const oneShort = Buffer.from(good.subarray(0, 8 + headerLength - 1));
    expect(() => loadModel(headerOnly(oneShort))).toThrow(
      new RegExp(`header length ${headerLength} does not fit a ${oneShort.length}-byte file`),
    );
    expect(() => loadModel(headerOnly(Buffer.alloc(7)))).toThrow(/not a safetensors file \(7 bytes\)/);
    expect(() => loadModel(headerOnly(Buffer.alloc(8)))).toThrow(/the header in its metadata is not valid JSON/);
    for (const json of ['[]', '"x"', '5']) {
      const notObject = Buffer.concat([Buffer.from([json.length, 0, 0, 0, 0, 0, 0, 0]), Buffer.from(json)]);
      expect(() => loadModel(headerOnly(notObject)), json).toThrow(/its header is not a JSON object/);
    }
    expect(() => loadModel(meta({ optimizer_scalars: '"abc"' }))).toThrow(/optimizer_scalars in its metadata is not/);
    expect(() => loadModel(edited((_, body) => Buffer.concat([body, Buffer.alloc(4)])))).toThrow(
      /4 bytes after the last tensor/,
    );
    // The boundary between two tensors moved: every byte still covered once, one tensor 4 bytes short.
    const moved = edited((h) => {
      const weight = h['layers.0.weight'].data_offsets as number[];
      const bias = h['layers.0.bias'].data_offsets as number[];
      if (bias[0] !== weight[1]) throw new Error('expected the bias right after the weights');
      weight[1] -= 4;
      bias[0] -= 4;
    });
    expect(() => loadModel(moved)).toThrow(/tensor layers\.0\.weight has data offsets that do not fit its shape/);
  });

  it('closes the file whatever it refuses (no descriptor left open)', () => {
    const damaged = edited((h) => void (h.__metadata__.extra = '[1]'));
    const open = (): number => readdirSync('/proc/self/fd').length;
    const before = open();
    for (let i = 0; i < 50; i++) expect(() => loadModel(damaged)).toThrow();
    expect(open()).toBe(before);
  });
});

/** Runs a Python script (numpy and the struct module: an independent reader and writer of the format). */
function python(script: string, ...args: string[]): string {
  return execFileSync('python3', ['-c', script, ...args], { encoding: 'utf8' });
}

describe('model files against an independent reader and writer (Python)', () => {
  it('a trained model with biases and Adam state reads back in numpy exactly, little-endian', async () => {
    const dir = tempDir();
    const path = join(dir, 'adam.safetensors');
    expect(
      (
        await runCli(
          '--hidden',
          '8',
          '--limit',
          '500',
          '--epochs',
          '2',
          '--optimizer',
          'adam',
          '--lr',
          '0.01',
          '--save',
          path,
        )
      ).code,
    ).toBe(0);
    const file = loadModel(path);
    const read = python(
      `
import json, struct, sys, numpy as np
data = open(sys.argv[1], 'rb').read()
(n,) = struct.unpack('<Q', data[:8])
header = json.loads(data[8:8 + n])
body = data[8 + n:]
out = {}
for name, t in header.items():
    if name == '__metadata__': continue
    a, b = t['data_offsets']
    out[name] = np.frombuffer(body[a:b], dtype='<f4').reshape(t['shape']).astype(float).ravel().tolist()
print(json.dumps(out))`,
      path,
    );
    const tensors = JSON.parse(read) as Record<string, number[]>;
    const [layer0, layer1] = architectureOf(
      networkFromFile(file.architecture, file.params, new TsBackend()),
    ).sizes.slice(0, 2);
    expect(tensors['layers.0.weight']).toHaveLength(layer0 * layer1);
    expect(tensors['layers.0.weight']).toEqual(Array.from(file.params.subarray(0, layer0 * layer1)));
    const bias = tensors['layers.0.bias'];
    expect(bias.some((b) => b !== 0)).toBe(true);
    expect(bias).toEqual(Array.from(file.params.subarray(layer0 * layer1, layer0 * layer1 + layer1)));
    expect(tensors['optimizer.first']).toEqual(Array.from(file.optimizer!.first));
    expect(tensors['optimizer.second']).toEqual(Array.from(file.optimizer!.second));
    expect(file.optimizer!.second.some((v) => v > 0)).toBe(true);
  });

  it('a model file written by Python (struct, little-endian) loads with the values it wrote', () => {
    const path = join(tempDir(), 'python.safetensors');
    python(
      `
import hashlib, json, struct, sys
weight = [0.5, -1.25, 3.0, 0.1, 2.5e-3, -7.0]   # [3 inputs, 2 outputs]
bias = [0.75, -0.5]
body = struct.pack('<6f', *weight) + struct.pack('<2f', *bias)
meta = {'format': 'backprop-model', 'version': '1', 'optimizer_scalars': 'null', 'extra': '{}',
        'architecture': json.dumps({'sizes': [3, 2], 'activations': ['softmax'], 'loss': 'cross-entropy', 'bias': True}),
        'sha256': hashlib.sha256(body).hexdigest()}
header = {'layers.0.weight': {'dtype': 'F32', 'shape': [3, 2], 'data_offsets': [0, 24]},
          'layers.0.bias': {'dtype': 'F32', 'shape': [2], 'data_offsets': [24, 32]}, '__metadata__': meta}
text = json.dumps(header).encode()
open(sys.argv[1], 'wb').write(struct.pack('<Q', len(text)) + text + body)`,
      path,
    );
    const file = loadModel(path);
    expect(Array.from(file.params)).toEqual([0.5, -1.25, 3.0, 0.1, 2.5e-3, -7.0, 0.75, -0.5].map(Math.fround));
  });
});

describe('train --save, predict, --resume', () => {
  it('predict on the test set reports the validation accuracy the training printed', async () => {
    const path = join(tempDir(), 'm.safetensors');
    const trained = await runCli('--hidden', '16', '--epochs', '2', '--limit', '5000', '--save', path, '--json');
    const last = JSON.parse(trained.out.at(-2)!) as { valAccuracy: number; valError: number };
    const predicted = await runCli('predict', '--model', path, '--json');
    expect(predicted.code).toBe(0);
    const report = JSON.parse(predicted.out[0]) as {
      accuracy: number;
      error: number;
      confusion: number[][];
      recall: number[];
    };
    expect(report.accuracy).toBe(last.valAccuracy);
    expect(report.error).toBeCloseTo(last.valError, 12);
    expect(report.confusion.flat().reduce((a, b) => a + b, 0)).toBe(10000);
    // Rows are the true classes: each row sums to that class's count in the test labels.
    const counts = new Array(10).fill(0);
    for (const label of realMnist().test!.labels!) counts[label]++;
    expect(report.confusion.map((row) => row.reduce((a, b) => a + b, 0))).toEqual(counts);
    expect(report.recall).toHaveLength(10);
  });

  it('a resumed run ends with bitwise the weights of an uninterrupted one (adam, shuffled)', async () => {
    const dir = tempDir();
    const base = [
      '--data',
      writeTinyIdxSet({ train: 40, test: 10 }),
      '--hidden',
      '6',
      '--batch',
      '4',
      '--lr',
      '0.01',
      '--shuffle',
    ];
    const args = [...base, '--optimizer', 'adam'];
    await runCli(...args, '--epochs', '2', '--save', join(dir, 'part.safetensors'));
    const resumed = await runCli(
      ...args,
      '--epochs',
      '5',
      '--resume',
      join(dir, 'part.safetensors'),
      '--save',
      join(dir, 'part.safetensors'),
    );
    expect(resumed.code).toBe(0);
    expect(resumed.err[0]).toMatch(/resuming .* after epoch 2/);
    await runCli(...args, '--epochs', '5', '--save', join(dir, 'whole.safetensors'));
    const a = loadModel(join(dir, 'part.safetensors'));
    const b = loadModel(join(dir, 'whole.safetensors'));
    expect(Buffer.from(a.params.buffer).equals(Buffer.from(b.params.buffer))).toBe(true);
    expect((a.extra.history as unknown[]).length).toBe(5);
    const wrong = await runCli(
      ...base,
      '--epochs',
      '5',
      '--resume',
      join(dir, 'whole.safetensors'),
      '--optimizer',
      'sgd',
    );
    expect(wrong.code).toBe(2);
    expect(wrong.err[0]).toMatch(/--optimizer sgd contradicts .*whole\.safetensors, which was trained with adam/);
  });

  it('--patience stops when the validation error stops improving; --save-best keeps exactly the best epoch', async () => {
    const dir = tempDir();
    // Real digits and a large step: the validation accuracy rises and falls from epoch to epoch.
    const args = ['--hidden', '16', '--limit', '3000', '--batch', '50', '--lr', '1.2', '--shuffle', '--json'];
    const run = await runCli(
      ...args,
      '--epochs',
      '12',
      '--patience',
      '4',
      '--save',
      join(dir, 'best.safetensors'),
      '--save-best',
    );
    expect(run.code).toBe(0);
    expect(run.err.at(-1)).toMatch(/stopped after epoch \d+: the error has not improved for 4 epochs/);
    const printed = run.out
      .map((line) => JSON.parse(line) as { event: string; valAccuracy: number })
      .filter((e) => e.event === 'epoch');
    expect(printed.length).toBeLessThan(12);
    const accuracies = printed.map((e) => e.valAccuracy);
    const best = accuracies.indexOf(Math.max(...accuracies)) + 1;
    // The test means something only if a later epoch was worse than the best.
    expect(best).toBeLessThan(printed.length);
    const saved = loadModel(join(dir, 'best.safetensors'));
    expect((saved.extra.history as unknown[]).length).toBe(best);
    // The saved weights are those of epoch `best`: a run of exactly that many epochs ends on them.
    expect((await runCli(...args, '--epochs', String(best), '--save', join(dir, 'short.safetensors'))).code).toBe(0);
    expect(
      Buffer.from(saved.params.buffer).equals(Buffer.from(loadModel(join(dir, 'short.safetensors')).params.buffer)),
    ).toBe(true);
  });

  it('--resume with --save-best keeps the saved best when the resumed epochs are worse', async () => {
    const dir = tempDir();
    const path = join(dir, 'best.safetensors');
    const args = [
      '--hidden',
      '16',
      '--limit',
      '3000',
      '--batch',
      '50',
      '--lr',
      '1.2',
      '--shuffle',
      '--json',
      '--save',
      path,
      '--save-best',
    ];
    expect((await runCli(...args, '--epochs', '6')).code).toBe(0);
    const best = loadModel(path);
    const bestEpoch = (best.extra.history as unknown[]).length;
    // Meaningful only if the epoch after the best was worse (it is, for this seed).
    expect(bestEpoch).toBeLessThan(6);
    // Resuming from the best file repeats its next epoch exactly, which was worse: the file must stay.
    const resumed = await runCli(
      '--resume',
      path,
      '--epochs',
      String(bestEpoch + 1),
      '--save',
      path,
      '--save-best',
      '--json',
    );
    expect(resumed.code).toBe(0);
    const after = loadModel(path);
    expect((after.extra.history as unknown[]).length).toBe(bestEpoch);
    expect(Buffer.from(after.params.buffer).equals(Buffer.from(best.params.buffer))).toBe(true);
  });

  it('Ctrl-C finishes the batch, saves, exits 130; resuming gives the uninterrupted weights', async () => {
    const dir = tempDir();
    const args = ['--hidden', '256', '--epochs', '3', '--limit', '30000'];
    // Signalled at the first progress report of epoch 2: most of the epoch is still to come, however fast the machine.
    const { code, stderr } = await interruptWhen(
      [...args, '--json', '--progress-json', '--save', join(dir, 'a.safetensors')],
      'SIGINT',
      '"event":"progress","epoch":2',
    );
    expect(code).toBe(130);
    expect(stderr).toMatch(/interrupted in epoch 2 after [\d,]+ samples; saved to .*a\.safetensors/);
    const resumed = await runCli(
      ...args,
      '--json',
      '--resume',
      join(dir, 'a.safetensors'),
      '--save',
      join(dir, 'a.safetensors'),
    );
    expect(resumed.code).toBe(0);
    await runCli(...args, '--json', '--save', join(dir, 'b.safetensors'));
    const a = loadModel(join(dir, 'a.safetensors'));
    const b = loadModel(join(dir, 'b.safetensors'));
    expect(Buffer.from(a.params.buffer).equals(Buffer.from(b.params.buffer))).toBe(true);
  });
});

describe('predict --image', () => {
  /** A 200×200 PNG of a thick "1" or "7", drawn in `ink` on `paper`. */
  async function drawDigit(path: string, digit: '1' | '7', ink: string, paper: string): Promise<void> {
    const stroke = `stroke="${ink}" stroke-width="22" stroke-linecap="round" stroke-linejoin="round" fill="none"`;
    const shape =
      digit === '1'
        ? `<line x1="100" y1="30" x2="100" y2="170" ${stroke}/>`
        : `<polyline points="50,40 150,40 85,170" ${stroke}/>`;
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200"><rect width="200" height="200" fill="${paper}"/>${shape}</svg>`;
    await sharp(Buffer.from(svg)).png().toFile(path);
  }

  it.runIf(supportedIsas.length)(
    'reads digits drawn white on black and black on white, and refuses a file that is not an image',
    async () => {
      const dir = tempDir();
      const model = join(dir, 'm.safetensors');
      expect((await runCli('--hidden', '128', '--epochs', '5', '--shuffle', '--save', model)).code).toBe(0);
      const images: string[] = [];
      for (const digit of ['1', '7'] as const) {
        for (const [ink, paper] of [
          ['white', 'black'],
          ['black', 'white'],
        ]) {
          const path = join(dir, `${digit}-${ink}.png`);
          await drawDigit(path, digit, ink, paper);
          images.push(path);
        }
      }
      const { code, out } = await runCli('predict', '--model', model, '--image', ...images, '--json');
      expect(code).toBe(0);
      const digits = out.map((line) => (JSON.parse(line) as { digit: number; top3: [number, number][] }).digit);
      expect(digits).toEqual([1, 1, 7, 7]);
      const notImage = join(dir, 'note.png');
      writeFileSync(notImage, 'this is text');
      const bad = await runCli('predict', '--model', model, '--image', notImage);
      expect(bad.code).toBe(1);
      expect(bad.err[0]).toMatch(/note\.png: not an image that can be read/);
    },
  );
});

describe('export --format onnx', () => {
  const architectures: { label: string; options: NetworkOptions; hidden: number[] }[] = [
    { label: 'the seed network', options: {}, hidden: [30] },
    {
      label: 'tanh, sigmoid; mse linear output',
      options: { hidden: ['tanh', 'sigmoid'], loss: 'mse' },
      hidden: [32, 16],
    },
    {
      label: 'bipolar, no biases; mse bipolar output',
      options: { hidden: 'bipolar', loss: 'mse', output: 'bipolar', bias: false },
      hidden: [24],
    },
    { label: 'relu; mse sigmoid output', options: { loss: 'mse', output: 'sigmoid' }, hidden: [20] },
    { label: 'gelu, silu', options: { hidden: ['gelu', 'silu'] }, hidden: [24, 16] },
  ];

  it.each(architectures)(
    'onnxruntime-node gives our outputs within 1e-5 and the same argmax ($label)',
    async ({ options, hidden }) => {
      const dir = tempDir();
      const net = new Network([784, ...hidden, 10], options).initialize({ scheme: 'xavier' }, 4);
      // Trained a little, so that the biases are not zero.
      await fit(net, takeFirst(realMnist().train, 500), { epochs: 1, batchSize: 50 });
      if (net.bias) expect(net.layers.every((layer) => layer.bias!.some((b) => b !== 0))).toBe(true);
      const model = join(dir, 'm.safetensors');
      saveModel(model, { architecture: architectureOf(net), params: net.params, extra: {} });
      const out = join(dir, 'm.onnx');
      const exported = await runCli('export', '--model', model, '--out', out);
      expect(exported.code).toBe(0);
      // 50 test digits and 50 images of noise: every pixel's weight counts, also those that are blank in every digit.
      const x = floatRows(realMnist().test!.x, 784, 0, 100);
      const rng = new Rng(11);
      for (let i = 50 * 784; i < x.length; i++) x[i] = rng.uniform();
      const ours = net.forward(x).at(-1)!;
      const session = await ort.InferenceSession.create(out);
      const result = await session.run({ input: new ort.Tensor('float32', x, [100, 784]) });
      const theirs = result.output.data as Float32Array;
      expect(result.output.dims).toEqual([100, 10]);
      let worst = 0;
      for (let i = 0; i < theirs.length; i++) worst = Math.max(worst, Math.abs(theirs[i] - ours[i]));
      expect(worst).toBeLessThan(1e-5);
      for (let r = 0; r < 100; r++) expect(argmaxRow(theirs, r, 10)).toBe(argmaxRow(ours, r, 10));
    },
  );
});

describe('HTML reports', () => {
  it('train --report and report --model write one self-contained file: curves, the confusion matrix, 36 wrong digits', async () => {
    const dir = tempDir();
    const model = join(dir, 'm.safetensors');
    const trained = await runCli(
      '--hidden',
      '16',
      '--epochs',
      '3',
      '--limit',
      '5000',
      '--save',
      model,
      '--report',
      join(dir, 'train.html'),
    );
    expect(trained.code).toBe(0);
    const again = await runCli('report', '--model', model, '--out', join(dir, 'model.html'));
    expect(again.code).toBe(0);
    const predicted = JSON.parse((await runCli('predict', '--model', model, '--json')).out[0]) as {
      accuracy: number;
      confusion: number[][];
    };
    for (const name of ['train.html', 'model.html']) {
      const html = readFileSync(join(dir, name), 'utf8');
      expect(html).toMatch(/Accuracy per epoch/);
      expect(html).toMatch(/Error per epoch/);
      expect(html).toMatch(/Confusion matrix/);
      // The figures themselves: the validation accuracy predict reports, and the confusion counts drawn as text.
      expect(html).toContain(`Validation: accuracy ${predicted.accuracy.toFixed(4)}`);
      for (const count of predicted.confusion.map((row, i) => row[i])) expect(html).toContain(`>${count}</text>`);
      expect(html.match(/<svg/g)!.length).toBeGreaterThanOrEqual(3);
      expect(html.match(/<img alt="a \d read as \d" src="data:image\/png;base64,/g)).toHaveLength(36);
      // The heat map's class labels read horizontally (only the y axis title is turned).
      expect(html.match(/rotate\(270\)/g)).toBeNull();
      // The configuration as a person writes it, not internal keys and JSON.
      expect(html).toContain('<th>network</th><td>784-16-10 (relu hidden, softmax output, cross-entropy)</td>');
      expect(html).toContain('<th>parameters</th><td>12,730</td>');
      expect(html).toContain('<th>training</th><td>batch 100, sgd learning rate 0.1, 3 epochs, seed 1, in order</td>');
      expect(html).not.toMatch(/batchSize|learningRate|\{&quot;/);
      // Nothing to fetch: no scripts, no stylesheets or images from elsewhere.
      expect(html).not.toMatch(/<script|<link|src="http/);
    }
    const compare = await runCli(
      'compare',
      '--data',
      writeTinyIdxSet(),
      '--hidden',
      '4',
      '--epochs',
      '1',
      '--batch',
      '4',
      '--report',
      join(dir, 'compare.html'),
    );
    expect(compare.code).toBe(0);
    const timings = readFileSync(join(dir, 'compare.html'), 'utf8');
    expect(timings).toMatch(/Seconds per training epoch/);
    // Every bar is drawn with a width (a log axis has no zero to start the bars from).
    const widths = [...timings.matchAll(/aria-roledescription="bar"[^>]*d="M[\d.]+,[\d.]+h([\d.]+)v/g)].map((m) =>
      Number(m[1]),
    );
    expect(widths).toHaveLength(2);
    for (const width of widths) expect(width).toBeGreaterThan(1);
    for (const name of ['train.html', 'model.html', 'compare.html'])
      expect(undrawnMarks(readFileSync(join(dir, name), 'utf8')), name).toEqual([]);
    const train = readFileSync(join(dir, 'train.html'), 'utf8');
    // The two learning curves fit side by side in the page's 1100 px, less its padding.
    const [accuracyWidth, errorWidth] = [...train.matchAll(/<svg[^>]* width="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(accuracyWidth + errorWidth + 24).toBeLessThan(1100 - 28);
    // The heat map's legend is labelled at powers of ten (a symlog scale crowds evenly spaced labels).
    const legend = train.slice(train.lastIndexOf('role-legend-label'));
    expect([...legend.slice(0, legend.indexOf('</g>')).matchAll(/>([\d,]+)<\/text>/g)].map((m) => m[1])).toEqual([
      '1',
      '10',
      '100',
      '1,000',
    ]);
    // An empty cell is white and unlabelled (on the gradient it looked like a count of 1 or 2); every other cell is coloured.
    const zeros = predicted.confusion.flat().filter((count) => count === 0).length;
    const cells = [
      ...train.matchAll(
        /aria-label="predicted: \d; true class: \d; count: (\d+)"[^>]*aria-roledescription="rect mark"[^>]*fill="([^"]+)"/g,
      ),
    ];
    expect(cells).toHaveLength(100);
    for (const [, count, fill] of cells) expect(fill === '#ffffff', `count ${count}`).toBe(count === '0');
    expect(zeros).toBeGreaterThan(0);
    // Precision and recall stand in the same chart as the matrix, beside its rows.
    expect(train).toContain('>precision</text>');
    expect(train).toContain('>recall</text>');
    expect(timings).not.toMatch(/…<\/text>/);
  });

  it('the marks check sees what a browser would show empty: a bar of no width, a chart with no marks, a flat line', () => {
    const chart = (marks: string): string =>
      `<svg><g class="mark-text role-title-text"><text>Timings</text></g>${marks}</svg>`;
    const bar = (d: string): string => `<g class="mark-rect role-mark marks"><path d="${d}"/></g>`;
    expect(undrawnMarks(chart(bar('M0,1h42.5v18h-42.5Z')))).toEqual([]);
    expect(undrawnMarks(chart(bar('M0,1h0v18h0Z')))).toEqual(['Timings: a rect of 0 × 18']);
    expect(undrawnMarks(chart(''))).toEqual(['Timings: no marks']);
    expect(undrawnMarks(chart('<g class="mark-line role-mark marks"><path d="M5,10L5,20"/></g>'))).toEqual([
      'Timings: a line of no length',
    ]);
    expect(undrawnMarks('<p>no chart</p>')).toEqual(['no chart at all']);
  });

  it('bench --time-to times each racer from its start to its first epoch at the target, and refuses a target past 1', async () => {
    const racer = [
      'const say = (e) => console.log(JSON.stringify(e));',
      "say({ event: 'epoch', epoch: 1, valAccuracy: 0.97 });",
      "setTimeout(() => { say({ event: 'epoch', epoch: 2, valAccuracy: 0.981 }); say({ event: 'epoch', epoch: 3, valAccuracy: 0.99 }); say({ event: 'test', accuracy: 0.985 }); }, 300);",
    ].join('');
    const row = await race('fake', process.execPath, ['-e', racer], 0.98);
    expect(row).toMatchObject({ peer: 'fake', epoch: 2, bestValAccuracy: 0.99, testAccuracy: 0.985 });
    expect(row.seconds).toBeGreaterThanOrEqual(0.3);
    expect(row.wallSeconds).toBeGreaterThanOrEqual(row.seconds!);
    expect((await race('fake', process.execPath, ['-e', racer], 0.995)).seconds).toBeUndefined();
    await expect(race('broken', process.execPath, ['-e', 'process.exit(3)'], 0.98)).rejects.toThrow(
      /broken failed \(exit 3\)/,
    );
    const refused = await runCli('bench', '--time-to', '98');
    expect(refused.code).toBe(2);
    expect(refused.err).toEqual(['backprop: --time-to is an accuracy from 0 to 1, got 98']);
  });

  it('bench --report: every bar drawn, every label whole', async () => {
    const path = join(tempDir(), 'bench.html');
    const bench = await runCli(
      'bench',
      '--hidden',
      '8',
      '--batch',
      '100',
      '--no-peers',
      '--no-deeper',
      '--repeats',
      '1',
      '--seconds',
      '0.02',
      '--isa',
      'scalar',
      '--whole-runs',
      '0',
      '--report',
      path,
    );
    expect(bench.code).toBe(0);
    const html = readFileSync(path, 'utf8');
    expect(undrawnMarks(html)).toEqual([]);
    // Every thread count the bench times: 1 and all this machine's (one row only on a one-core machine).
    for (const threads of new Set([1, availableParallelism()]))
      expect(html).toContain(`>native scalar ×${threads}, H 8, batch 100</text>`);
    // And the wasm backend, checked against ts and timed beside it.
    expect(html).toMatch(/>wasm[^<]*, H 8, batch 100<\/text>/);
    expect(bench.out).toContainEqual(expect.stringMatching(/^ {2}wasm against ts, H 256, batch 100: .*not measured/));
    expect(html).not.toMatch(/…<\/text>/);
  });
});
