import {
  EVAL_ROWS,
  layerOffsets,
  progressInterval,
  type Backend,
  type EpochOptions,
  type Evaluation,
  type Layered,
  type Samples,
  Workspace,
} from './backend.js';

/**
 * The pure-TypeScript backend: the readable reference and the test oracle.
 *
 * The loops follow the same summation order as the native kernels (every sum runs over its index
 * from 0 upwards, starting from zero, the bias added last), so the two backends agree to rounding.
 * Inner loops run over contiguous output columns; MNIST rows are mostly zero pixels, and a zero
 * input contributes nothing to a sum, so those terms are skipped (this does not change any result).
 */

/**
 * y[yi…yi+n) += a · x[xi…xi+n), each element rounded to float32 once per step like an FMA. The
 * loop is unrolled by four: V8 does not vectorise, but it schedules independent elements better.
 */
function axpy(y: Float32Array, yi: number, a: number, x: Float32Array, xi: number, n: number): void {
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    y[yi + j] += a * x[xi + j];
    y[yi + j + 1] += a * x[xi + j + 1];
    y[yi + j + 2] += a * x[xi + j + 2];
    y[yi + j + 3] += a * x[xi + j + 3];
  }
  for (; j < n; j++) y[yi + j] += a * x[xi + j];
}

// inp is (rows, C), weight is (C, OC), bias is (OC), out is (rows, OC); out is overwritten.
export function linearForward(
  out: Float32Array,
  inp: Float32Array,
  weight: Float32Array,
  bias: Float32Array,
  rows: number,
  C: number,
  OC: number,
  relu: boolean,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * OC;
    out.fill(0, o, o + OC);
    for (let k = 0; k < C; k++) {
      const a = inp[r * C + k];
      if (a !== 0) axpy(out, o, a, weight, k * OC, OC);
    }
    for (let j = 0; j < OC; j++) {
      const z = out[o + j] + bias[j];
      out[o + j] = relu && z < 0 ? 0 : z;
    }
  }
}

/**
 * Turns logits into probabilities, row by row, subtracting the row maximum first so that exp cannot
 * overflow. With labels, returns the summed cross-entropy and the number of rows whose largest logit
 * is the label.
 */
// logits is (rows, OC), overwritten with the probabilities.
export function softmaxCrossEntropy(
  logits: Float32Array,
  labels: Uint8Array | null,
  rows: number,
  OC: number,
): { loss: number; correct: number } {
  let loss = 0;
  let correct = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * OC;
    let argmax = 0;
    for (let j = 1; j < OC; j++) if (logits[o + j] > logits[o + argmax]) argmax = j;
    const max = logits[o + argmax];
    let sum = 0;
    for (let j = 0; j < OC; j++) sum += Math.exp(logits[o + j] - max);
    if (labels) {
      const label = labels[r];
      // −log softmax(z)[label], from the logits: never log(0), even when the probability underflows.
      loss += Math.log(sum) - (logits[o + label] - max);
      if (argmax === label) correct++;
    }
    for (let j = 0; j < OC; j++) logits[o + j] = Math.exp(logits[o + j] - max) / sum;
  }
  return { loss, correct };
}

// probs is (rows, OC), dlogits is (rows, OC), overwritten: the gradient of the mean cross-entropy.
export function crossEntropyBackward(dlogits: Float32Array, probs: Float32Array, labels: Uint8Array, rows: number, OC: number): void {
  const scale = Math.fround(1 / rows);
  for (let r = 0; r < rows; r++) {
    const o = r * OC;
    for (let j = 0; j < OC; j++) dlogits[o + j] = (probs[o + j] - (labels[r] === j ? 1 : 0)) * scale;
  }
}

// inp is (rows, C), dout is (rows, OC), dweight is (C, OC), dbias is (OC); both overwritten.
export function linearBackwardWeight(
  dweight: Float32Array,
  dbias: Float32Array,
  dout: Float32Array,
  inp: Float32Array,
  rows: number,
  C: number,
  OC: number,
): void {
  dweight.fill(0, 0, C * OC);
  dbias.fill(0, 0, OC);
  for (let r = 0; r < rows; r++) {
    const d = r * OC;
    for (let j = 0; j < OC; j++) dbias[j] += dout[d + j];
    for (let k = 0; k < C; k++) {
      const a = inp[r * C + k];
      if (a !== 0) axpy(dweight, k * OC, a, dout, d, OC);
    }
  }
}

/** The ReLU derivative as a mask: 1 where the unit was active, else 0. */
export function reluDerivative(activation: number): number {
  return activation > 0 ? 1 : 0;
}

// dout is (rows, OC), weight is (C, OC), act is the layer input (rows, C) after ReLU;
// dinp is (rows, C), overwritten: the error signal before that ReLU.
export function linearBackwardInput(
  dinp: Float32Array,
  dout: Float32Array,
  weight: Float32Array,
  act: Float32Array,
  rows: number,
  C: number,
  OC: number,
): void {
  for (let r = 0; r < rows; r++) {
    const d = r * OC;
    for (let c = 0; c < C; c++) {
      if (reluDerivative(act[r * C + c]) === 0) {
        dinp[r * C + c] = 0;
        continue;
      }
      const w = c * OC;
      let sum = 0;
      for (let j = 0; j < OC; j++) sum = Math.fround(sum + dout[d + j] * weight[w + j]);
      dinp[r * C + c] = sum;
    }
  }
}

