/**
 * The pixel work of augmentation (train/augmentation.ts draws the transforms): images warped by
 * given transforms, in plain arithmetic that native/augment.cc repeats operation for operation.
 */

/** Numbers per image of a transform: the inverse map's (cos, sin)/scale, the shift (dy, dx), the field (−1: none), unused. */
export const PARAMS_PER_IMAGE = 6;

/** Pixel (r, c) of an image of bytes, 0 outside it. */
function pixel(image: Uint8Array, rows: number, cols: number, r: number, c: number): number {
  return r >= 0 && r < rows && c >= 0 && c < cols ? image[r * cols + c] : 0;
}

/**
 * `count` images of rows × cols bytes warped by their params into `out`, rounded to bytes:
 * output pixel (r, c) samples the input at the inverse map of its offset from the centre, plus its
 * field's displacement, by bilinear interpolation (zero outside). native/augment.cc's warp does
 * the same operations in the same order.
 */
export function warpImages(
  images: Uint8Array,
  count: number,
  rows: number,
  cols: number,
  params: Float64Array,
  bank: Float32Array,
  out: Uint8Array,
  first = 0,
): void {
  const size = rows * cols;
  const cy = (rows - 1) / 2;
  const cx = (cols - 1) / 2;
  for (let i = first; i < first + count; i++) {
    const image = images.subarray(i * size, (i + 1) * size);
    const p = params.subarray(i * PARAMS_PER_IMAGE, (i + 1) * PARAMS_PER_IMAGE);
    const [a, b, dy, dx, field] = p;
    const fieldY = field >= 0 ? bank.subarray(2 * field * size, (2 * field + 1) * size) : null;
    const fieldX = field >= 0 ? bank.subarray((2 * field + 1) * size, (2 * field + 2) * size) : null;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const oy = r - cy - dy;
        const ox = c - cx - dx;
        let sy = a * oy - b * ox + cy;
        let sx = b * oy + a * ox + cx;
        if (fieldY && fieldX) {
          sy += fieldY[r * cols + c];
          sx += fieldX[r * cols + c];
        }
        const y0 = Math.floor(sy);
        const x0 = Math.floor(sx);
        const fy = sy - y0;
        const fx = sx - x0;
        const top = pixel(image, rows, cols, y0, x0) * (1 - fx) + pixel(image, rows, cols, y0, x0 + 1) * fx;
        const bottom = pixel(image, rows, cols, y0 + 1, x0) * (1 - fx) + pixel(image, rows, cols, y0 + 1, x0 + 1) * fx;
        out[i * size + r * cols + c] = Math.floor(top * (1 - fy) + bottom * fy + 0.5);
      }
    }
  }
}
