// Every input width from 1 to past 10,000, dense and sparse, floats and bytes, on every ISA and 1 to
// 3 threads: training must give the ts backend's bits, and evaluation its figures. The sanitizer run
// (scripts/test-sanitize.sh) runs this file against the instrumented addon, so an out-of-bounds
// write at any of these shapes fails there even when it happens to leave the weights right.
import { describe, expect, it } from 'vitest';
import { EVAL_ROWS, OptimizerState, sgd, Workspace, type Backend, type Samples } from '../src/backends/backend.js';
import { NativeBackend } from '../src/backends/native.js';
import { TsBackend } from '../src/backends/ts.js';
import { Network } from '../src/model/network.js';
import { Rng } from '../src/model/rng.js';
import { supportedIsas } from './helpers.js';

/** 1…70 (every tail of every vector width), then each side of the powers of two and of the scratch bounds. */
const WIDTHS = [
  ...Array.from({ length: 70 }, (_, i) => i + 1),
  ...[
    127, 128, 129, 255, 256, 257, 511, 784, 1023, 1024, 1025, 2047, 2048, 2049, 4097, 6989, 6990, 6991, 8000, 8192,
    10_000, 12_345,
  ],
];
const SAMPLES = 13;
const BATCH = 5; // two whole batches and a partial one of 3
const CLASSES = 3;

type Kind = 'dense floats' | 'sparse floats' | 'dense bytes' | 'sparse bytes';
const KINDS: Kind[] = ['dense floats', 'sparse floats', 'dense bytes', 'sparse bytes'];

function samplesOf(kind: Kind, features: number): Samples {
  const rng = new Rng(features);
  const count = SAMPLES * features;
  // Sparse: about 1 input in 10 non-zero (MNIST has 1 in 5), so the first layer compresses them.
  const present = (): boolean => !kind.startsWith('sparse') || rng.uniform() < 0.1;
  const x = kind.endsWith('bytes')
    ? Uint8Array.from({ length: count }, () => (present() ? 1 + Math.floor(rng.uniform() * 255) : 0))
    : Float32Array.from({ length: count }, () => (present() ? rng.uniform() * 2 - 1 || 0.5 : 0));
  const labels = Uint8Array.from({ length: SAMPLES }, (_, i) => i % CLASSES);
  return { x, labels, count: SAMPLES };
}

/** One epoch of SGD in the workspace `ws`, then the evaluation of the same samples. */
async function run(backend: Backend, data: Samples, features: number, hidden: number, ws: Workspace) {
  const net = new Network([features, hidden, CLASSES], { backend }).initWeights(7);
  await backend.trainEpoch(
    net,
    data,
    { batchSize: BATCH, optimizer: sgd(0.05), state: new OptimizerState(0, 'sgd'), order: null },
    ws,
  );
  const evaluation = await backend.evaluate(net, data, ws);
  return { params: Buffer.from(net.params.buffer, net.params.byteOffset, net.params.byteLength), evaluation };
}

describe.runIf(supportedIsas.length > 0)('every input width trains and evaluates as the ts backend does', () => {
  // The workspace of `fit` (EVAL_ROWS) holds more rows than a batch; one of a batch's own size too.
  describe.each(KINDS)('%s', (kind) => {
    it.each([EVAL_ROWS, BATCH])(`inputs 1 to ${WIDTHS.at(-1)}, hidden 4 and 40, workspace of %i rows`, async (rows) => {
      for (const features of WIDTHS) {
        const data = samplesOf(kind, features);
        for (const hidden of features > 2048 ? [40] : [4, 40]) {
          const ws = new Workspace([features, hidden, CLASSES], rows);
          const expected = await run(new TsBackend(), data, features, hidden, ws);
          for (const isa of supportedIsas) {
            for (const threads of [1, 2, 3]) {
              const got = await run(new NativeBackend({ isa, threads }), data, features, hidden, ws);
              const where = `${features} inputs, hidden ${hidden}, ${isa}, ${threads} threads`;
              expect(got.params.equals(expected.params), where).toBe(true);
              // The error is a double sum of logs: libm's and V8's log may differ in its last bit.
              expect(got.evaluation.accuracy, where).toBe(expected.evaluation.accuracy);
              expect(got.evaluation.error, where).toBeCloseTo(expected.evaluation.error, 12);
            }
          }
        }
      }
    });
  });
});
