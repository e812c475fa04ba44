import { sharedFloat32, sharedUint8 } from '../io/shared-memory.js';
import { DataError, UsageError } from '../errors.js';
import { classCount, checkLabelsWithin } from './classes.js';
import {
  cellText,
  CHUNK,
  countRecords,
  detectedDelimiter,
  readRecords,
  type CsvRecord,
  type DelimiterName,
} from './csv-reader.js';
import { slice, type Dataset } from './dataset.js';
import { applyScaling, type Scaling } from './preprocessing.js';

export const NORMALIZATIONS = ['minmax', 'zscore'] as const;
export type Normalization = (typeof NORMALIZATIONS)[number];

export { DELIMITER_NAMES, DELIMITERS, type DelimiterName } from './delimiters.js';
export { applyScaling, type Scaling } from './preprocessing.js';

/** Whether `path` names a delimited text file (by its extension, in any case) rather than an IDX folder. */
export function isDelimitedFile(path: string): boolean {
  return /\.(csv|tsv)$/i.test(path);
}

/** The largest float32: a value beyond it would become infinite in training. */
const FLOAT32_MAX = 3.4028234663852886e38;

export interface CsvOptions {
  /** Target column names (or 0-based indices); default the last column. */
  target?: string[];
  /** Class labels in the one target column (cross-entropy), or target values (mse). */
  targetKind: 'classes' | 'values';
  normalize?: Normalization;
  /** The last fraction of the rows, held out for validation. */
  valSplit?: number;
  /** Apply this scaling (a model's, when predicting or resuming) instead of fitting one. */
  scaling?: Scaling;
  /** The same for the target values of a regression. */
  targetScaling?: Scaling;
  /** Default: detected from the first line (`.tsv`: tab). */
  delimiter?: DelimiterName;
  /** The number of classes, when some have no samples (default: the labels 0…max must all appear). */
  classes?: number;
  /** The class names of a model trained on named classes: the same name gets the same class. */
  classNames?: string[];
  /** Bytes read at a time (default 4 MiB); the tests make it small so that records span reads. */
  chunkBytes?: number;
}

export interface CsvData {
  train: Dataset;
  test?: Dataset;
  /** The columns that are features, by name. */
  features: string[];
  /** The fitted scaling of each feature, `(x − shift) / scale` (identity without normalization). */
  scaling: Scaling;
  /** A regression's target values are scaled as its features are (absent for classes). */
  targetScaling?: Scaling;
  /** What the reader noticed that may not be what the user meant, one line each. */
  warnings: string[];
  /** When the classes are named in the file (`setosa`, …): class i's name, in sorted order. */
  classNames?: string[];
}

/** The shape of a file, from a first pass: its header, width and number of data rows. */
interface Shape {
  header: string[];
  hasHeader: boolean;
  width: number;
  rows: number;
}

function shapeOf(path: string, delimiter: DelimiterName | undefined, chunk: number): Shape {
  const firsts: { texts: string[]; numeric: boolean[] }[] = [];
  readRecords(
    path,
    delimiter,
    (record) => {
      firsts.push({
        texts: cells(record, (i) => record.text(i)),
        numeric: cells(record, (i) => !Number.isNaN(record.number(i))),
      });
      return firsts.length < 2;
    },
    chunk,
  );
  const [first, second] = firsts;
  if (!first) throw new DataError(`${path}: holds no data rows`);
  const width = first.texts.length;
  const records = countRecords(path, delimiter, width, chunk);
  // A header names columns that hold numbers below it; a first row of names alone is a header too.
  const hasHeader = second
    ? first.numeric.some((numeric, i) => !numeric && second.numeric[i])
    : first.numeric.some((numeric) => !numeric);
  const rows = records - (hasHeader ? 1 : 0);
  if (rows === 0) throw new DataError(`${path}: holds no data rows`);
  return {
    header: hasHeader ? first.texts : Array.from({ length: width }, (_, i) => String(i)),
    hasHeader,
    width,
    rows,
  };
}

function cells<T>(record: CsvRecord, of: (i: number) => T): T[] {
  return Array.from({ length: record.count }, (_, i) => of(i));
}

function columnIndex(header: string[], name: string, path: string): number {
  const byName = header.indexOf(name);
  if (byName >= 0) return byName;
  if (/^\d+$/.test(name) && Number(name) < header.length) return Number(name);
  const columns =
    header.length > 12 ? `${header.slice(0, 12).join(', ')}, … (${header.length} columns)` : header.join(', ');
  throw new UsageError(`${path}: has no column ${cellText(name)} to use as the target (columns: ${columns})`);
}

/** Text labels, numbered in the order they first appear, and renumbered once all are known. */
class LabelTexts {
  readonly ids = new Map<string, number>();
  readonly lines: number[] = [];

