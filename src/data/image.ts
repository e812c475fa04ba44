import { DataError } from '../errors.js';
import { regularFile } from '../io/files.js';

/** A plane of ink intensities, one float per pixel, row-major. */
interface Plane {
  data: Float32Array;
  width: number;
  height: number;
}

/** MNIST's digits fit a 20×20 box inside the 28×28 field. */
const BOX = 20;
const FIELD = 28;

/**
 * Turns a picture of one handwritten digit — any size, colour, background or transparency — into a
 * 28×28 input the way MNIST was made: ink light on dark, cropped to the ink, scaled to fit 20×20
 * keeping its aspect (area-averaged, so strokes keep their weight at any size), and placed in 28×28
 * with its centre of mass at the centre. Values are in [0, 1], row-major.
 */
export async function digitFromImage(path: string): Promise<Float32Array> {
  const ink = cropToInk(inkOf(await decode(path)), path);
  const scale = BOX / Math.max(ink.width, ink.height);
  const box = resample(ink, Math.max(1, Math.round(ink.width * scale)), Math.max(1, Math.round(ink.height * scale)));
  return centreByMass(box);
}

/**
 * The most pixels a picture may have: a 200-megapixel phone photo passes, a compressed "bomb" of
 * 16,384² (which PNG's few bytes can declare) is refused from its header, before it is decoded.
 */
export const MAX_PIXELS = 2 ** 28 - 1;

/**
 * Larger pictures are shrunk by sharp to fit this square as they are decoded (libvips streams them,
 * so a photo of any size costs a few megabytes); a digit needs no more than 20 of its pixels.
 */
const DECODED_SIDE = 1024;

/** The pixels as 8-bit RGBA (grey, alpha-less and 16-bit pictures converted), upright by the photo's EXIF orientation. */
async function decode(path: string): Promise<{ data: Buffer; width: number; height: number }> {
  regularFile(path);
  // sharp is loaded only by the commands that read pictures: training starts without it.
  const { default: sharp } = await import('sharp');
  const unreadable = (err: unknown): DataError =>
    new DataError(`${path}: not an image that can be read (${(err as Error).message.split('\n')[0]})`);
  let size;
  try {
    size = await sharp(path, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw unreadable(err);
  }
  const { width = 0, height = 0 } = size;
  if (width * height > MAX_PIXELS) {
    throw new DataError(
      `${path}: the picture is ${width}×${height} pixels, more than backprop reads (${Math.floor(MAX_PIXELS / 1e6)} megapixels); scale it down`,
    );
  }
  try {
    const { data, info } = await sharp(path, { limitInputPixels: MAX_PIXELS })
      .rotate()
      .resize({ width: DECODED_SIDE, height: DECODED_SIDE, fit: 'inside', withoutEnlargement: true })
      .toColourspace('srgb')
      .ensureAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height };
  } catch (err) {
    throw unreadable(err);
  }
}

/**
 * How much ink each pixel holds, 0–255. On a transparent background the ink is what is opaque,
 * whatever its colour. Otherwise the background is the typical border value, and ink is the distance
 * from it (so dark ink on paper and light ink on a board both count); the border's own spread is
 * the noise floor of paper and lighting, and is subtracted before the ink is stretched to 255.
 */
function inkOf(image: { data: Buffer; width: number; height: number }): Plane {
  const { data, width, height } = image;
  const count = width * height;
  const alpha = (i: number): number => data[i * 4 + 3];
  const border = borderIndices(width, height);
  const ink = new Float32Array(count);
  const borderAlpha = median(border.map(alpha));
  if (borderAlpha < 128) {
    for (let i = 0; i < count; i++) ink[i] = alpha(i);
  } else {
    // Luminance over a white page for partly transparent pixels.
    const luminance = (i: number): number => {
      const value = 0.299 * data[i * 4] + 0.587 * data[i * 4 + 1] + 0.114 * data[i * 4 + 2];
      const a = alpha(i) / 255;
      return value * a + 255 * (1 - a);
    };
    const background = median(border.map(luminance));
    const distance = (i: number): number => Math.abs(luminance(i) - background);
    const noise = percentile(border.map(distance), 0.9);
    for (let i = 0; i < count; i++) {
      const light = luminance(i) > background;
      // Only the side of the background the ink is on: a light board's chalk, a white page's pencil.
      ink[i] = background > 127 !== light ? Math.max(0, distance(i) - noise) : 0;
    }
  }
  // Full strength is where most strokes are, not the brightest pixel: resizing and JPEG ring around
  // edges, and stretching by such a peak would leave every stroke faint.
  const inked = Array.from(ink.filter((v) => v > 0));
  const full = inked.length ? percentile(inked, 0.95) : 0;
  for (let i = 0; i < count; i++) ink[i] = Math.min(255, (ink[i] * 255) / full);
  return { data: ink, width, height };
}

