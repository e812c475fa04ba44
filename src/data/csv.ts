import { sharedFloat32, sharedUint8 } from '../memory.js';
import { readFileSync } from 'node:fs';
import { DataError, UsageError } from '../errors.js';
import { slice, type Dataset } from './dataset.js';

export const NORMALIZATIONS = ['minmax', 'zscore'] as const;
export type Normalization = (typeof NORMALIZATIONS)[number];

export interface CsvOptions {
  /** Target column names (or 0-based indices); default the last column. */
  target?: string[];
  /** Class labels in the one target column (cross-entropy), or target values (mse). */
  targetKind: 'classes' | 'values';
  normalize?: Normalization;
  /** The last fraction of the rows, held out for validation. */
  valSplit?: number;
  /** Apply this scaling (a model's, when predicting) instead of fitting one. */
  scaling?: CsvData['scaling'];
}

export interface CsvData {
  train: Dataset;
  test?: Dataset;
  /** The columns that are features, by name. */
  features: string[];
  /** The fitted scaling of each feature, `(x − shift) / scale` (identity without --normalize). */
  scaling: { shift: number[]; scale: number[] };
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** Rows of numbers from a CSV or TSV file; a first row that is not all numbers is the header. */
function parseTable(path: string): { header: string[]; rows: number[][]; lineNumbers: number[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new DataError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const delimiter = path.endsWith('.tsv') ? '\t' : ',';
  const lines = text.split(/\r?\n/);
  const rows: number[][] = [];
  const lineNumbers: number[] = [];
  let header: string[] | undefined;
  let width = 0;
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    const cells = line.split(delimiter).map((cell) => cell.trim().replace(/^"(.*)"$/, '$1'));
    const lineNumber = index + 1;
    if (header === undefined && rows.length === 0 && cells.some((cell) => !NUMBER.test(cell))) {
      header = cells;
      width = cells.length;
      return;
    }
    if (width === 0) width = cells.length;
    if (cells.length !== width) {
      throw new DataError(`${path}: line ${lineNumber} has ${cells.length} cells, expected ${width} (a ragged row)`);
    }
    const row = cells.map((cell, column) => {
      const value = NUMBER.test(cell) ? Number(cell) : NaN;
      if (!Number.isFinite(value)) throw new DataError(`${path}: line ${lineNumber}, column ${column + 1}: '${cell}' is not a finite number`);
      return value;
    });
    rows.push(row);
    lineNumbers.push(lineNumber);
  });
  if (rows.length === 0) throw new DataError(`${path}: holds no data rows`);
  return { header: header ?? Array.from({ length: width }, (_, i) => String(i)), rows, lineNumbers };
}

function columnIndex(header: string[], name: string, path: string): number {
  const byName = header.indexOf(name);
  if (byName >= 0) return byName;
  if (/^\d+$/.test(name) && Number(name) < header.length) return Number(name);
  throw new UsageError(`--target ${name}: ${path} has no such column (columns: ${header.join(', ')})`);
}

/**
 * Reads a CSV (or `.tsv`) file of numbers into a data set: the target columns become labels or
 * target values, the rest features. Normalisation is fitted on the training rows only.
 */
export function loadCsv(path: string, options: CsvOptions): CsvData {
  const { header, rows, lineNumbers } = parseTable(path);
  const targets = (options.target ?? [header[header.length - 1]]).map((name) => columnIndex(header, name, path));
  if (options.targetKind === 'classes' && targets.length !== 1) {
    throw new UsageError('--target names one column of class labels for cross-entropy (use --loss mse for several target columns)');
  }
  const featureColumns = header.map((_, i) => i).filter((i) => !targets.includes(i));
  if (featureColumns.length === 0) throw new DataError(`${path}: every column is a target; no features are left`);
  const count = rows.length;
  const features = featureColumns.length;
  const x = sharedFloat32(count * features);
  rows.forEach((row, r) => featureColumns.forEach((c, j) => (x[r * features + j] = row[c])));
  let data: Dataset;
  if (options.targetKind === 'classes') {
    const labels = sharedUint8(count);
    rows.forEach((row, r) => {
      const label = row[targets[0]];
      if (!Number.isInteger(label) || label < 0 || label > 255) {
        throw new DataError(`${path}: line ${lineNumbers[r]}: class label ${label} is not an integer from 0 to 255`);
      }
      labels[r] = label;
    });
    data = { x, labels, count, features, outputs: Math.max(...labels) + 1 };
  } else {
    const values = sharedFloat32(count * targets.length);
    rows.forEach((row, r) => targets.forEach((c, j) => (values[r * targets.length + j] = row[c])));
    data = { x, targets: values, count, features, outputs: targets.length };
  }
  const validation = options.valSplit ? Math.round(count * options.valSplit) : 0;
  if (validation >= count) throw new UsageError(`--val-split ${options.valSplit} leaves no training rows of ${count}`);
  const train = slice(data, 0, count - validation);
  const test = validation > 0 ? slice(data, count - validation, count) : undefined;
  const scaling = options.scaling ?? fitScaling(train, options.normalize);
  if (scaling.shift.length !== train.features) {
    throw new DataError(`${path}: has ${train.features} feature columns, the model was trained on ${scaling.shift.length}`);
  }
  for (const part of [train, test]) if (part) applyScaling(part, scaling);
  return { train, test, features: featureColumns.map((c) => header[c]), scaling };
}

function fitScaling(train: Dataset, normalize: Normalization | undefined): CsvData['scaling'] {
  const n = train.features;
  const shift = new Array<number>(n).fill(0);
  const scale = new Array<number>(n).fill(1);
  if (!normalize) return { shift, scale };
  for (let j = 0; j < n; j++) {
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    for (let r = 0; r < train.count; r++) {
      const v = train.x[r * n + j];
      min = Math.min(min, v);
      max = Math.max(max, v);
      sum += v;
    }
    const mean = sum / train.count;
    let squares = 0;
    for (let r = 0; r < train.count; r++) squares += (train.x[r * n + j] - mean) ** 2;
    const std = Math.sqrt(squares / train.count);
    // A constant column keeps scale 1: it becomes 0 rather than NaN.
    if (normalize === 'minmax') {
      shift[j] = min;
      scale[j] = max > min ? max - min : 1;
    } else {
      shift[j] = mean;
      scale[j] = std > 0 ? std : 1;
    }
  }
  return { shift, scale };
}

function applyScaling(data: Dataset, { shift, scale }: CsvData['scaling']): void {
  const n = data.features;
  for (let r = 0; r < data.count; r++) for (let j = 0; j < n; j++) data.x[r * n + j] = (data.x[r * n + j] - shift[j]) / scale[j];
}