  id(text: string, line: number, path: string): number {
    let id = this.ids.get(text);
    if (id === undefined) {
      id = this.ids.size;
      if (id === 256)
        throw new DataError(
          `${path}: line ${line}: more than 256 different class labels; a numeric target is a regression`,
          'regression',
        );
      this.ids.set(text, id);
      this.lines.push(line);
    }
    return id;
  }
}

/**
 * Maps the labels' texts to classes: numbers are the classes themselves (0…255); names are numbered
 * in sorted order (or by a model's names). Returns the lookup from first-appearance id to class.
 */
function classesOf(
  texts: LabelTexts,
  path: string,
  known: string[] | undefined,
): { lookup: Uint8Array; names?: string[] } {
  const entries = [...texts.ids];
  const lookup = new Uint8Array(entries.length);
  const numeric = entries.map(([text]) => text !== '' && /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text));
  if (!known && numeric.every(Boolean)) {
    for (const [text, id] of entries) {
      const label = Number(text);
      if (!Number.isInteger(label) || label < 0 || label > 255) {
        throw new DataError(
          `${path}: line ${texts.lines[id]}: class label ${cellText(text)} is not an integer from 0 to 255`,
        );
      }
      lookup[id] = label;
    }
    return { lookup };
  }
  if (!known && numeric.some(Boolean)) {
    const [text, id] = entries[numeric.indexOf(false)];
    throw new DataError(
      `${path}: line ${texts.lines[id]}: class label ${cellText(text)} among numeric labels (name every class, or number every class)`,
    );
  }
  const names = known ?? entries.map(([text]) => text).sort();
  for (const [text, id] of entries) {
    const index = names.indexOf(text);
    if (index < 0)
      throw new DataError(
        `${path}: line ${texts.lines[id]}: class ${cellText(text)} is not one of the model's classes (${names.join(', ')})`,
      );
    lookup[id] = index;
  }
  return { lookup, names };
}

/**
 * Reads a delimited file (CSV, TSV, semicolons with decimal commas) into a data set: the target
 * columns become class labels (numbers or names) or target values, the rest features.
 * Normalisation is fitted on the training rows only. The file is read twice in chunks, and the
 * samples go straight into their final float32 arrays.
 */
