import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { ACTIVATIONS, HIDDEN_ACTIVATIONS, LOSSES, MSE_OUTPUTS } from '../backends/activations.js';
import { NOISE_KINDS, noiseSpec } from '../backends/noise.js';
import { MAX_LAYER_SIZES, MAX_LAYER_WIDTH, parameterCount, parameterLayout } from '../backends/layers.js';
import { DataError } from '../errors.js';
import { regularFile } from '../io/files.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { Architecture } from './layout.js';

/**
 * Models in the safetensors format (an 8-byte little-endian header length, a JSON header, then the
 * raw little-endian tensors), which Python's `safetensors` loads. Each layer's weight is stored as
 * `layers.{l}.weight` with shape [inputs, outputs] (like the seed's w1) and its bias as
 * `layers.{l}.bias`; an optimizer's state as `optimizer.first` / `optimizer.second` in the layout of
 * the parameters. Everything else is in `__metadata__` (strings only, as the format requires), with
 * a SHA-256 of the tensor bytes.
 */
export const FORMAT = 'backprop-model';
export const FORMAT_VERSION = 1;

/** What a model file holds besides its tensors; `extra` is free-form JSON-able information. */
export interface ModelFile {
  architecture: Architecture;
  params: Float32Array;
  optimizer?: { first: Float32Array; second: Float32Array; scalars: number[] };
  extra: Record<string, unknown>;
}

interface TensorEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Largest header this reader accepts: a model's header is a few kilobytes plus its history. */
const MAX_HEADER_BYTES = 64 * 1024 * 1024;

function tensorsOf(file: ModelFile): { name: string; shape: number[]; data: Float32Array }[] {
  const { sizes, bias } = file.architecture;
  const tensors = parameterLayout({ sizes, bias }).flatMap((l, i) => [
    {
      name: `layers.${i}.weight`,
      shape: [l.inputs, l.outputs],
      data: file.params.subarray(l.weight, l.weight + l.inputs * l.outputs),
    },
    ...(bias
      ? [{ name: `layers.${i}.bias`, shape: [l.outputs], data: file.params.subarray(l.bias, l.bias + l.outputs) }]
      : []),
  ]);
  if (file.optimizer?.first.length)
    tensors.push({ name: 'optimizer.first', shape: [file.optimizer.first.length], data: file.optimizer.first });
  if (file.optimizer?.second.length)
    tensors.push({ name: 'optimizer.second', shape: [file.optimizer.second.length], data: file.optimizer.second });
  return tensors;
}

function littleEndianBytes(data: Float32Array): Buffer {
  const bytes = Buffer.alloc(data.length * 4);
  for (let i = 0; i < data.length; i++) bytes.writeFloatLE(data[i], i * 4);
  return bytes;
}

/** Writes the model atomically: the old file stays whole until the new one is complete on disk. */
export function saveModel(path: string, file: ModelFile): void {
  const tensors = tensorsOf(file);
  const header: Record<string, unknown> = {};
  const blobs: Buffer[] = [];
  let offset = 0;
  for (const tensor of tensors) {
    const bytes = littleEndianBytes(tensor.data);
    header[tensor.name] = { dtype: 'F32', shape: tensor.shape, data_offsets: [offset, offset + bytes.length] };
    blobs.push(bytes);
    offset += bytes.length;
  }
  const body = Buffer.concat(blobs);
  header.__metadata__ = {
    format: FORMAT,
    version: String(FORMAT_VERSION),
    architecture: JSON.stringify(file.architecture),
    optimizer_scalars: JSON.stringify(file.optimizer?.scalars ?? null),
    extra: JSON.stringify(file.extra),
    sha256: createHash('sha256').update(body).digest('hex'),
  };
  // The header is padded with spaces to 8 bytes so that the tensors that follow stay aligned.
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  writeFileAtomic(path, Buffer.concat([length, Buffer.from(json), body]));
}

function readExactly(fd: number, position: number, length: number, path: string): Buffer {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buffer, done, length - done, position + done);
    if (n === 0) throw new DataError(`${path}: truncated (ends ${length - done} bytes early)`);
    done += n;
  }
  return buffer;
}

