// Reading a picture of a digit (src/data/image.ts), step by step against answers worked out by
// hand, and real MNIST digits read back as themselves. These are quick, so that the mutation run of
// the images part (scripts/mutation.mjs) can afford them; 09-nothing-lost reads real digits in
// every format and size through a trained network.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { floatRows } from '../src/data/features.js';
import { borderIndices, digitFromImage } from '../src/data/image.js';
import { DataError } from '../src/errors.js';
import { realMnist, tempDir } from './helpers.js';

const dir = tempDir();
let written = 0;

/** A grey picture of width × height from pixel(x, y) (0–255), written as PNG; its path. */
async function grey(width: number, height: number, pixel: (x: number, y: number) => number): Promise<string> {
  const data = Buffer.alloc(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = pixel(x, y);
  const path = join(dir, `${written++}.png`);
  await sharp(data, { raw: { width, height, channels: 1 } })
    .png()
    .toFile(path);
  return path;
}

/** The 28×28 field with `value` in the columns x0 … x1 − 1 and rows y0 … y1 − 1, zero elsewhere. */
function field(cells: { x0: number; x1: number; y0: number; y1: number; value: number }[]): Float32Array {
  const digit = new Float32Array(784);
  for (const { x0, x1, y0, y1, value } of cells)
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) digit[y * 28 + x] = value;
  return digit;
}

const inside = (x: number, y: number, x0: number, x1: number, y0: number, y1: number): boolean =>
  x >= x0 && x < x1 && y >= y0 && y < y1;

describe('a digit is cropped to its ink, fitted to 20 px and placed by its centre of mass', () => {
  it('a 10×20 block on a 100×60 field: kept at its size, its centre of mass moved to (14, 14)', async () => {
    const path = await grey(100, 60, (x, y) => (inside(x, y, 30, 40, 10, 30) ? 255 : 0));
    // The centre of mass (4.5, 9.5) of the block goes to 14: shifted by round(9.5) = 10 and round(4.5) = 5.
    expect(await digitFromImage(path)).toEqual(field([{ x0: 10, x1: 20, y0: 5, y1: 25, value: 1 }]));
  });

  it('a 40×80 block is shrunk to 10×20, each pixel the mean of the 4×4 it covers; its heavier half pulls it off centre', async () => {
    // Columns alternate 255 and 0 in the left half (each 4×4 averages to 127.5), and hold 204 in the right.
    const path = await grey(120, 120, (x, y) =>
      !inside(x, y, 20, 60, 20, 100) ? 0 : x < 40 ? (x % 2 === 0 ? 255 : 0) : 204,
    );
    // Stretching: the 95th percentile of the ink is 255, so nothing changes. Mass: columns 0–4 weigh
    // 127.5 and 5–9 weigh 204, so cx = (127.5·10 + 204·35) / (127.5·5 + 204·5) = 5.08, shifted by round(8.92) = 9.
    expect(await digitFromImage(path)).toEqual(
      field([
        { x0: 9, x1: 14, y0: 5, y1: 25, value: 127.5 / 255 },
        { x0: 14, x1: 19, y0: 5, y1: 25, value: 204 / 255 },
      ]),
    );
  });

  it('a 30 px tall stroke is shrunk by 2/3: each output row averages one and a half source rows', async () => {
    // Rows of 255 and 0 in turn: output row j covers source rows [1.5j, 1.5j + 1.5): a whole row and half of the next.
    const path = await grey(40, 40, (x, y) => (inside(x, y, 5, 11, 5, 35) && y % 2 === 1 ? 255 : 0));
    const digit = await digitFromImage(path);
    // The crop runs from the first inked row (5) to the last (33): 29 rows, 6 columns.
    // Scale 20/29; width round(6·20/29) = 4, height 20. Each output row averages 1.45 source rows.
    const rows = Array.from({ length: 28 }, (_, y) => digit.slice(y * 28, y * 28 + 28).reduce((a, b) => a + b, 0));
    const inked = rows.filter((r) => r > 0);
    expect(inked).toHaveLength(20);
    // Row 0 of the box: source [0, 1.45) = one row of 255 and 0.45 of a 0 row.
    const first = rows.findIndex((r) => r > 0);
    expect(digit[first * 28 + digit.slice(first * 28, first * 28 + 28).findIndex((v) => v > 0)]).toBeCloseTo(
      255 / 1.45 / 255,
      5,
    );
  });

  it('faint strokes are stretched to full strength by the 95th percentile of the ink, not by its brightest pixel', async () => {
    // 96 % of the ink at 100, a few pixels at 255: full strength is 100.
    const path = await grey(60, 60, (x, y) => (inside(x, y, 10, 30, 10, 30) ? (y === 10 && x < 26 ? 255 : 100) : 0));
    const digit = await digitFromImage(path);
    expect(Math.max(...digit)).toBe(1);
    expect(digit.filter((v) => v > 0).every((v) => v === 1)).toBe(true);
  });

  it('a speck fainter than 27 of 255 away from the digit does not widen the crop; one of 27 does', async () => {
    const block = (speck: number) =>
      grey(80, 80, (x, y) => (inside(x, y, 40, 50, 40, 60) ? 255 : x === 3 && y === 3 ? speck : 0));
    const clean = await digitFromImage(await block(0));
    expect(await digitFromImage(await block(26))).toEqual(clean);
    const widened = await digitFromImage(await block(27));
    expect(widened).not.toEqual(clean);
    // The crop now runs from (3, 3) to (49, 59): the block shrinks to about a third of its height.
    expect(widened.filter((v) => v > 0.5).length).toBeLessThan(clean.filter((v) => v > 0.5).length / 2);
  });

  it('a blank picture, and a file that is not a picture, are refused for what they are', async () => {
    await expect(digitFromImage(await grey(30, 30, () => 0))).rejects.toThrow(
      new DataError(`${join(dir, `${written - 1}.png`)}: no digit found (the image is blank)`),
    );
    const note = join(dir, 'note.png');
    writeFileSync(note, 'not a picture');
    await expect(digitFromImage(note)).rejects.toThrow(
      new DataError(`${note}: not an image that can be read (Input file contains unsupported image format)`),
    );
  });
});

