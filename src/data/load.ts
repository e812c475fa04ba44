import { isDelimitedFile, loadCsv, type CsvOptions } from './csv.js';
import { bundledMnistDir, idxFilesIn, loadMnist, type MnistSplits } from './mnist.js';

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
  if (!isDelimitedFile(path)) return loadMnist(path, options.classes);
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

/** The files loadData reads for `path`: the CSV file, or the IDX files of the folder. */
export function dataFiles(path: string = bundledMnistDir()): string[] {
  return isDelimitedFile(path) ? [path] : idxFilesIn(path);
}