interface LayerViews {
  inputs: number;
  outputs: number;
  weight: Float32Array;
  bias: Float32Array;
  dweight: Float32Array;
  dbias: Float32Array;
}

function views(net: Layered, ws: Workspace): LayerViews[] {
  return layerOffsets(net.sizes).map((l) => ({
    inputs: l.inputs,
    outputs: l.outputs,
    weight: net.params.subarray(l.weight, l.weight + l.inputs * l.outputs),
    bias: net.params.subarray(l.bias, l.bias + l.outputs),
    dweight: ws.grads.subarray(l.weight, l.weight + l.inputs * l.outputs),
    dbias: ws.grads.subarray(l.bias, l.bias + l.outputs),
  }));
}

function forwardLayers(layers: LayerViews[], x: Float32Array, rows: number, ws: Workspace): void {
  let inp = x;
  layers.forEach((layer, l) => {
    const hidden = l < layers.length - 1;
    linearForward(ws.acts[l], inp, layer.weight, layer.bias, rows, layer.inputs, layer.outputs, hidden);
    inp = ws.acts[l];
  });
}

function backwardLayers(layers: LayerViews[], x: Float32Array, labels: Uint8Array, rows: number, ws: Workspace): void {
  const last = layers.length - 1;
  let delta = ws.deltas[0];
  crossEntropyBackward(delta, ws.acts[last], labels, rows, layers[last].outputs);
  for (let l = last; l >= 0; l--) {
    const layer = layers[l];
    const inp = l === 0 ? x : ws.acts[l - 1];
    linearBackwardWeight(layer.dweight, layer.dbias, delta, inp, rows, layer.inputs, layer.outputs);
    if (l > 0) {
      const next = delta === ws.deltas[0] ? ws.deltas[1] : ws.deltas[0];
      linearBackwardInput(next, delta, layer.weight, ws.acts[l - 1], rows, layer.inputs, layer.outputs);
      delta = next;
    }
  }
}

/** `params ← params − lr · grads` (the seed's `backprop` update). */
export function sgdUpdate(params: Float32Array, grads: Float32Array, learningRate: number): void {
  const lr = Math.fround(learningRate);
  for (let i = 0; i < params.length; i++) params[i] -= lr * grads[i];
}

export function gatherRows(
  dstX: Float32Array,
  dstLabels: Uint8Array,
  data: Samples,
  order: Uint32Array,
  start: number,
  rows: number,
  features: number,
): void {
  for (let r = 0; r < rows; r++) {
    const i = order[start + r];
    dstX.set(data.x.subarray(i * features, (i + 1) * features), r * features);
    dstLabels[r] = data.labels[i];
  }
}

export class TsBackend implements Backend {
  readonly name = 'ts' as const;
  readonly isa = 'js';
  readonly threads = 1;

  forward(net: Layered, x: Float32Array, rows: number, ws: Workspace): void {
    const layers = views(net, ws);
    forwardLayers(layers, x, rows, ws);
    const last = layers.length - 1;
    softmaxCrossEntropy(ws.acts[last], null, rows, layers[last].outputs);
  }

  gradients(net: Layered, x: Float32Array, labels: Uint8Array, rows: number, ws: Workspace): void {
    backwardLayers(views(net, ws), x, labels, rows, ws);
  }

  async trainEpoch(net: Layered, data: Samples, options: EpochOptions, ws: Workspace): Promise<void> {
    const layers = views(net, ws);
    const features = net.sizes[0];
    const last = layers.length - 1;
    const every = progressInterval(Math.ceil(data.count / options.batchSize));
    let batch = 0;
    for (let start = 0; start < data.count; start += options.batchSize) {
      const rows = Math.min(options.batchSize, data.count - start);
      let x = data.x.subarray(start * features, (start + rows) * features);
      let labels = data.labels.subarray(start, start + rows);
      if (options.order) {
        gatherRows(ws.batchX, ws.batchLabels, data, options.order, start, rows, features);
        x = ws.batchX;
        labels = ws.batchLabels;
      }
      forwardLayers(layers, x, rows, ws);
      softmaxCrossEntropy(ws.acts[last], labels, rows, layers[last].outputs);
      backwardLayers(layers, x, labels, rows, ws);
      sgdUpdate(net.params, ws.grads, options.learningRate);
      if (++batch % every === 0 || start + rows === data.count) options.onProgress?.(start + rows);
    }
  }

  async evaluate(net: Layered, data: Samples, ws: Workspace): Promise<Evaluation> {
    const layers = views(net, ws);
    const features = net.sizes[0];
    const last = layers.length - 1;
    let loss = 0;
    let correct = 0;
    for (let start = 0; start < data.count; start += EVAL_ROWS) {
      const rows = Math.min(EVAL_ROWS, data.count - start);
      forwardLayers(layers, data.x.subarray(start * features, (start + rows) * features), rows, ws);
      const chunk = softmaxCrossEntropy(ws.acts[last], data.labels.subarray(start, start + rows), rows, layers[last].outputs);
      loss += chunk.loss;
      correct += chunk.correct;
    }
    return { accuracy: correct / data.count, error: loss / data.count };
  }
}