describe('the ink is found whatever the page', () => {
  const { test } = realMnist();
  const digits = 20;
  /** The 28×28 MNIST test digit i as 8-bit pixels, light ink on black. */
  const pixels = (i: number): Buffer => Buffer.from(test!.x.subarray(i * 784, (i + 1) * 784));
  const save = async (image: ReturnType<typeof sharp>): Promise<string> => {
    const path = join(dir, `${written++}.png`);
    await image.png().toFile(path);
    return path;
  };
  const original = (i: number) => save(sharp(pixels(i), { raw: { width: 28, height: 28, channels: 1 } }));

  it('a real MNIST digit read back from a 28 px PNG is itself, up to a whole-pixel shift and the stretch of its ink', async () => {
    for (let i = 0; i < digits; i++) {
      const digit = await digitFromImage(await original(i));
      const want = floatRows(test!.x, 784, i, i + 1);
      // The best of the shifts by up to one pixel: the centre of mass is rounded.
      let best = Infinity;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          let difference = 0;
          for (let y = 0; y < 28; y++) {
            for (let x = 0; x < 28; x++) {
              const sx = x - dx;
              const sy = y - dy;
              const source = sx >= 0 && sx < 28 && sy >= 0 && sy < 28 ? want[sy * 28 + sx] : 0;
              difference += Math.abs(digit[y * 28 + x] - source);
            }
          }
          best = Math.min(best, difference / 784);
        }
      }
      expect(best, `digit ${i}`).toBeLessThan(0.004);
    }
  });

  it('enlarged three times (each pixel a 3×3 block), it is read as the same 28×28 digit, exactly: each 3×3 averages back to its pixel', async () => {
    for (let i = 0; i < digits; i++) {
      const large = await save(
        sharp(pixels(i), { raw: { width: 28, height: 28, channels: 1 } }).resize(84, 84, { kernel: 'nearest' }),
      );
      expect(await digitFromImage(large)).toEqual(await digitFromImage(await original(i)));
    }
  });

  it('black ink on white paper reads as white ink on black, exactly', async () => {
    for (let i = 0; i < digits; i++) {
      const inverted = await save(sharp(pixels(i), { raw: { width: 28, height: 28, channels: 1 } }).negate());
      expect(await digitFromImage(inverted)).toEqual(await digitFromImage(await original(i)));
    }
  });

  it('on a transparent background the ink is what is opaque, whatever its colour', async () => {
    for (let i = 0; i < digits; i++) {
      // White ink (and white everywhere): only the alpha channel says where the digit is.
      const rgba = Buffer.alloc(784 * 4, 255);
      pixels(i).forEach((v, p) => (rgba[p * 4 + 3] = v));
      const transparent = await save(sharp(rgba, { raw: { width: 28, height: 28, channels: 4 } }));
      expect(await digitFromImage(transparent)).toEqual(await digitFromImage(await original(i)));
    }
  });

  it('coloured ink on coloured paper counts by its luminance (0.299 R + 0.587 G + 0.114 B)', async () => {
    for (let i = 0; i < digits; i++) {
      // Pure green ink on black: luminance 0.587·v. Pure red: 0.299·v. Both stretched to full strength.
      const channel = (c: number): Buffer => {
        const rgb = Buffer.alloc(784 * 3);
        pixels(i).forEach((v, p) => (rgb[p * 3 + c] = v));
        return rgb;
      };
      const green = await digitFromImage(
        await save(sharp(channel(1), { raw: { width: 28, height: 28, channels: 3 } })),
      );
      const red = await digitFromImage(await save(sharp(channel(0), { raw: { width: 28, height: 28, channels: 3 } })));
      const grey = await digitFromImage(await original(i));
      for (const colour of [green, red]) {
        let worst = 0;
        for (let p = 0; p < 784; p++) worst = Math.max(worst, Math.abs(colour[p] - grey[p]));
        expect(worst, `digit ${i}`).toBeLessThan(1e-6);
      }
    }
    // Ink half red, half green on black: the green half is the stronger one, 0.587 / 0.299 times.
    const rgb = Buffer.alloc(60 * 60 * 3);
    for (let y = 10; y < 30; y++) for (let x = 10; x < 30; x++) rgb[(y * 60 + x) * 3 + (x < 20 ? 0 : 1)] = 255;
    const halves = await digitFromImage(await save(sharp(rgb, { raw: { width: 60, height: 60, channels: 3 } })));
    const inked = Array.from(halves).filter((v) => v > 0);
    expect(Math.max(...inked)).toBe(1);
    expect(Math.min(...inked)).toBeCloseTo(0.299 / 0.587, 4);
  });

  it("a photo's grey page with its noise: the page's own spread is not ink", async () => {
    // A page at 200 ± 8 (a fixed pattern), dark ink at 40 in a block.
    const noise = (x: number, y: number): number => ((x * 7 + y * 13) % 17) - 8;
    const path = await grey(60, 60, (x, y) => (inside(x, y, 20, 30, 15, 35) ? 40 : 200 + noise(x, y)));
    expect(await digitFromImage(path)).toEqual(field([{ x0: 10, x1: 20, y0: 5, y1: 25, value: 1 }]));
  });
});

