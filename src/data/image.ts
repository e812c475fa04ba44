import sharp, { type OutputInfo } from 'sharp';
import { DataError } from '../errors.js';

/** Pixels darker than this (0–255, after making the ink light) are background when finding the digit. */
const INK_THRESHOLD = 40;

/**
 * Turns a picture of one handwritten digit — any size, colour or background — into a 28×28 input the
 * way MNIST was made: grayscale, ink light on dark (inverted when the background is light), cropped
 * to the ink, scaled to fit 20×20 keeping its aspect, and placed in 28×28 with its centre of mass at
 * the centre. Values are in [0, 1], row-major.
 */
export async function digitFromImage(path: string): Promise<Float32Array> {
  let gray: { data: Buffer; info: OutputInfo };
  try {
    gray = await sharp(path).flatten({ background: '#ffffff' }).grayscale().raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new DataError(`${path}: not an image that can be read (${(err as Error).message.split('\n')[0]})`);
  }
  const { width, height } = gray.info;
  const pixels = gray.data;
  // The border says what the background is: light borders mean dark ink, which is inverted.
  let border = 0;
  let borderCount = 0;
  for (let x = 0; x < width; x++) {
    border += pixels[x] + pixels[(height - 1) * width + x];
    borderCount += 2;
  }
  for (let y = 0; y < height; y++) {
    border += pixels[y * width] + pixels[y * width + width - 1];
    borderCount += 2;
  }
  const invert = border / borderCount > 127;
  const ink = new Uint8Array(width * height);
  for (let i = 0; i < ink.length; i++) ink[i] = invert ? 255 - pixels[i] : pixels[i];
  let [left, top, right, bottom] = [width, height, -1, -1];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x] > INK_THRESHOLD) {
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
  const scale = 20 / Math.max(cropWidth, cropHeight);
  const boxWidth = Math.max(1, Math.round(cropWidth * scale));
  const boxHeight = Math.max(1, Math.round(cropHeight * scale));
  const box = await sharp(Buffer.from(ink), { raw: { width, height, channels: 1 } })
    .extract({ left, top, width: cropWidth, height: cropHeight })
    .resize(boxWidth, boxHeight, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  let mass = 0;
  let cx = 0;
  let cy = 0;
  for (let y = 0; y < boxHeight; y++) {
    for (let x = 0; x < boxWidth; x++) {
      const v = box[y * boxWidth + x];
      mass += v;
      cx += v * x;
      cy += v * y;
    }
  }
  const offsetX = Math.round(14 - (mass ? cx / mass : boxWidth / 2) - 0.5);
  const offsetY = Math.round(14 - (mass ? cy / mass : boxHeight / 2) - 0.5);
  const digit = new Float32Array(28 * 28);
  for (let y = 0; y < boxHeight; y++) {
    for (let x = 0; x < boxWidth; x++) {
      const tx = x + offsetX;
      const ty = y + offsetY;
      if (tx >= 0 && tx < 28 && ty >= 0 && ty < 28) digit[ty * 28 + tx] = box[y * boxWidth + x] / 255;
    }
  }
  return digit;
}
