import { existsSync } from 'node:fs';
import { EVAL_ROWS, Workspace } from '../backends/backend.js';
import type { Dataset } from '../data/dataset.js';
import { loadData } from '../data/load.js';
import { applyScaling, isDelimitedFile } from '../data/csv.js';
import { pixelScaling, pixelsAsInputs } from '../data/preprocessing.js';
import type { Loss } from '../backends/activations.js';
import { classNamesOf, type Preprocessing } from '../data/mnist.js';
import { DataError, EXIT, UsageError } from '../errors.js';
import { digitFromImage } from '../data/image.js';
import { classReport, predictAll } from '../train/evaluate.js';
import { networkFromFile, type Network } from '../model/network.js';
import { loadModel } from '../model/safetensors.js';
import type { Io } from './io.js';
import { defineCommand } from './command.js';
import { PREDICT_OPTIONS } from './specs.js';
import type { Options } from './options.js';
import { backendFrom, targetKindOf } from './setup.js';
import { readableNumber, grouped } from '../numbers.js';
import { savedRunOf } from '../train/checkpoint.js';

/**
 * The data a model is evaluated on: the test images of an IDX folder, or a whole CSV file, each
 * made into the model's inputs by the model's own preprocessing, whichever kind of data it was
 * trained on (a CSV model's column scaling applied to pixel values, an IDX model's ÷ 255 to a CSV
 * file's cells). A CSV model's own file is the default.
 */
export function evaluationData(
  dataPath: string | undefined,
  preprocessing: Preprocessing | undefined,
  loss: Loss,
  savedData?: string,
): Dataset {
  const csvModel = preprocessing?.kind === 'csv' ? preprocessing : undefined;
  const path = dataPath ?? (csvModel ? savedData : undefined);
  if (csvModel && path === undefined)
    throw new DataError('the model was trained on CSV data whose file it does not name: give --data FILE.csv');
  if (dataPath === undefined && path !== undefined && !existsSync(path))
    throw new DataError(`the model was trained on ${path}, which is not there any more: give --data FILE.csv`);
  const targetKind = targetKindOf(loss);
  if (path !== undefined && isDelimitedFile(path)) {
    const options = csvModel && {
      target: csvModel.target,
      scaling: { shift: csvModel.shift, scale: csvModel.scale },
      targetScaling: csvModel.targetShift &&
        csvModel.targetScale && { shift: csvModel.targetShift, scale: csvModel.targetScale },
      classNames: csvModel.classNames,
      delimiter: csvModel.delimiter,
    };
    const { train } = loadData(path, { targetKind, csv: options });
    // A CSV file of pixel values for a model of IDX images: its cells are divided as the pixels were.
    if (preprocessing?.kind === 'idx')
      applyScaling(train.x as Float32Array, train.count, pixelScaling(train.features, preprocessing.scale));
    return train;
  }
  const { test, train } = loadData(path, { targetKind });
  const images = test ?? train;
  if (!csvModel) return images;
  if (csvModel.classNames && !csvModel.classNames.every((name, i) => name === String(i))) {
    throw new DataError(
      `${path ?? 'the bundled MNIST'}: its labels are numbers, and the model's classes are named (${csvModel.classNames.slice(0, 5).join(', ')}…); give a CSV file with those names`,
    );
  }
  // Pixel bytes for a model of CSV columns: the raw values, scaled by the model's columns.
  const x = Float32Array.from(images.x);
  applyScaling(x, images.count, { shift: csvModel.shift, scale: csvModel.scale });
  return { ...images, x };
}

/**
 * The digit in each picture, with the three most probable classes. Pictures are read one at a time
 * (memory stays that of one, however many are given); one that cannot be read is reported in its
 * turn, the others still predicted, and the exit code is then 1.
 */
async function predictImages(
  net: Network,
  preprocessing: Preprocessing | undefined,
  paths: string[],
  modelPath: string,
  json: boolean,
  io: Io,
): Promise<number> {
  if (net.sizes[0] !== 784 || net.loss !== 'cross-entropy') {
    throw new DataError(
      `${modelPath}: --image needs a 28×28 classifier (784 inputs, softmax output); this model has ${net.sizes[0]} inputs`,
    );
  }
  const classes = net.sizes[net.sizes.length - 1];
  let failed = 0;
  for (const path of paths) {
    let digit;
    try {
      digit = await digitFromImage(path);
    } catch (err) {
      if (!(err instanceof DataError)) throw err;
      failed++;
      if (json) io.out(JSON.stringify({ event: 'image', path, error: err.message }));
      io.err(`backprop: ${err.message}`);
      continue;
    }
    const probabilities = net.forward(pixelsAsInputs(digit, preprocessing)).at(-1)!;
    const row = Array.from(probabilities.subarray(0, classes), (p, d) => ({ digit: d, p }));
    const top = row.sort((a, b) => b.p - a.p).slice(0, 3);
    if (json)
      io.out(JSON.stringify({ event: 'image', path, digit: top[0].digit, top3: top.map((t) => [t.digit, t.p]) }));
    else io.out(`${path}: ${top[0].digit}   (top 3: ${top.map((t) => `${t.digit} ${t.p.toFixed(3)}`).join(', ')})`);
  }
  return failed ? EXIT.runtime : EXIT.ok;
}