describe('the pictures users bring', () => {
  /** An RGBA picture from pixel(x, y) → [r, g, b, a], written as PNG; its path. */
  async function rgba(width: number, height: number, pixel: (x: number, y: number) => number[]): Promise<string> {
    const data = Buffer.alloc(width * height * 4);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(pixel(x, y), (y * width + x) * 4);
    const path = join(dir, `${written++}.png`);
    await sharp(data, { raw: { width, height, channels: 4 } })
      .png()
      .toFile(path);
    return path;
  }
  // The block of the first test, read from any picture that draws it: 10×20 at full strength, placed at (10, 5).
  const block = field([{ x0: 10, x1: 20, y0: 5, y1: 25, value: 1 }]);

  it('a grey picture with an alpha channel (two channels), and a 16-bit scan, read as the 8-bit grey one', async () => {
    const pixel = (x: number, y: number): number => (inside(x, y, 30, 40, 10, 30) ? 255 : 0);
    const greyAlpha = Buffer.alloc(100 * 60 * 2);
    const deep = Buffer.alloc(100 * 60 * 2);
    for (let y = 0; y < 60; y++) {
      for (let x = 0; x < 100; x++) {
        greyAlpha[(y * 100 + x) * 2] = 0;
        greyAlpha[(y * 100 + x) * 2 + 1] = pixel(x, y);
        deep.writeUInt16LE(pixel(x, y) * 257, (y * 100 + x) * 2);
      }
    }
    const alphaPath = join(dir, 'grey-alpha.png');
    await sharp(greyAlpha, { raw: { width: 100, height: 60, channels: 2 } })
      .png()
      .toFile(alphaPath);
    const deepPath = join(dir, 'deep.png');
    await sharp(new Uint16Array(deep.buffer, deep.byteOffset, deep.length / 2), {
      raw: { width: 100, height: 60, channels: 1 },
    })
      .toColourspace('grey16')
      .png()
      .toFile(deepPath);
    expect((await sharp(deepPath).metadata()).depth).toBe('ushort');
    expect(await digitFromImage(alphaPath)).toEqual(block);
    expect(await digitFromImage(deepPath)).toEqual(block);
  });

  it('an anti-aliased stroke on a white page counts in proportion to its opacity', async () => {
    // Dark grey ink (60), opaque in the left half of the block and half transparent (alpha 128) in
    // the right: over white, its luminance is 255 − 195·a, its distance from the page 195·a.
    const path = await rgba(100, 60, (x, y) =>
      inside(x, y, 30, 40, 10, 30) ? [60, 60, 60, x < 35 ? 255 : 128] : [255, 255, 255, 255],
    );
    const digit = await digitFromImage(path);
    const values = [...new Set(Array.from(digit).filter((v) => v > 0))].sort();
    expect(values).toHaveLength(2);
    expect(values[0]).toBeCloseTo(128 / 255, 5);
    expect(values[1]).toBe(1);
  });

  it('a half-transparent page (alpha 128 at the border) is paper, not a transparent background', async () => {
    const path = await rgba(100, 60, (x, y) => (inside(x, y, 30, 40, 10, 30) ? [0, 0, 0, 255] : [255, 255, 255, 128]));
    expect(await digitFromImage(path)).toEqual(block);
  });

  it('glare brighter than the page is not ink, and a board of luminance 127 takes chalk, not its shadows', async () => {
    const glare = await grey(100, 60, (x, y) =>
      inside(x, y, 30, 40, 10, 30) ? 0 : inside(x, y, 80, 95, 40, 55) ? 255 : 200,
    );
    expect(await digitFromImage(glare)).toEqual(block);
    // A green board whose luminance is exactly 127 (0.299·3 + 0.587·209 + 0.114·30): up to 127 a page
    // is dark, so the ink is what is lighter.
    const board = await rgba(100, 60, (x, y) =>
      inside(x, y, 30, 40, 10, 30)
        ? [255, 255, 255, 255]
        : inside(x, y, 80, 95, 40, 55)
          ? [0, 0, 0, 255]
          : [3, 209, 30, 255],
    );
    expect(await digitFromImage(board)).toEqual(block);
  });

  it('a grainy page: its grain (±20) is taken off the ink first, so it never widens the crop', async () => {
    const grain = (x: number, y: number): number => ((x * 7 + y * 13) % 41) - 20;
    const path = await grey(100, 60, (x, y) => (inside(x, y, 30, 40, 10, 30) ? 150 : 200 + grain(x, y)));
    expect(await digitFromImage(path)).toEqual(block);
  });

  it('strokes along the edges of the picture: the top row, the left column, the last column', async () => {
    // Ten pixels of ink in the top row: a 10×1 box, enlarged to 20×2, its centre of mass (9.5, 0.5) moved to (14, 14).
    const top = await grey(60, 40, (x, y) => (y === 0 && x >= 10 && x < 20 ? 255 : 0));
    expect(await digitFromImage(top)).toEqual(field([{ x0: 5, x1: 25, y0: 14, y1: 16, value: 1 }]));
    // Ten in the first column, and ten in the last: a 1×10 box, enlarged to 2×20.
    const vertical = field([{ x0: 14, x1: 16, y0: 5, y1: 25, value: 1 }]);
    expect(await digitFromImage(await grey(40, 60, (x, y) => (x === 0 && y >= 10 && y < 20 ? 255 : 0)))).toEqual(
      vertical,
    );
    expect(await digitFromImage(await grey(40, 60, (x, y) => (x === 39 && y >= 10 && y < 20 ? 255 : 0)))).toEqual(
      vertical,
    );
  });

  it('a digit whose mass sits at one end is shifted so far that the other end leaves the field: cut there, not wrapped', async () => {
    // A one-pixel bar (x 10–26, row 29) ending in a heavy post (x 27–29, rows 10–29): the 20×20
    // box's centre of mass is at (15.8, 11.6), so it moves by (−2, 2) and the bar's first two
    // columns fall off the left edge (they must not wrap onto the row above).
    const lying = (x: number, y: number): number =>
      (y === 29 && x >= 10 && x < 27) || (x >= 27 && x < 30 && y >= 10 && y < 30) ? 255 : 0;
    const sums = (digit: Float32Array, along: 'x' | 'y') =>
      Array.from({ length: 28 }, (_, i) =>
        Array.from({ length: 28 }, (_, j) => digit[along === 'x' ? j * 28 + i : i * 28 + j]).reduce((a, b) => a + b, 0),
      );
    const columns = sums(await digitFromImage(await grey(60, 60, lying)), 'x');
    expect(columns.filter((c) => c > 0)).toHaveLength(18);
    expect(columns.slice(18)).toEqual(new Array(10).fill(0));
    // The same turned on its side: the top two rows fall off, not onto the end of the last row.
    const rows = sums(await digitFromImage(await grey(60, 60, (x, y) => lying(y, x))), 'y');
    expect(rows.filter((r) => r > 0)).toHaveLength(18);
    expect(rows.slice(18)).toEqual(new Array(10).fill(0));
    // Mirrored, the post on the left: the centre of mass at x 3.2 moves right by 11, and the bar's
    // last three columns fall off the right edge, not onto the next row.
    const mirrored = sums(await digitFromImage(await grey(60, 60, (x, y) => lying(39 - x, y))), 'x');
    expect(mirrored.filter((c) => c > 0)).toHaveLength(17);
    expect(mirrored.slice(0, 11)).toEqual(new Array(11).fill(0));
  });

  it("the page is read from the picture's outermost ring of pixels, each once", () => {
    // 4×3: the top row 0–3, the bottom row 8–11, and between them the sides 4 and 7.
    expect(borderIndices(4, 3)).toEqual([0, 8, 1, 9, 2, 10, 3, 11, 4, 7]);
    expect(new Set(borderIndices(100, 60)).size).toBe(2 * 100 + 2 * 58);
    expect(borderIndices(100, 60)).toHaveLength(2 * 100 + 2 * 58);
  });
});
