import { EVAL_ROWS, Workspace } from '../backends/backend.js';
import type { Dataset } from '../data/dataset.js';
import { loadData } from '../data/load.js';
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
import { savedRunOf } from './saved-run.js';

/** The data a model is evaluated on: the test images of an IDX folder, or a whole CSV file scaled as in training. */
export function evaluationData(dataPath: string | undefined, preprocessing: Preprocessing | undefined, loss: Loss): Dataset {
  const csv = preprocessing?.kind === 'csv' ? preprocessing : undefined;
  if (csv && !dataPath) throw new DataError('the model was trained on CSV data: give --data FILE.csv');
  const options = csv && { target: csv.target, scaling: { shift: csv.shift, scale: csv.scale }, classNames: csv.classNames, delimiter: csv.delimiter };
  const { train, test } = loadData(dataPath, { targetKind: targetKindOf(loss), csv: options });
  // An IDX folder's test images; a CSV file is read whole.
  return test ?? train;
}

/** The digit in each picture, with the three most probable classes. */
async function predictImages(net: Network, paths: string[], modelPath: string, json: boolean, io: Io): Promise<number> {
  if (net.sizes[0] !== 784 || net.loss !== 'cross-entropy') {
    throw new DataError(`${modelPath}: --image needs a 28×28 classifier (784 inputs, softmax output); this model has ${net.sizes[0]} inputs`);
  }
  const digits = await Promise.all(paths.map((path) => digitFromImage(path)));
  const x = new Float32Array(digits.length * 784);
  digits.forEach((digit, i) => x.set(digit, i * 784));
  const probabilities = net.forward(x).at(-1)!;
  const classes = net.sizes[net.sizes.length - 1];
  paths.forEach((path, i) => {
    const row = Array.from(probabilities.subarray(i * classes, (i + 1) * classes), (p, digit) => ({ digit, p }));
    const top = row.sort((a, b) => b.p - a.p).slice(0, 3);
    if (json) io.out(JSON.stringify({ event: 'image', path, digit: top[0].digit, top3: top.map((t) => [t.digit, t.p]) }));
    else io.out(`${path}: ${top[0].digit}   (top 3: ${top.map((t) => `${t.digit} ${t.p.toFixed(3)}`).join(', ')})`);
  });
  return EXIT.ok;
}

async function runPredict(options: Options<typeof PREDICT_OPTIONS>, io: Io): Promise<number> {
  const { model: modelPath, json } = options;
  if (modelPath === undefined) throw new UsageError('predict needs --model FILE');
  const file = loadModel(modelPath);
  const { preprocessing } = savedRunOf(file, modelPath);
  const backend = backendFrom(options);
  const net = networkFromFile(file.architecture, file.params, backend);
  if (options.image) return predictImages(net, options.image, modelPath, json, io);
  const data = evaluationData(options.data, preprocessing, net.loss);
  const outputs = net.sizes[net.sizes.length - 1];
  if (data.features !== net.sizes[0] || data.outputs > outputs) {
    throw new DataError(`${modelPath}: the model maps ${net.sizes[0]} inputs to ${outputs} outputs; the data have ${data.features} features and ${data.outputs} outputs`);
  }
  const { error } = await backend.evaluate(net, data, Workspace.of(net, EVAL_ROWS));
  const predictions = predictAll(net, data);
  if (!data.labels) {
    if (json) io.out(JSON.stringify({ event: 'predict', samples: data.count, error }));
    else io.out(`${data.count.toLocaleString('en-US')} samples: error ${error.toFixed(4)}`);
    return EXIT.ok;
  }
  const report = classReport(predictions, data.labels, outputs, error);
  const names = classNamesOf(preprocessing, outputs);
  if (json) {
    io.out(JSON.stringify({ event: 'predict', samples: data.count, classNames: names, ...report }));
    return EXIT.ok;
  }
  io.out(`${data.count.toLocaleString('en-US')} samples: accuracy ${report.accuracy.toFixed(4)}  error ${error.toFixed(4)}`);
  io.out('confusion matrix (rows: true class, columns: predicted)');
  const nameWidth = Math.max(4, ...names.map((n) => n.length));
  const width = Math.max(5, String(data.count).length + 1, ...names.map((n) => n.length + 1));
  io.out(`${' '.repeat(nameWidth + 1)}${names.map((n) => n.padStart(width)).join('')}`);
  report.confusion.forEach((row, i) => io.out(`${names[i].padStart(nameWidth)} ${row.map((v) => String(v).padStart(width)).join('')}`));
  io.out(`${'class'.padStart(nameWidth)}  precision  recall`);
  report.precision.forEach((p, i) => io.out(`${names[i].padStart(nameWidth)}  ${p.toFixed(4).padStart(9)}  ${report.recall[i].toFixed(4).padStart(6)}`));
  return EXIT.ok;
}

export const predictCommand = defineCommand({
  summary: 'evaluate a saved model: accuracy, error, confusion matrix, per-class precision and recall',
  options: PREDICT_OPTIONS,
  run: runPredict,
});
