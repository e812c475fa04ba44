import { activationSpec, derivative, keepsPreActivation, offTarget, type Activation } from './activations.js';
import { applyNoise, hasNoise, type NoiseMask } from './noise.js';
import { optimizerSpec } from './optimizers.js';
import { floatRows } from '../data/features.js';
import { heapMemory } from '../memory.js';
import {
  batchPolicy,
  type Backend,
  type EpochOptions,
  type FloatSamples,
  type Evaluation,
  type Layered,
  type OptimizerSettings,
  OptimizerState,
  type Samples,
  type WarpJob,
  Workspace,
} from './backend.js';
import { warpImages } from '../data/warp.js';

/**
 * The pure-TypeScript backend: the readable reference and the test oracle.
 *
 * The loops follow the same summation order as the native kernels (every sum runs over its index
 * from 0 upwards, starting from zero, the bias added last), and every step is rounded to float32
 * once, as an FMA does, so the two backends agree to rounding — on this project's machines, to the
 * bit. Inner loops run over contiguous output columns; MNIST rows are mostly zero pixels, and a zero
 * input contributes nothing to a sum, so those terms are skipped (this does not change any result).
 */

/**
 * out[o + j] = Σ_e a[e] · b[at[e] + j] for every j < width, over the entries e = begin … end − 1 in
 * order: each sum starts from zero and is rounded to float32 after every step, as an FMA does. Eight
 * columns at a time, their sums in local variables, which V8 keeps in registers (an axpy into `out`
 * would store and reload every step); `at[e]` is where entry e's row of b starts.
 */
function sumsOfProducts(
  out: Float32Array,
  o: number,
  a: Float32Array,
  at: Int32Array,
  begin: number,
  end: number,
  b: Float32Array,
  width: number,
): void {
  const f = Math.fround;
  let j = 0;
  for (; j + 8 <= width; j += 8) {
    let s0 = 0,
      s1 = 0,
      s2 = 0,
      s3 = 0,
      s4 = 0,
      s5 = 0,
      s6 = 0,
      s7 = 0;
    for (let e = begin; e < end; e++) {
      const v = a[e];
      const row = at[e] + j;
      s0 = f(s0 + v * b[row]);
      s1 = f(s1 + v * b[row + 1]);
      s2 = f(s2 + v * b[row + 2]);
      s3 = f(s3 + v * b[row + 3]);
      s4 = f(s4 + v * b[row + 4]);
      s5 = f(s5 + v * b[row + 5]);
      s6 = f(s6 + v * b[row + 6]);
      s7 = f(s7 + v * b[row + 7]);
    }
    out[o + j] = s0;
    out[o + j + 1] = s1;
    out[o + j + 2] = s2;
    out[o + j + 3] = s3;
    out[o + j + 4] = s4;
    out[o + j + 5] = s5;
    out[o + j + 6] = s6;
    out[o + j + 7] = s7;
  }
  for (; j < width; j++) {
    let sum = 0;
    for (let e = begin; e < end; e++) sum = f(sum + a[e] * b[at[e] + j]);
    out[o + j] = sum;
  }
}

/**
 * The non-zero entries of a batch's input, by row or by column: a zero input contributes nothing to
 * a sum, so the products skip it (this changes no result). Grown to the largest batch, kept between calls.
 */
let entries = { values: new Float32Array(0), at: new Int32Array(0), start: new Int32Array(0), fill: new Int32Array(0) };

function entriesFor(count: number, lists: number): typeof entries {
  if (entries.values.length < count || entries.start.length < lists + 1) {
    entries = {
      values: new Float32Array(count),
      at: new Int32Array(count),
      start: new Int32Array(lists + 1),
      fill: new Int32Array(lists),
    };
  }
  return entries;
}