function parseArchitecture(text: unknown, path: string): Architecture {
  if (text === undefined) throw new DataError(`${path}: its metadata has no architecture (sizes, activations, loss)`);
  const value = parseJson(text, 'the architecture', path) as Partial<Architecture> | null;
  const { sizes, activations, loss, bias } = value ?? {};
  // Each noise kind's rates, one per hidden layer, and no layer with two kinds.
  const noiseFits = (hidden: number): boolean => {
    const lists = NOISE_KINDS.filter((kind) => value?.[kind] !== undefined).map((kind) => ({
      most: noiseSpec(kind).maxRate,
      rates: value![kind],
    }));
    const rates = (list: (typeof lists)[number]): list is { most: number; rates: number[] } =>
      Array.isArray(list.rates) &&
      list.rates.length === hidden &&
      list.rates.every((p) => typeof p === 'number' && p >= 0 && p <= list.most);
    if (!lists.every(rates)) return false;
    for (let l = 0; l < hidden; l++) if (lists.filter((list) => list.rates[l] > 0).length > 1) return false;
    return true;
  };
  const valid =
    Array.isArray(sizes) &&
    sizes.length >= 2 &&
    sizes.length <= MAX_LAYER_SIZES &&
    sizes.every((n) => Number.isInteger(n) && n >= 1 && n <= MAX_LAYER_WIDTH) &&
    Array.isArray(activations) &&
    activations.length === sizes.length - 1 &&
    activations.every((a) => (ACTIVATIONS as readonly string[]).includes(a)) &&
    (LOSSES as readonly string[]).includes(loss as string) &&
    typeof bias === 'boolean' &&
    noiseFits(sizes.length - 2);
  if (!valid) throw new DataError(`${path}: the architecture in its metadata is not one this version understands`);
  const output = activations.at(-1)!;
  const hidden = activations.slice(0, -1).find((a) => !(HIDDEN_ACTIVATIONS as readonly string[]).includes(a));
  const outputFits =
    loss === 'cross-entropy' ? output === 'softmax' : (MSE_OUTPUTS as readonly string[]).includes(output);
  if (hidden !== undefined || !outputFits) {
    const why =
      hidden !== undefined ? `a hidden layer of ${hidden}` : `a ${output} output with the ${String(loss)} error`;
    throw new DataError(
      `${path}: the architecture in its metadata has ${why}, which backprop never saves; the file was edited or damaged`,
    );
  }
  return value as Architecture;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every tensor entry of a header, checked: dtype, shape and offsets that lie in the body without overlapping. */
function tensorEntries(header: Record<string, unknown>, bodyLength: number, path: string): Map<string, TensorEntry> {
  const entries = new Map<string, TensorEntry>();
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const entry = value as Partial<TensorEntry>;
    const [begin, end]: unknown[] = Array.isArray(entry?.data_offsets) ? entry.data_offsets : [];
    const valid =
      isObject(value) &&
      typeof entry.dtype === 'string' &&
      Array.isArray(entry.shape) &&
      entry.shape.every((n) => Number.isInteger(n) && n >= 0) &&
      Number.isInteger(begin) &&
      Number.isInteger(end) &&
      (begin as number) >= 0 &&
      (begin as number) <= (end as number) &&
      (end as number) <= bodyLength;
    if (!valid)
      throw new DataError(
        `${path}: tensor ${name} has an entry that does not fit the file (dtype, shape or data offsets)`,
      );
    entries.set(name, entry as TensorEntry);
  }
  const spans = [...entries].sort(([, a], [, b]) => a.data_offsets[0] - b.data_offsets[0]);
  let covered = 0;
  for (const [
    name,
    {
      data_offsets: [begin, end],
    },
  ] of spans) {
    if (begin < covered) throw new DataError(`${path}: tensor ${name} overlaps another tensor's bytes`);
    covered = end;
  }
  if (covered !== bodyLength) {
    throw new DataError(
      `${path}: ${bodyLength - covered} bytes after the last tensor (the file is longer than its header says)`,
    );
  }
  return entries;
}

function parseJson(text: unknown, what: string, path: string): unknown {
  try {
    return JSON.parse(String(text));
  } catch {
    throw new DataError(`${path}: ${what} in its metadata is not valid JSON`);
  }
}

function optimizerScalars(text: unknown, path: string): number[] | null {
  const scalars = parseJson(text ?? 'null', 'optimizer_scalars', path);
  if (scalars === null) return null;
  const valid =
    Array.isArray(scalars) &&
    scalars.length === 3 &&
    scalars.every((v) => typeof v === 'number' && Number.isFinite(v) && v >= 0) &&
    Number.isInteger(scalars[0]);
  if (!valid) throw new DataError(`${path}: optimizer_scalars in its metadata is not [steps, β1^t, β2^t]`);
  return scalars as number[];
}

/**
 * Reads a model file, checking everything before trusting it: that it is a regular file, the header
 * length against the file, the format and version, every metadata field, the architecture, every
 * tensor's dtype, shape and extent (no overlaps, nothing after them), and the checksum of the
 * tensor bytes.
 */
