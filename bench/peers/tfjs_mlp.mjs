// The same network and SGD as backprop's, in TensorFlow.js (cpu and wasm backends): a peer for
// `npm run bench`. Installed only into bench/peers/ by `npm run bench:peers`.
// Each repeat trains whole batches for about --seconds (found by a probe that is also the warm-up)
// and is scaled to an epoch; the median of the repeats is printed as one JSON line per configuration.
// usage: node tfjs_mlp.mjs DATA_DIR --hidden 30,256 --batch 100 [--repeats 3] [--seconds 0.3] [--backends cpu,wasm]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const dataDir = args[0];
const hiddens = option('hidden', '30').split(',').map(Number);
const batches = option('batch', '100').split(',').map(Number);
const repeats = Number(option('repeats', '3'));
const seconds = Number(option('seconds', '0.3'));
const backends = option('backends', 'cpu,wasm').split(',');

const require = createRequire(import.meta.url);
setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
// The threaded wasm build needs browser workers; in Node it falls back to spinning. SIMD stays on.
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);

function readIdx(path) {
  const bytes = readFileSync(path);
  const ndims = bytes[3];
  return bytes.subarray(4 + 4 * ndims);
}
const pixels = readIdx(join(dataDir, 'train-images-idx3-ubyte'));
const labels = readIdx(join(dataDir, 'train-labels-idx1-ubyte'));
const x = new Float32Array(pixels.length);
for (let i = 0; i < x.length; i++) x[i] = pixels[i] / 255;

const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];

for (const backend of backends) {
  await tf.setBackend(backend);
  await tf.ready();
  const onehot = new Float32Array(60000 * 10);
  labels.forEach((label, i) => (onehot[i * 10 + label] = 1));
  for (const hidden of hiddens) {
    for (const batch of batches) {
      const total = Math.floor(60000 / batch);
      const w1 = tf.variable(tf.randomNormal([784, hidden], 0, 0.1));
      const b1 = tf.variable(tf.zeros([hidden]));
      const w2 = tf.variable(tf.randomNormal([hidden, 10], 0, 0.1));
      const b2 = tf.variable(tf.zeros([10]));
      const optimizer = tf.train.sgd(0.1);
      const train = async (count) => {
        const start = performance.now();
        for (let i = 0; i < count; i++) {
          const xb = tf.tensor2d(x.subarray(i * batch * 784, (i + 1) * batch * 784), [batch, 784]);
          const yb = tf.tensor2d(onehot.subarray(i * batch * 10, (i + 1) * batch * 10), [batch, 10]);
          optimizer.minimize(() =>
            tf.losses.softmaxCrossEntropy(yb, tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(xb, w1), b1)), w2), b2)),
          );
          xb.dispose();
          yb.dispose();
        }
        await w1.data();
        return (performance.now() - start) / 1000;
      };
      let run = 1;
      let elapsed = await train(run);
      while (elapsed < seconds / 4 && run < total) {
        run = Math.min(total, run * 4);
        elapsed = await train(run);
      }
      run = Math.max(1, Math.min(total, Math.round((run * seconds) / elapsed)));
      const times = [];
      for (let r = 0; r < repeats; r++) times.push((await train(run)) * (total / run));
      console.log(
        JSON.stringify({
          peer: `tfjs-${backend}`,
          tfjs: tf.version_core,
          hidden,
          batch,
          secondsPerEpoch: median(times),
          batchesTimed: run,
        }),
      );
      tf.dispose([w1, b1, w2, b2]);
      optimizer.dispose();
    }
  }
}