// inp is (rows, C), weight is (C, OC), bias is (OC) or null, out is (rows, OC); out is overwritten
// with activation(inp · weight + bias) (softmax is left to the output step: out gets the logits), and
// pre, when given, with inp · weight + bias.
export function linearForward(
  out: Float32Array,
  inp: Float32Array,
  weight: Float32Array,
  bias: Float32Array | null,
  rows: number,
  C: number,
  OC: number,
  activation: Activation,
  pre: Float32Array | null = null,
): void {
  const { f } = activationSpec(activation);
  const { values, at } = entriesFor(C, 0);
  for (let r = 0; r < rows; r++) {
    const o = r * OC;
    let count = 0;
    for (let k = 0; k < C; k++) {
      const v = inp[r * C + k];
      if (v !== 0) {
        values[count] = v;
        at[count++] = k * OC;
      }
    }
    sumsOfProducts(out, o, values, at, 0, count, weight, OC);
    for (let j = 0; j < OC; j++) {
      const z = bias ? Math.fround(out[o + j] + bias[j]) : out[o + j];
      if (pre) pre[o + j] = z;
      out[o + j] = f(z);
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
  lossSoFar = 0,
): { loss: number; correct: number } {
  let loss = lossSoFar;
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

/** The target of output j for row r: the given target, or the one-hot code of the label. */
function target(batch: Samples, r: number, j: number, OC: number, off: number): number {
  return batch.targets ? batch.targets[r * OC + j] : batch.labels![r] === j ? 1 : off;
}

/**
 * ½·Σ(y − t)² of each row of outputs (rows, OC), added row by row to `lossSoFar`, and the rows whose
 * largest output is the label (with labels).
 */
function squaredError(
  outputs: Float32Array,
  batch: Samples,
  rows: number,
  OC: number,
  output: Activation,
  lossSoFar = 0,
): { loss: number; correct: number } {
  const off = offTarget(output);
  let loss = lossSoFar;
  let correct = 0;
  for (let r = 0; r < rows; r++) {
    let rowLoss = 0;
    let argmax = 0;
    for (let j = 0; j < OC; j++) {
      const e = outputs[r * OC + j] - target(batch, r, j, OC, off);
      rowLoss += 0.5 * e * e;
      if (outputs[r * OC + j] > outputs[r * OC + argmax]) argmax = j;
    }
    loss += rowLoss;
    if (batch.labels && argmax === batch.labels[r]) correct++;
  }
  return { loss, correct };
}

// outputs is (rows, OC); dout (rows, OC) is overwritten with the gradient of the mean error with
// respect to the output layer's pre-activations.
export function outputBackward(
  dout: Float32Array,
  outputs: Float32Array,
  net: Layered,
  batch: Samples,
  rows: number,
  OC: number,
): void {
  const scale = Math.fround(1 / rows);
  const output = net.activations[net.activations.length - 1];
  const { offTarget: off, derivative: fPrime } = activationSpec(output);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < OC; j++) {
      const y = outputs[r * OC + j];
      const t = target(batch, r, j, OC, off);
      // Softmax with cross-entropy: p − onehot. MSE: (y − t) · f′(z).
      dout[r * OC + j] = net.loss === 'cross-entropy' ? (y - t) * scale : (y - t) * fPrime(y) * scale;
    }
  }
}

// inp is (rows, C), dout is (rows, OC), dweight is (C, OC), dbias is (OC) or null; both overwritten.
export function linearBackwardWeight(
  dweight: Float32Array,
  dbias: Float32Array | null,
  dout: Float32Array,
  inp: Float32Array,
  rows: number,
  C: number,
  OC: number,
): void {
  // The rows with a non-zero input k, in order, for each k (a counting sort of the entries by column).
  const { values, at, start, fill } = entriesFor(rows * C, C);
  start.fill(0, 0, C + 1);
  for (let r = 0; r < rows; r++) for (let k = 0; k < C; k++) if (inp[r * C + k] !== 0) start[k + 1]++;
  for (let k = 0; k < C; k++) start[k + 1] += start[k];
  fill.set(start.subarray(0, C));
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < C; k++) {
      const v = inp[r * C + k];
      if (v !== 0) {
        values[fill[k]] = v;
        at[fill[k]++] = r * OC;
      }
    }
  }
  for (let k = 0; k < C; k++) sumsOfProducts(dweight, k * OC, values, at, start[k], start[k + 1], dout, OC);
  if (dbias) {
    dbias.fill(0, 0, OC);
    for (let r = 0; r < rows; r++) for (let j = 0; j < OC; j++) dbias[j] += dout[r * OC + j];
  }
}

/** The ReLU derivative as a mask: 1 where the unit was active, else 0. */
export function reluDerivative(activation: number): number {
  return derivative('relu', activation);
}

