import { grouped } from '../numbers.js';
import { EVAL_ROWS, Workspace } from '../backends/backend.js';
import { classNamesOf } from '../data/mnist.js';
import type { Dataset } from '../data/dataset.js';
import { floatRows } from '../data/features.js';
import { EXIT, UsageError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { networkFromFile, type Network } from '../model/network.js';
import { loadModel } from '../model/safetensors.js';
import type { DigitTile } from '../report/html.js';
import { classReport, mostConfidentlyWrong, predictAll } from '../train/evaluate.js';
import type { EpochMetrics } from '../train/fit.js';
import type { Io } from './io.js';
import { defineCommand } from './command.js';
import { REPORT_OPTIONS } from './specs.js';
import type { Options } from './options.js';
import { backendFrom, outputsOf, refuseClashes } from './setup.js';
import { evaluationData } from './predict-command.js';
import { describeBackend, describeNetwork, describeTraining } from './report.js';
import { savedRunOf } from '../train/checkpoint.js';
import { describeAugmentation, distortedExamples, type Augmentation } from '../train/augmentation.js';

const WRONG_DIGITS = 36;
/** The augmented digits shown: rows of one digit as it is and as the first epochs distorted it (9 tiles, the grid's width). */
const AUGMENTED_DIGITS = 6;
const AUGMENTED_EPOCHS = 8;

/** What the run's augmentation did to its first training digits. */
export interface AugmentedRun {
  train: Dataset;
  spec: Augmentation;
  seed: number;
}

function augmentedRows({ train, spec, seed }: AugmentedRun): Float32Array[][] {
  const images = train.x as Uint8Array;
  const digits = Math.min(AUGMENTED_DIGITS, train.count);
  const floats = (bytes: Uint8Array): Float32Array => Float32Array.from(bytes, (v) => v / 255);
  return distortedExamples(images, train.shape!, spec, seed, digits, AUGMENTED_EPOCHS).map((epochs, d) => [
    floats(images.subarray(d * train.features, (d + 1) * train.features)),
    ...epochs.map(floats),
  ]);
}

/** Writes the HTML report of a trained network: its history, its results on `validation`, what augmentation did. */
export async function writeTrainingReport(
  path: string,
  net: Network,
  history: EpochMetrics[],
  validation: Dataset | undefined,
  config: Record<string, string | number | boolean | undefined>,
  classNames?: string[],
  augmented?: AugmentedRun,
): Promise<void> {
  let classes;
  let wrong: DigitTile[] | undefined;
  if (validation?.labels) {
    const outputs = net.sizes[net.sizes.length - 1];
    const predictions = predictAll(net, validation);
    const { error } = await net.backend.evaluate(net, validation, Workspace.of(net, EVAL_ROWS));
    classes = classReport(predictions, validation.labels, outputs, error);
    if (validation.features === 784) {
      wrong = mostConfidentlyWrong(predictions, validation.labels, outputs, WRONG_DIGITS).map((w) => ({
        pixels: floatRows(validation.x, 784, w.index, w.index + 1),
        label: w.label,
        predicted: w.predicted,
        confidence: w.confidence,
      }));
    }
  }
  // The charting and image libraries are loaded only by the commands that write reports.
  const { trainingReport } = await import('../report/html.js');
  const html = await trainingReport({
    title: `backprop: ${net.sizes.join('-')} (${describeNetwork(net)})`,
    config: {
      network: `${net.sizes.join('-')} (${describeNetwork(net)})`,
      parameters: grouped(net.parameterCount),
      ...config,
      backend: describeBackend(net.backend),
    },
    history,
    classes,
    classNames,
    wrong,
    augmented: augmented && { description: describeAugmentation(augmented.spec), rows: augmentedRows(augmented) },
  });
  writeFileAtomic(path, html);
}

/** `backprop report --model FILE --out FILE.html [--data …]`: the report of a saved model. */
async function runReport(options: Options<typeof REPORT_OPTIONS>, io: Io): Promise<number> {
  const { model: modelPath, out } = options;
  if (modelPath === undefined || out === undefined)
    throw new UsageError('report needs --model FILE and --out FILE.html');
  refuseClashes({ model: modelPath, data: options.data }, outputsOf({ out }));
  const file = loadModel(modelPath);
  const { history, training, preprocessing } = savedRunOf(file, modelPath);
  const backend = backendFrom(options);
  const net = networkFromFile(file.architecture, file.params, backend);
  const data = evaluationData(options.data, preprocessing, net.loss, training?.data);
  const run = training && {
    training: describeTraining(training),
    data: training.data ?? 'the bundled MNIST',
    limit: training.limit,
  };
  await writeTrainingReport(
    out,
    net,
    history,
    data,
    { model: modelPath, ...run },
    classNamesOf(preprocessing, net.sizes[net.sizes.length - 1]),
  );
  io.out(`wrote ${out}`);
  return EXIT.ok;
}

export const reportCommand = defineCommand({
  summary: 'write the HTML report of a saved model (curves, confusion matrix, the most confidently wrong digits)',
  options: REPORT_OPTIONS,
  run: runReport,
});