/**
 * Each sample's outputs (a regression's in the units of its targets, its scaling undone) beside its
 * target values or label, one line each.
 */
function printOutputs(
  predictions: Float32Array,
  data: Dataset,
  outputs: number,
  preprocessing: Preprocessing | undefined,
  json: boolean,
  io: Io,
): void {
  const csv = preprocessing?.kind === 'csv' ? preprocessing : undefined;
  const unscale = (values: Float32Array): number[] =>
    Array.from(values, (v, j) =>
      csv?.targetShift && csv.targetScale && !data.labels ? v * csv.targetScale[j] + csv.targetShift[j] : v,
    );
  const digits = (values: number[]): string => values.map(readableNumber).join(' ');
  for (let r = 0; r < data.count; r++) {
    const output = unscale(predictions.subarray(r * outputs, (r + 1) * outputs));
    const target = data.labels ? data.labels[r] : unscale(data.targets!.subarray(r * outputs, (r + 1) * outputs));
    if (json) io.out(JSON.stringify({ event: 'output', sample: r + 1, output, target }));
    else
      io.out(
        `sample ${r + 1}: output ${digits(output)}   ${typeof target === 'number' ? `label ${target}` : `target ${digits(target)}`}`,
      );
  }
}

async function runPredict(options: Options<typeof PREDICT_OPTIONS>, io: Io): Promise<number> {
  const { model: modelPath, json } = options;
  if (modelPath === undefined) throw new UsageError('predict needs --model FILE');
  if (options.image && options.data !== undefined)
    throw new UsageError('--image and --data contradict each other: predict reads pictures, or evaluates data');
  const file = loadModel(modelPath);
  const { preprocessing, training } = savedRunOf(file, modelPath);
  const backend = backendFrom(options);
  const net = networkFromFile(file.architecture, file.params, backend);
  if (options.image) return predictImages(net, preprocessing, options.image, modelPath, json, io);
  const data = evaluationData(options.data, preprocessing, net.loss, training?.data);
  const outputs = net.sizes[net.sizes.length - 1];
  if (data.features !== net.sizes[0] || data.outputs > outputs) {
    throw new DataError(
      `${modelPath}: the model maps ${net.sizes[0]} inputs to ${outputs} outputs; the data have ${data.features} features and ${data.outputs} outputs`,
    );
  }
  const { error } = await backend.evaluate(net, data, Workspace.of(net, EVAL_ROWS));
  const predictions = predictAll(net, data);
  if (options.outputs) printOutputs(predictions, data, outputs, preprocessing, json, io);
  if (!data.labels) {
    if (json) io.out(JSON.stringify({ event: 'predict', samples: data.count, error }));
    else io.out(`${grouped(data.count)} samples: error ${error.toFixed(4)}`);
    return EXIT.ok;
  }
  const report = classReport(predictions, data.labels, outputs, error);
  const names = classNamesOf(preprocessing, outputs);
  if (json) {
    io.out(JSON.stringify({ event: 'predict', samples: data.count, classNames: names, ...report }));
    return EXIT.ok;
  }
  io.out(`${grouped(data.count)} samples: accuracy ${report.accuracy.toFixed(4)}  error ${error.toFixed(4)}`);
  io.out('confusion matrix (rows: true class, columns: predicted)');
  const nameWidth = Math.max(4, ...names.map((n) => n.length));
  const width = Math.max(5, String(data.count).length + 1, ...names.map((n) => n.length + 1));
  io.out(`${' '.repeat(nameWidth + 1)}${names.map((n) => n.padStart(width)).join('')}`);
  report.confusion.forEach((row, i) =>
    io.out(`${names[i].padStart(nameWidth)} ${row.map((v) => String(v).padStart(width)).join('')}`),
  );
  io.out(`${'class'.padStart(nameWidth)}  precision  recall`);
  report.precision.forEach((p, i) =>
    io.out(`${names[i].padStart(nameWidth)}  ${p.toFixed(4).padStart(9)}  ${report.recall[i].toFixed(4).padStart(6)}`),
  );
  return EXIT.ok;
}

export const predictCommand = defineCommand({
  summary: 'evaluate a saved model: accuracy, error, confusion matrix, per-class precision and recall',
  options: PREDICT_OPTIONS,
  run: runPredict,
});