// dout is (rows, OC), weight is (C, OC), kept is the layer input (rows, C) after its activation, or
// before it for an activation whose derivative is taken from z; dinp is (rows, C), overwritten: the
// error signal before that activation. With noise on that input, `factors` (rows, C) holds each
// unit's noise factor, applied before the activation's slope.
export function linearBackwardInput(
  dinp: Float32Array,
  dout: Float32Array,
  weight: Float32Array,
  kept: Float32Array,
  rows: number,
  C: number,
  OC: number,
  activation: Activation,
  factors: Float32Array | null = null,
): void {
  const fPrime = activationSpec(activation).derivative;
  for (let r = 0; r < rows; r++) {
    const d = r * OC;
    for (let c = 0; c < C; c++) {
      const slope = fPrime(kept[r * C + c]);
      if (slope === 0) {
        dinp[r * C + c] = 0;
        continue;
      }
      const w = c * OC;
      let sum = 0;
      for (let j = 0; j < OC; j++) sum = Math.fround(sum + dout[d + j] * weight[w + j]);
      if (factors) sum = Math.fround(sum * factors[r * C + c]);
      dinp[r * C + c] = sum * slope;
    }
  }
}

interface LayerViews {
  inputs: number;
  outputs: number;
  activation: Activation;
  weight: Float32Array;
  bias: Float32Array | null;
  dweight: Float32Array;
  dbias: Float32Array | null;
}

function views(net: Layered, ws: Workspace): LayerViews[] {
  return net.layout.map((l, i) => ({
    inputs: l.inputs,
    outputs: l.outputs,
    activation: net.activations[i],
    weight: net.params.subarray(l.weight, l.weight + l.inputs * l.outputs),
    bias: net.bias ? net.params.subarray(l.bias, l.bias + l.outputs) : null,
    dweight: ws.grads.subarray(l.weight, l.weight + l.inputs * l.outputs),
    dbias: net.bias ? ws.grads.subarray(l.bias, l.bias + l.outputs) : null,
  }));
}

/** Whether layer l's output gets its noise in this pass. */
function noised(net: Layered, l: number, mask: NoiseMask | undefined): boolean {
  return mask !== undefined && (net.noise?.[l] ?? null) !== null;
}

/** What layer l reads: the network's input, or the output of the layer below (after its noise). */
function inputOf(net: Layered, x: Float32Array, l: number, ws: Workspace, mask: NoiseMask | undefined): Float32Array {
  if (l === 0) return x;
  return noised(net, l - 1, mask) ? ws.noisy[l - 1] : ws.acts[l - 1];
}

function forwardLayers(
  net: Layered,
  layers: LayerViews[],
  x: Float32Array,
  rows: number,
  ws: Workspace,
  mask?: NoiseMask,
): void {
  layers.forEach((layer, l) => {
    const pre = keepsPreActivation(layer.activation) ? ws.pre[l] : null;
    if (pre && pre.length < rows * layer.outputs) {
      throw new RangeError(
        `ws.pre[${l}] has ${pre.length} elements, needs ${rows * layer.outputs}: a ${layer.activation} layer keeps its pre-activations (make the workspace with Workspace.of(net, rows))`,
      );
    }
    const inp = inputOf(net, x, l, ws, mask);
    linearForward(ws.acts[l], inp, layer.weight, layer.bias, rows, layer.inputs, layer.outputs, layer.activation, pre);
    if (noised(net, l, mask)) {
      if (ws.factors[l].length < rows * layer.outputs) {
        throw new RangeError(
          `ws.factors[${l}] has ${ws.factors[l].length} elements, needs ${rows * layer.outputs}: a layer with noise keeps its factors (make the workspace with Workspace.of(net, rows))`,
        );
      }
      applyNoise(ws.acts[l], ws.noisy[l], ws.factors[l], rows, layer.outputs, net.noise![l]!, mask!, l);
    }
  });
}

/**
 * The output step: softmax for cross-entropy; with a batch, its rows' errors added one by one to
 * `lossSoFar` (as the native backend sums them, so that the totals agree bit for bit).
 */
function outputLoss(
  net: Layered,
  layers: LayerViews[],
  batch: Samples | null,
  rows: number,
  ws: Workspace,
  lossSoFar = 0,
): { loss: number; correct: number } {
  const last = layers.length - 1;
  const OC = layers[last].outputs;
  if (net.loss === 'cross-entropy')
    return softmaxCrossEntropy(ws.acts[last], batch?.labels ?? null, rows, OC, lossSoFar);
  return batch
    ? squaredError(ws.acts[last], batch, rows, OC, layers[last].activation, lossSoFar)
    : { loss: lossSoFar, correct: 0 };
}

