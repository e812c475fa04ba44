import { DataError } from '../errors.js';
import type { Features } from './features.js';

/** An IDX array of unsigned bytes: its dimensions and the raw values, row-major. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Samples as rows of features, with integer class labels or target vectors. */
export interface Dataset {
  /** `count × features`, row-major: floats, or bytes standing for byte / 255 (image pixels; see floatRows). */
  x: Features;
  labels?: Uint8Array;
  /** `count × outputs`, row-major, for regression. */
  targets?: Float32Array;
  count: number;
  features: number;
  /** The network's outputs: the number of classes (of the training labels), or of target columns. */
  outputs: number;
  /** Images' rows and columns (`features` = rows × cols), for data that are images: IDX sets of N × rows × cols. */
  shape?: [number, number];
}

/**
 * Pairs an images IDX array (N × rows × cols) with a labels IDX array (N). The pixels stay bytes,
 * each standing for byte / 255 in [0, 1].
 * `outputs` is left to the caller, who knows the classes of the whole data set.
 */
export function datasetFromIdx(
  images: IdxArray,
  labels: IdxArray,
  names: { images: string; labels: string },
): Omit<Dataset, 'outputs'> & { labels: Uint8Array } {
  if (images.dims.length < 2) {
    throw new DataError(
      `${names.images}: expected an image array (N × rows × cols), got ${images.dims.length} dimension(s)`,
    );
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
  if (features === 0) throw new DataError(`${names.images}: its images have no pixels (${images.dims.join('×')})`);
  const shape: [number, number] | undefined = images.dims.length === 3 ? [images.dims[1], images.dims[2]] : undefined;
  return { x: images.data, labels: labels.data, count, features, shape };
}

/** Samples `start…end` of `data` (views, no copy). */
export function slice(data: Dataset, start: number, end: number): Dataset {
  return {
    ...data,
    x: data.x.subarray(start * data.features, end * data.features),
    labels: data.labels?.subarray(start, end),
    targets: data.targets?.subarray(start * data.outputs, end * data.outputs),
    count: end - start,
  };
}

/** The first `n` samples of `data` (views, no copy). */
export function takeFirst(data: Dataset, n: number): Dataset {
  return n >= data.count ? data : slice(data, 0, n);
}