/** The pixels of the picture's outermost ring, each once: the top and bottom rows, then the sides between them. */
export function borderIndices(width: number, height: number): number[] {
  const indices: number[] = [];
  for (let x = 0; x < width; x++) indices.push(x, (height - 1) * width + x);
  for (let y = 1; y + 1 < height; y++) indices.push(y * width, y * width + width - 1);
  return indices;
}

function median(values: number[]): number {
  return percentile(values, 0.5);
}

function percentile(values: number[], p: number): number {
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/**
 * Ink fainter than this (of 255) does not widen the crop: JPEG leaves such specks around strokes,
 * and one of them far away would shrink the digit.
 */
const CROP_THRESHOLD = 26;

/** The smallest rectangle holding every pixel of clear ink. */
function cropToInk(plane: Plane, path: string): Plane {
  const { data, width, height } = plane;
  let [left, top, right, bottom] = [width, height, -1, -1];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (data[y * width + x] > CROP_THRESHOLD) {
        left = Math.min(left, x);
        right = Math.max(right, x);
        top = Math.min(top, y);
        bottom = Math.max(bottom, y);
      }
    }
  }
  if (right < 0) throw new DataError(`${path}: no digit found (the image is blank)`);
  const cropWidth = right - left + 1;
  const cropHeight = bottom - top + 1;
  const crop = new Float32Array(cropWidth * cropHeight);
  for (let y = 0; y < cropHeight; y++)
    crop.set(data.subarray((top + y) * width + left, (top + y) * width + right + 1), y * cropWidth);
  return { data: crop, width: cropWidth, height: cropHeight };
}

/**
 * Each output pixel is the mean of the source area it covers (fractional pixels weighted by their
 * overlap): anti-aliased shrinking from any size, and smooth enlarging. Rows, then columns.
 */
function resample(plane: Plane, width: number, height: number): Plane {
  const rows = resampleAxis(plane.data, plane.width, plane.height, width, true);
  return { data: resampleAxis(rows, width, plane.height, height, false), width, height };
}

/** Resamples along x (`horizontal`) or y, from `from` to `to` pixels; the other axis is unchanged. */
function resampleAxis(
  source: Float32Array,
  width: number,
  height: number,
  to: number,
  horizontal: boolean,
): Float32Array {
  const from = horizontal ? width : height;
  const lines = horizontal ? height : width;
  const outWidth = horizontal ? to : width;
  const out = new Float32Array(horizontal ? to * height : width * to);
  const step = from / to;
  const at = (line: number, i: number): number => (horizontal ? source[line * width + i] : source[i * width + line]);
  for (let j = 0; j < to; j++) {
    const start = j * step;
    const end = start + step;
    for (let line = 0; line < lines; line++) {
      let sum = 0;
      for (let i = Math.floor(start); i < Math.min(from, Math.ceil(end)); i++)
        sum += at(line, i) * (Math.min(end, i + 1) - Math.max(start, i));
      out[horizontal ? line * outWidth + j : j * outWidth + line] = sum / step;
    }
  }
  return out;
}

/** The box in a 28×28 field, shifted by whole pixels so that its centre of mass is at the centre. */
function centreByMass(box: Plane): Float32Array {
  const { data, width, height } = box;
  let mass = 0;
  let cx = 0;
  let cy = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = data[y * width + x];
      mass += v;
      cx += v * x;
      cy += v * y;
    }
  }
  // MNIST's centres of mass sit at pixel (14, 14) counted from 0, within half a pixel.
  const centre = FIELD / 2;
  const offsetX = Math.round(centre - cx / mass);
  const offsetY = Math.round(centre - cy / mass);
  const digit = new Float32Array(FIELD * FIELD);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const tx = x + offsetX;
      const ty = y + offsetY;
      if (tx >= 0 && tx < FIELD && ty >= 0 && ty < FIELD) digit[ty * FIELD + tx] = data[y * width + x] / 255;
    }
  }
  return digit;
}