function backwardLayers(
  net: Layered,
  layers: LayerViews[],
  batch: FloatSamples,
  rows: number,
  ws: Workspace,
  mask?: NoiseMask,
): void {
  const last = layers.length - 1;
  let delta = ws.deltas[0];
  outputBackward(delta, ws.acts[last], net, batch, rows, layers[last].outputs);
  for (let l = last; l >= 0; l--) {
    const layer = layers[l];
    const inp = inputOf(net, batch.x, l, ws, mask);
    linearBackwardWeight(layer.dweight, layer.dbias, delta, inp, rows, layer.inputs, layer.outputs);
    if (l > 0) {
      const next = delta === ws.deltas[0] ? ws.deltas[1] : ws.deltas[0];
      const below = layers[l - 1].activation;
      const kept = keepsPreActivation(below) ? ws.pre[l - 1] : ws.acts[l - 1];
      const factors = noised(net, l - 1, mask) ? ws.factors[l - 1] : null;
      linearBackwardInput(next, delta, layer.weight, kept, rows, layer.inputs, layer.outputs, below, factors);
      delta = next;
    }
  }
}

/**
 * One optimizer step over every parameter, from the gradient in `grads`. Weight decay applies to
 * the weights only. The arithmetic is float32's: every operation rounded (Math.fround of a +, −,
 * ×, ÷ or √ of floats computed in double is the float32 result), as the native step computes it
 * in SIMD lanes. Plain SGD without decay is the exception: its one rounding matches the native
 * backend's update fused into the weight-gradient product.
 */
export function optimizerStep(net: Layered, grads: Float32Array, opt: OptimizerSettings, state: OptimizerState): void {
  const f = Math.fround;
  const lr = f(opt.learningRate);
  const decay = f(opt.weightDecay);
  const mu = f(opt.momentum);
  const b1 = f(opt.beta1);
  const c1 = f(1 - opt.beta1);
  const b2 = f(opt.beta2);
  const c2 = f(1 - opt.beta2);
  const epsilon = f(opt.epsilon);
  const scalars = state.scalars;
  scalars[0] += 1;
  scalars[1] *= opt.beta1;
  scalars[2] *= opt.beta2;
  // Adam's bias corrections as PyTorch applies them (the multiply by 1/√(1 − β2^t) is where PyTorch
  // divides by √(1 − β2^t)).
  const stepSize = f(lr / (1 - scalars[1]));
  const inverseRoot = f(1 / Math.sqrt(1 - scalars[2]));
  const { params } = net;
  const { first, second } = state;
  // params[begin, end); weights get the decay, biases do not. One loop per optimizer: this runs
  // over every parameter after every batch.
  const decoupled = optimizerSpec(opt.name).decay === 'decoupled';
  const step = (begin: number, end: number, decayed: boolean): void => {
    const wd = decayed ? decay : 0;
    // L2 decay joins the gradient; decoupled decay (AdamW) shrinks the weight apart from it.
    const l2 = decoupled ? 0 : wd;
    const shrink = decoupled ? f(1 - f(lr * wd)) : 1;
    const gradient = (i: number): number => (l2 !== 0 ? f(grads[i] + f(l2 * params[i])) : grads[i]);
    switch (opt.name) {
      case 'sgd':
        if (decay === 0) for (let i = begin; i < end; i++) params[i] -= lr * grads[i];
        else for (let i = begin; i < end; i++) params[i] -= f(lr * gradient(i));
        break;
      case 'momentum':
        for (let i = begin; i < end; i++) {
          first[i] = f(mu * first[i]) + gradient(i);
          params[i] -= f(lr * first[i]);
        }
        break;
      case 'adam':
      case 'adamw':
        for (let i = begin; i < end; i++) {
          const g = gradient(i);
          first[i] = f(b1 * first[i]) + f(c1 * g);
          second[i] = f(b2 * second[i]) + f(f(c2 * g) * g);
          const denominator = f(f(f(Math.sqrt(second[i])) * inverseRoot) + epsilon);
          params[i] = f(params[i] * shrink) - f(stepSize * f(first[i] / denominator));
        }
        break;
      case 'rmsprop':
        for (let i = begin; i < end; i++) {
          const g = gradient(i);
          second[i] = f(b2 * second[i]) + f(f(c2 * g) * g);
          params[i] -= f(f(lr * g) / f(f(Math.sqrt(second[i])) + epsilon));
        }
        break;
    }
  };
  for (const l of net.layout) {
    step(l.weight, l.weight + l.inputs * l.outputs, true);
    if (net.bias) step(l.bias, l.bias + l.outputs, false);
  }
}

