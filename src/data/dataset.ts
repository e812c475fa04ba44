import { DataError } from '../errors.js';
import type { IdxArray } from './idx.js';

/** Samples as rows of float32 features and integer class labels. */
export interface Dataset {
  /** `count × features`, row-major. */
  x: Float32Array;
  labels: Uint8Array;
  count: number;
  features: number;
  /** Number of classes the labels are drawn from (`max label + 1` over the whole set). */
  classes: number;
}

/** Pairs an images IDX array (N × rows × cols) with a labels IDX array (N); pixels are scaled to [0, 1]. */
export function datasetFromIdx(images: IdxArray, labels: IdxArray, names: { images: string; labels: string }): Dataset {
  if (images.dims.length < 2) {
    throw new DataError(`${names.images}: expected an image array (N × rows × cols), got ${images.dims.length} dimension(s)`);
  }
  if (labels.dims.length !== 1) {
    throw new DataError(`${names.labels}: expected a label vector, got ${labels.dims.length} dimensions`);
  }
  const count = images.dims[0];
  if (labels.dims[0] !== count) {
    throw new DataError(`${names.images} has ${count} images but ${names.labels} has ${labels.dims[0]} labels`);
  }
  if (count === 0) throw new DataError(`${names.images}: holds no images`);
  const features = images.data.length / count;
  const x = new Float32Array(images.data.length);
  const pixels = images.data;
  for (let i = 0; i < pixels.length; i++) x[i] = pixels[i] / 255;
  let maxLabel = 0;
  for (const label of labels.data) if (label > maxLabel) maxLabel = label;
  return { x, labels: labels.data, count, features, classes: maxLabel + 1 };
}

/** The first `n` samples of `data` (views, no copy). */
export function takeFirst(data: Dataset, n: number): Dataset {
  if (n >= data.count) return data;
  return {
    ...data,
    x: data.x.subarray(0, n * data.features),
    labels: data.labels.subarray(0, n),
    count: n,
  };
}
