import { isDelimitedFile, loadCsv, type CsvOptions } from './csv.js';
import { bundledMnistDir, idxFilesIn, loadMnist, type MnistSplits } from './mnist.js';
import type { Dataset } from './dataset.js';
import { UsageError } from '../errors.js';

export interface LoadOptions {
  /** Class labels (cross-entropy) or target values (mse): how a CSV file's target columns are read. */
  targetKind: CsvOptions['targetKind'];
  /** The number of classes, when some have no samples. */
  classes?: number;
  /** How a CSV file is read: its target columns, scaling, delimiter, validation split, class names. */
  csv?: Omit<CsvOptions, 'targetKind' | 'classes'>;
}

/**
 * The data at `path`, by its kind: a folder of the four MNIST IDX files (plain or .gz), or a CSV/TSV
 * file; the bundled MNIST by default. The one place that tells the formats apart.
 */
export function loadData(path: string = bundledMnistDir(), options: LoadOptions): MnistSplits {
  if (!isDelimitedFile(path)) {
    const splits = loadMnist(path, options.classes);
    const share = options.csv?.valSplit;
    return share ? { ...splits, ...heldOut(splits.train, share, path) } : splits;
  }
  const { csv = {}, targetKind, classes } = options;
  const { train, test, features, scaling, targetScaling, classNames, warnings } = loadCsv(path, {
    ...csv,
    targetKind,
    classes,
  });
  const targets = targetScaling && { targetShift: targetScaling.shift, targetScale: targetScaling.scale };
  return {
    train,
    test,
    dir: path,
    warnings,
    preprocessing: {
      kind: 'csv',
      target: csv.target,
      features,
      ...scaling,
      ...targets,
      classNames,
      delimiter: csv.delimiter,
    },
  };
}

/**
 * The last `share` of an IDX training set as validation data (as Keras's `validation_split`, and
 * as a CSV file's --val-split), the rest to train on.
 */
function heldOut(train: Dataset, share: number, path: string): { train: Dataset; validation: Dataset } {
  const validation = Math.round(train.count * share);
  if (validation === 0 || validation >= train.count) {
    throw new UsageError(
      `${path}: a validation share of ${share} holds out ${validation} of the ${train.count} training samples; give a share that leaves some on both sides`,
    );
  }
  const kept = train.count - validation;
  const part = (from: number, to: number): Dataset => ({
    ...train,
    x: train.x.subarray(from * train.features, to * train.features),
    labels: train.labels?.subarray(from, to),
    targets: train.targets?.subarray(from * train.outputs, to * train.outputs),
    count: to - from,
  });
  return { train: part(0, kept), validation: part(kept, train.count) };
}

/** The files loadData reads for `path`: the CSV file, or the IDX files of the folder. */
export function dataFiles(path: string = bundledMnistDir()): string[] {
  return isDelimitedFile(path) ? [path] : idxFilesIn(path);
}