/**
 * Samples `order[start…start+rows)` of `data`, or `start…start+rows)` without an order, as float rows
 * the products can read: contiguous float rows as views, any others copied (bytes widened) into the
 * workspace's batch buffers. native/network.cc's batch_rows does the same.
 */
export function batchRows(
  ws: Workspace,
  data: Samples,
  order: Uint32Array | null,
  start: number,
  rows: number,
): FloatSamples {
  const features = ws.sizes[0];
  const outputs = ws.sizes[ws.sizes.length - 1];
  if (!order) {
    return {
      x: floatRows(data.x, features, start, start + rows, ws.batchX),
      labels: data.labels?.subarray(start, start + rows),
      targets: data.targets?.subarray(start * outputs, (start + rows) * outputs),
      count: rows,
    };
  }
  for (let r = 0; r < rows; r++) {
    const i = order[start + r];
    if (data.x instanceof Float32Array) ws.batchX.set(data.x.subarray(i * features, (i + 1) * features), r * features);
    else floatRows(data.x, features, i, i + 1, ws.batchX.subarray(r * features));
    if (data.labels) ws.batchLabels[r] = data.labels[i];
    if (data.targets) ws.batchTargets.set(data.targets.subarray(i * outputs, (i + 1) * outputs), r * outputs);
  }
  return {
    x: ws.batchX,
    labels: data.labels && ws.batchLabels,
    targets: data.targets && ws.batchTargets,
    count: rows,
  };
}

export class TsBackend implements Backend {
  readonly name = 'ts' as const;
  readonly memory = heapMemory;
  readonly isa = 'js';
  readonly threads = 1;

  forward(net: Layered, x: Float32Array, rows: number, ws: Workspace, mask?: NoiseMask): void {
    const layers = views(net, ws);
    forwardLayers(net, layers, x, rows, ws, mask);
    outputLoss(net, layers, null, rows, ws);
  }

  gradients(net: Layered, batch: Samples, ws: Workspace, mask?: NoiseMask): void {
    backwardLayers(net, views(net, ws), batchRows(ws, batch, null, 0, batch.count), batch.count, ws, mask);
  }

  async trainEpoch(net: Layered, data: Samples, options: EpochOptions, ws: Workspace): Promise<number> {
    const layers = views(net, ws);
    const visits = options.order?.length ?? data.count;
    const goOn = batchPolicy(options, visits);
    let errorSum = 0;
    const noise = hasNoise(net.noise);
    for (let start = options.start ?? 0; start < visits; start += options.batchSize) {
      const rows = Math.min(options.batchSize, visits - start);
      const batch = batchRows(ws, data, options.order, start, rows);
      const mask = noise ? { seed: options.noiseSeed ?? 0, step: options.state.scalars[0] } : undefined;
      forwardLayers(net, layers, batch.x, rows, ws, mask);
      errorSum += outputLoss(net, layers, batch, rows, ws).loss;
      backwardLayers(net, layers, batch, rows, ws, mask);
      const rates = options.learningRates;
      optimizerStep(
        net,
        ws.grads,
        rates
          ? { ...options.optimizer, learningRate: rates[Math.floor(start / options.batchSize)] }
          : options.optimizer,
        options.state,
      );
      if (!goOn(start + rows, errorSum)) return start + rows;
    }
    return visits;
  }

  async augment(job: WarpJob): Promise<void> {
    warpImages(job.images, job.count, job.rows, job.cols, job.params, job.bank, job.out);
  }

  async evaluate(net: Layered, data: Samples, ws: Workspace): Promise<Evaluation> {
    const layers = views(net, ws);
    let loss = 0;
    let correct = 0;
    for (let start = 0; start < data.count; start += ws.rows) {
      const rows = Math.min(ws.rows, data.count - start);
      const batch = batchRows(ws, data, null, start, rows);
      forwardLayers(net, layers, batch.x, rows, ws);
      const chunk = outputLoss(net, layers, batch, rows, ws, loss);
      loss = chunk.loss;
      correct += chunk.correct;
    }
    return { accuracy: data.labels ? correct / data.count : undefined, error: loss / data.count };
  }
}