export function loadCsv(path: string, options: CsvOptions): CsvData {
  const chunk = options.chunkBytes ?? CHUNK;
  const { header, hasHeader, width, rows } = shapeOf(path, options.delimiter, chunk);
  const targets = (options.target ?? [header[header.length - 1]]).map((name) => columnIndex(header, name, path));
  if (options.targetKind === 'classes' && targets.length !== 1) {
    throw new UsageError(
      `${path}: class labels come from one target column, ${targets.length} were given; several target columns are a regression (--loss mse)`,
    );
  }
  const featureColumns = header.map((_, i) => i).filter((i) => !targets.includes(i));
  if (featureColumns.length === 0) {
    if (width === 1) {
      const read = options.delimiter
        ? `with --delimiter ${options.delimiter}`
        : 'split at any of comma, semicolon and tab';
      const likely = detectedDelimiter(path, chunk);
      const hint =
        options.delimiter && likely !== options.delimiter
          ? `; its first line looks ${likely}-separated (give --delimiter ${likely}, or leave --delimiter out)`
          : '';
      throw new UsageError(`${path}: has one column ${read}, so no features are left beside the target${hint}`);
    }
    throw new UsageError(`${path}: every column is a target; no features are left`);
  }
  const features = featureColumns.length;
  const x = sharedFloat32(rows * features);
  const classes = options.targetKind === 'classes';
  const labels = classes ? sharedUint8(rows) : undefined;
  const values = classes ? undefined : sharedFloat32(rows * targets.length);
  const texts = new LabelTexts();
  // Where each column goes: a feature index, or (as −1 − j) target j.
  const role = new Int32Array(width);
  featureColumns.forEach((c, j) => (role[c] = j));
  targets.forEach((c, j) => (role[c] = -1 - j));
  let r = -(hasHeader ? 1 : 0);
  readRecords(
    path,
    options.delimiter,
    (record) => {
      if (r >= 0) {
        for (let c = 0; c < width; c++) {
          const to = role[c];
          if (classes && to < 0) {
            labels![r] = texts.id(record.text(c), record.line, path);
            continue;
          }
          const value = record.number(c);
          if (!(Math.abs(value) <= FLOAT32_MAX)) {
            const text = cellText(record.text(c));
            if (to < 0 && Number.isNaN(value)) {
              throw new DataError(
                `${path}: line ${record.line}, column ${c + 1}: the target ${text} is not a number; the squared error (mse) learns numbers, class names are learned by cross-entropy (the default loss)`,
              );
            }
            const why = Number.isNaN(value) ? 'is not a number' : 'is beyond the float32 range (±3.4e38)';
            throw new DataError(`${path}: line ${record.line}, column ${c + 1}: ${text} ${why}`);
          }
          if (to >= 0) x[r * features + to] = value;
          else values![r * targets.length - 1 - to] = value;
        }
      }
      r++;
      // A file that grows between the two passes: its new rows were not counted.
      return r < rows;
    },
    chunk,
  );
  if (r !== rows)
    throw new DataError(`${path}: changed while it was read (${rows} rows counted, ${Math.max(0, r)} read)`);
  const validation = options.valSplit ? Math.round(rows * options.valSplit) : 0;
  if (validation >= rows)
    throw new UsageError(`${path}: a validation share of ${options.valSplit} leaves no training rows of ${rows}`);
  const trainRows = rows - validation;
  let data: Dataset;
  let classNames: string[] | undefined;
  if (labels) {
    const { lookup, names } = classesOf(texts, path, options.classNames);
    for (let i = 0; i < rows; i++) labels[i] = lookup[labels[i]];
    classNames = names;
    const where = (i: number): string => `row ${i + 1}`;
    const label = (v: number): string => (names ? `'${names[v]}'` : String(v));
    const outputs = names
      ? names.length
      : classCount(labels.subarray(0, trainRows), { name: path, classes: options.classes, where, label });
    checkLabelsWithin(labels.subarray(trainRows), outputs, {
      name: `${path} (validation rows)`,
      where: (i) => where(trainRows + i),
      label,
    });
    data = { x, labels, count: rows, features, outputs };
  } else {
    data = { x, targets: values, count: rows, features, outputs: targets.length };
  }
  const train = slice(data, 0, trainRows);
  const test = validation > 0 ? slice(data, trainRows, rows) : undefined;
  const scaling = options.scaling ?? fitScaling(train.x as Float32Array, train.count, features, options.normalize);
  if (scaling.shift.length !== train.features) {
    throw new DataError(
      `${path}: has ${train.features} feature columns, the model was trained on ${scaling.shift.length}`,
    );
  }
  for (const part of [train, test]) if (part) applyScaling(part.x as Float32Array, part.count, scaling);
  // A regression's targets are scaled as its features are: unscaled prices of 10⁵ give errors of 10¹⁰.
  let targetScaling: Scaling | undefined;
  if (train.targets) {
    targetScaling =
      options.targetScaling ??
      fitScaling(train.targets, train.count, train.outputs, options.scaling ? undefined : options.normalize);
    for (const part of [train, test]) if (part?.targets) applyScaling(part.targets, part.count, targetScaling);
  }
  const warnings =
    labels && test ? validationWarnings(labels, trainRows, rows, data.outputs, classNames, options.valSplit!) : [];
  return { train, test, features: featureColumns.map((c) => header[c]), scaling, targetScaling, classNames, warnings };
}

/** A validation split of a file sorted by class holds classes the training rows lack, or only some. */
function validationWarnings(
  labels: Uint8Array,
  trainRows: number,
  rows: number,
  classes: number,
  names: string[] | undefined,
  share: number,
): string[] {
  const seen = new Set(labels.subarray(trainRows, rows));
  if (seen.size === classes || (classes > rows - trainRows && seen.size === rows - trainRows)) return [];
  const missing = Array.from({ length: classes }, (_, c) => c).filter((c) => !seen.has(c));
  const named = (c: number): string => (names ? names[c] : String(c));
  const list =
    missing.length > 5
      ? `${missing.slice(0, 5).map(named).join(', ')} and ${missing.length - 5} more`
      : missing.map(named).join(', ');
  return [
    `the validation rows (the last ${share} of the file) hold no samples of class ${list}: is the file sorted by class? Shuffle its rows first for a fair validation split`,
  ];
}

/** The scaling of each of `width` columns of `values` (`count × width`): identity without `normalize`. */
function fitScaling(values: Float32Array, count: number, width: number, normalize: Normalization | undefined): Scaling {
  const n = width;
  const shift = new Array<number>(n).fill(0);
  const scale = new Array<number>(n).fill(1);
  if (!normalize) return { shift, scale };
  for (let j = 0; j < n; j++) {
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    for (let r = 0; r < count; r++) {
      const v = values[r * n + j];
      min = Math.min(min, v);
      max = Math.max(max, v);
      sum += v;
    }
    const mean = sum / count;
    let squares = 0;
    for (let r = 0; r < count; r++) squares += (values[r * n + j] - mean) ** 2;
    const std = Math.sqrt(squares / count);
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
