import { sharedFloat32, sharedUint8 } from '../memory.js';
import { DataError } from '../errors.js';
import { classCount, checkLabelsWithin } from './classes.js';
import { CHUNK, countRecords, readRecords, type CsvRecord, type DelimiterName } from './csv-reader.js';
import { slice, type Dataset } from './dataset.js';

export const NORMALIZATIONS = ['minmax', 'zscore'] as const;
export type Normalization = (typeof NORMALIZATIONS)[number];

export { DELIMITER_NAMES, DELIMITERS, type DelimiterName } from './csv-reader.js';

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
  /** Apply this scaling (a model's, when predicting) instead of fitting one. */
  scaling?: CsvData['scaling'];
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
  scaling: { shift: number[]; scale: number[] };
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
  readRecords(path, delimiter, (record) => {
    firsts.push({ texts: cells(record, (i) => record.text(i)), numeric: cells(record, (i) => !Number.isNaN(record.number(i))) });
    return firsts.length < 2;
  }, chunk);
  const [first, second] = firsts;
  if (!first) throw new DataError(`${path}: holds no data rows`);
  const width = first.texts.length;
  const records = countRecords(path, delimiter, width, chunk);
  // A header names columns that hold numbers below it; a first row of names alone is a header too.
  const hasHeader = second ? first.numeric.some((numeric, i) => !numeric && second.numeric[i]) : first.numeric.some((numeric) => !numeric);
  const rows = records - (hasHeader ? 1 : 0);
  if (rows === 0) throw new DataError(`${path}: holds no data rows`);
  return { header: hasHeader ? first.texts : Array.from({ length: width }, (_, i) => String(i)), hasHeader, width, rows };
}

function cells<T>(record: CsvRecord, of: (i: number) => T): T[] {
  return Array.from({ length: record.count }, (_, i) => of(i));
}

function columnIndex(header: string[], name: string, path: string): number {
  const byName = header.indexOf(name);
  if (byName >= 0) return byName;
  if (/^\d+$/.test(name) && Number(name) < header.length) return Number(name);
  throw new DataError(`${path}: has no column '${name}' to use as the target (columns: ${header.join(', ')})`);
}

/** Text labels, numbered in the order they first appear, and renumbered once all are known. */
class LabelTexts {
  readonly ids = new Map<string, number>();
  readonly lines: number[] = [];

  id(text: string, line: number, path: string): number {
    let id = this.ids.get(text);
    if (id === undefined) {
      id = this.ids.size;
      if (id === 256) throw new DataError(`${path}: line ${line}: more than 256 different class labels; a numeric target is a regression`, 'regression');
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
function classesOf(texts: LabelTexts, path: string, known: string[] | undefined): { lookup: Uint8Array; names?: string[] } {
  const entries = [...texts.ids];
  const lookup = new Uint8Array(entries.length);
  const numeric = entries.map(([text]) => text !== '' && /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text));
  if (!known && numeric.every(Boolean)) {
    for (const [text, id] of entries) {
      const label = Number(text);
      if (!Number.isInteger(label) || label < 0 || label > 255) {
        throw new DataError(`${path}: line ${texts.lines[id]}: class label ${text} is not an integer from 0 to 255`);
      }
      lookup[id] = label;
    }
    return { lookup };
  }
  if (!known && numeric.some(Boolean)) {
    const [text, id] = entries[numeric.indexOf(false)];
    throw new DataError(`${path}: line ${texts.lines[id]}: class label '${text}' among numeric labels (name every class, or number every class)`);
  }
  const names = known ?? entries.map(([text]) => text).sort();
  for (const [text, id] of entries) {
    const index = names.indexOf(text);
    if (index < 0) throw new DataError(`${path}: line ${texts.lines[id]}: class '${text}' is not one of the model's classes (${names.join(', ')})`);
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
    throw new DataError(`${path}: class labels come from one target column, ${targets.length} were given; several target columns are a regression`, 'regression');
  }
  const featureColumns = header.map((_, i) => i).filter((i) => !targets.includes(i));
  if (featureColumns.length === 0) throw new DataError(`${path}: every column is a target; no features are left`);
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
  readRecords(path, options.delimiter, (record) => {
    if (r >= 0) {
      for (let c = 0; c < width; c++) {
        const to = role[c];
        if (classes && to < 0) {
          labels![r] = texts.id(record.text(c), record.line, path);
          continue;
        }
        const value = record.number(c);
        if (!(Math.abs(value) <= FLOAT32_MAX)) {
          const why = Number.isNaN(value) ? 'is not a number' : 'is beyond the float32 range (±3.4e38)';
          throw new DataError(`${path}: line ${record.line}, column ${c + 1}: '${record.text(c)}' ${why}`);
        }
        if (to >= 0) x[r * features + to] = value;
        else values![r * targets.length - 1 - to] = value;
      }
    }
    r++;
    // A file that grows between the two passes: its new rows were not counted.
    return r < rows;
  }, chunk);
  if (r !== rows) throw new DataError(`${path}: changed while it was read (${rows} rows counted, ${Math.max(0, r)} read)`);
  const validation = options.valSplit ? Math.round(rows * options.valSplit) : 0;
  if (validation >= rows) throw new DataError(`${path}: a validation share of ${options.valSplit} leaves no training rows of ${rows}`);
  const trainRows = rows - validation;
  let data: Dataset;
  let classNames: string[] | undefined;
  if (labels) {
    const { lookup, names } = classesOf(texts, path, options.classNames);
    for (let i = 0; i < rows; i++) labels[i] = lookup[labels[i]];
    classNames = names;
    const where = (i: number): string => `row ${i + 1}`;
    const label = (v: number): string => (names ? `'${names[v]}'` : String(v));
    const outputs = names ? names.length : classCount(labels.subarray(0, trainRows), { name: path, classes: options.classes, where, label });
    checkLabelsWithin(labels.subarray(trainRows), outputs, { name: `${path} (validation rows)`, where: (i) => where(trainRows + i), label });
    data = { x, labels, count: rows, features, outputs };
  } else {
    data = { x, targets: values, count: rows, features, outputs: targets.length };
  }
  const train = slice(data, 0, trainRows);
  const test = validation > 0 ? slice(data, trainRows, rows) : undefined;
  const scaling = options.scaling ?? fitScaling(train, options.normalize);
  if (scaling.shift.length !== train.features) {
    throw new DataError(`${path}: has ${train.features} feature columns, the model was trained on ${scaling.shift.length}`);
  }
  const identity = scaling.shift.every((v) => v === 0) && scaling.scale.every((v) => v === 1);
  if (!identity) for (const part of [train, test]) if (part) applyScaling(part, scaling);
  return { train, test, features: featureColumns.map((c) => header[c]), scaling, classNames };
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