export function loadModel(path: string): ModelFile {
  const size = regularFile(path);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new DataError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    if (size < 8) throw new DataError(`${path}: not a safetensors file (${size} bytes)`);
    const headerLength = readExactly(fd, 0, 8, path).readBigUInt64LE();
    if (headerLength > BigInt(Math.min(MAX_HEADER_BYTES, size - 8))) {
      throw new DataError(
        `${path}: not a safetensors file (header length ${headerLength} does not fit a ${size}-byte file)`,
      );
    }
    const start = 8 + Number(headerLength);
    const header = parseJson(readExactly(fd, 8, Number(headerLength), path).toString('utf8'), 'the header', path);
    if (!isObject(header)) throw new DataError(`${path}: not a safetensors file (its header is not a JSON object)`);
    const meta = header.__metadata__ ?? {};
    if (!isObject(meta) || !Object.values(meta).every((v) => typeof v === 'string')) {
      throw new DataError(`${path}: its __metadata__ is not a table of strings`);
    }
    if (meta.format !== FORMAT)
      throw new DataError(`${path}: a safetensors file, but not a backprop model (no "format": "${FORMAT}")`);
    const versionText = meta.version;
    if (typeof versionText !== 'string')
      throw new DataError(`${path}: its metadata has no format version; the file was edited or damaged`);
    const version = Number(versionText);
    if (!/^\d+$/.test(versionText) || version < 1) {
      throw new DataError(
        `${path}: its model format version '${versionText}' is not a version number; the file was edited or damaged`,
      );
    }
    if (version > FORMAT_VERSION) {
      throw new DataError(
        `${path}: model format version ${version} is newer than this backprop reads (${FORMAT_VERSION}); upgrade backprop`,
      );
    }
    const architecture = parseArchitecture(meta.architecture, path);
    const count = parameterCount(parameterLayout(architecture));
    const bodyLength = size - start;
    // The parameters must be in the file: a header claiming more is refused before anything is allocated.
    if (count * 4 > bodyLength) {
      throw new DataError(`${path}: its architecture needs ${count} parameters, more than the file holds`);
    }
    const entries = tensorEntries(header, bodyLength, path);
    const scalars = optimizerScalars(meta.optimizer_scalars, path);
    const extra = parseJson(meta.extra ?? '{}', 'extra', path);
    if (!isObject(extra)) throw new DataError(`${path}: extra in its metadata is not a JSON object`);
    const body = readExactly(fd, start, bodyLength, path);
    if (createHash('sha256').update(body).digest('hex') !== meta.sha256) {
      throw new DataError(`${path}: checksum mismatch: the tensor bytes are not the ones that were saved`);
    }
    const read = (name: string, shape: number[]): Float32Array => {
      const entry = entries.get(name);
      if (!entry) throw new DataError(`${path}: tensor ${name} is missing`);
      if (entry.dtype !== 'F32') throw new DataError(`${path}: tensor ${name} has dtype ${entry.dtype}, expected F32`);
      if (entry.shape.join() !== shape.join()) {
        throw new DataError(
          `${path}: tensor ${name} has shape [${entry.shape.join(',')}], the architecture needs [${shape.join(',')}]`,
        );
      }
      const [begin, end] = entry.data_offsets;
      const elements = shape.reduce((a, b) => a * b, 1);
      if (end - begin !== elements * 4)
        throw new DataError(`${path}: tensor ${name} has data offsets that do not fit its shape`);
      const values = new Float32Array(elements);
      for (let i = 0; i < elements; i++) values[i] = body.readFloatLE(begin + i * 4);
      return values;
    };
    const params = new Float32Array(count);
    parameterLayout(architecture).forEach((l, i) => {
      params.set(read(`layers.${i}.weight`, [l.inputs, l.outputs]), l.weight);
      if (architecture.bias) params.set(read(`layers.${i}.bias`, [l.outputs]), l.bias);
    });
    for (let i = 0; i < params.length; i++) {
      if (!Number.isFinite(params[i])) throw new DataError(`${path}: holds a weight that is not a finite number`);
    }
    const optimizer = scalars
      ? {
          first: entries.has('optimizer.first') ? read('optimizer.first', [count]) : new Float32Array(0),
          second: entries.has('optimizer.second') ? read('optimizer.second', [count]) : new Float32Array(0),
          scalars,
        }
      : undefined;
    return { architecture, params, optimizer, extra };
  } finally {
    closeSync(fd);
  }
}
