import { grouped } from '../numbers.js';
import { closeSync, openSync, readSync } from 'node:fs';
import { DataError } from '../errors.js';
import { regularFile } from '../io/files.js';
import { DELIMITERS, DELIMITER_NAMES, type DelimiterName } from './delimiters.js';

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const COMMA = 0x2c;
const SEMICOLON = 0x3b;
const DOT = 0x2e;

/** Bytes read at a time: rows are parsed out of this window, never out of one string of the whole file. */
export const CHUNK = 1 << 22;

/**
 * One record of a delimited file, as offsets into the reader's window (valid during the visit only).
 * Cells are trimmed of spaces; quotes around a cell are removed, and `""` inside it is one `"`.
 */
export class CsvRecord {
  count = 0;
  /** The line the record starts on, from 1. */
  line = 0;
  buffer: Buffer = Buffer.alloc(0);
  starts = new Int32Array(64);
  ends = new Int32Array(64);
  /** 1 for a quoted cell, 2 for one holding an escaped quote. */
  quoting = new Uint8Array(64);

  constructor(
    private readonly decimalComma: boolean,
    private readonly path: string,
  ) {}

  push(start: number, end: number, quoting: number): void {
    if (this.count === this.starts.length) {
      const grow = <T extends Int32Array | Uint8Array>(a: T): T => {
        const bigger = new (a.constructor as new (n: number) => T)(a.length * 2);
        bigger.set(a);
        return bigger;
      };
      [this.starts, this.ends, this.quoting] = [grow(this.starts), grow(this.ends), grow(this.quoting)];
    }
    let [s, e] = [start, end];
    while (s < e && isSpace(this.buffer[s])) s++;
    while (e > s && isSpace(this.buffer[e - 1])) e--;
    this.starts[this.count] = s;
    this.ends[this.count] = e;
    this.quoting[this.count] = quoting;
    this.count++;
  }

  /** Whether the record is an empty line. */
  get blank(): boolean {
    return this.count === 1 && this.starts[0] === this.ends[0] && this.quoting[0] === 0;
  }

  /** The cell's text; text that is not UTF-8 (a Latin-1 `café`) is refused, so that no two labels read as one. */
  text(i: number): string {
    const text = this.buffer.toString('utf8', this.starts[i], this.ends[i]);
    // U+FFFD stands in for invalid bytes; only then is the cell decoded strictly (it may be written as itself).
    if (text.includes('\uFFFD')) {
      try {
        STRICT_UTF8.decode(this.buffer.subarray(this.starts[i], this.ends[i]));
      } catch {
        throw new DataError(
          `${this.path}: line ${this.line}, column ${i + 1}: ${cellText(text)} is not UTF-8 text (a Latin-1 or Windows-1252 file?); save the file as UTF-8`,
        );
      }
    }
    return this.quoting[i] === 2 ? text.replaceAll('""', '"') : text;
  }

  /** The cell as a number, or NaN when it is not one. */
  number(i: number): number {
    return this.quoting[i] === 2 ? NaN : parseDecimal(this.buffer, this.starts[i], this.ends[i], this.decimalComma);
  }
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/** A cell's text for a message: quoted, and cut short when long (a 50 MB cell is not repeated whole). */
export function cellText(text: string): string {
  return text.length <= 40 ? `'${text}'` : `'${text.slice(0, 40)}…' (${grouped(text.length)} characters)`;
}

function isSpace(byte: number): boolean {
  return byte === SPACE || byte === TAB;
}

const POWERS = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * A decimal number written in `bytes[start, end)`: `-1.5`, `2e-3`, `.5`, or `1,5` where the decimal
 * separator may be a comma. Up to 15 significant digits and exponents within ±22 are computed
 * exactly (one correctly rounded operation); anything else goes through Number().
 */
export function parseDecimal(bytes: Uint8Array, start: number, end: number, decimalComma: boolean): number {
  let i = start;
  if (i === end) return NaN;
  const negative = bytes[i] === 0x2d;
  if (negative || bytes[i] === 0x2b) i++;
  let mantissa = 0;
  let digits = 0;
  let scale = 0;
  let seenDigit = false;
  while (i < end && bytes[i] >= 0x30 && bytes[i] <= 0x39) {
    mantissa = mantissa * 10 + (bytes[i++] - 0x30);
    if (mantissa > 0) digits++;
    seenDigit = true;
  }
  if (i < end && (bytes[i] === DOT || (decimalComma && bytes[i] === COMMA))) {
    i++;
    while (i < end && bytes[i] >= 0x30 && bytes[i] <= 0x39) {
      mantissa = mantissa * 10 + (bytes[i++] - 0x30);
      if (mantissa > 0) digits++;
      scale--;
      seenDigit = true;
    }
  }
  if (!seenDigit) return NaN;
  if (i < end && (bytes[i] === 0x65 || bytes[i] === 0x45)) {
    i++;
    const negativeExponent = bytes[i] === 0x2d;
    if (negativeExponent || bytes[i] === 0x2b) i++;
    let exponent = 0;
    const first = i;
    while (i < end && bytes[i] >= 0x30 && bytes[i] <= 0x39 && exponent < 100_000)
      exponent = exponent * 10 + (bytes[i++] - 0x30);
    if (i === first) return NaN;
    scale += negativeExponent ? -exponent : exponent;
  }
  if (i !== end) return NaN;
  let value: number;
  if (digits <= 15 && scale >= -22 && scale <= 22) {
    value = scale < 0 ? mantissa / POWERS[-scale] : mantissa * POWERS[scale];
  } else {
    const text = Buffer.from(bytes.subarray(negative || bytes[start] === 0x2b ? start + 1 : start, end)).toString(
      'latin1',
    );
    value = Number(decimalComma ? text.replace(',', '.') : text);
  }
  return negative ? -value : value;
}

/** The delimiter a file uses: `\t` for `.tsv`, else whichever of `,` `;` tab the first line has most of. */
function detectDelimiter(path: string, firstBytes: Buffer): number {
  if (/\.tsv$/i.test(path)) return TAB;
  const counts = new Map([
    [COMMA, 0],
    [SEMICOLON, 0],
    [TAB, 0],
  ]);
  let quoted = false;
  for (const byte of firstBytes) {
    if (byte === QUOTE) quoted = !quoted;
    else if (!quoted && (byte === LF || byte === CR)) break;
    else if (!quoted && counts.has(byte)) counts.set(byte, counts.get(byte)! + 1);
  }
  let best = COMMA;
  for (const [byte, count] of counts) if (count > counts.get(best)!) best = byte;
  return best;
}

/** What a file is when it is no UTF-8 text: UTF-16 or UTF-32 by its byte-order mark, or binary by its NUL bytes. */
function otherEncoding(first: Buffer): string | undefined {
  if (first[0] === 0xff && first[1] === 0xfe)
    return first[2] === 0 && first[3] === 0
      ? 'is UTF-32 text (its byte-order mark says so)'
      : 'is UTF-16 text (its byte-order mark says so)';
  if (first[0] === 0xfe && first[1] === 0xff) return 'is UTF-16 text (its byte-order mark says so)';
  if (first[0] === 0 && first[1] === 0 && first[2] === 0xfe && first[3] === 0xff)
    return 'is UTF-32 text (its byte-order mark says so)';
  const nul = first.subarray(0, 4096).indexOf(0);
  if (nul >= 0) return `holds a NUL byte at offset ${nul}: UTF-16 text without a byte-order mark, or not text at all`;
  return undefined;
}

export { DELIMITERS, DELIMITER_NAMES, type DelimiterName } from './delimiters.js';

/** The delimiter the first line of `path` suggests, by name. */
export function detectedDelimiter(path: string, chunk = CHUNK): DelimiterName {
  const { fd, delim } = openDelimited(path, undefined, chunk);
  closeSync(fd);
  return DELIMITER_NAMES.find((name) => DELIMITERS[name].charCodeAt(0) === delim)!;
}

/** An open delimited file: its descriptor, its delimiter, and the first window of its bytes (BOM skipped). */
function openDelimited(
  path: string,
  delimiter: DelimiterName | undefined,
  chunk: number,
): { fd: number; delim: number; window: Buffer; filled: number; pos: number } {
  regularFile(path);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new DataError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  // A UTF-8 BOM must fit in the first window.
  const window = Buffer.alloc(Math.max(4, chunk));
  const filled = readSync(fd, window, 0, window.length, null);
  const pos = window[0] === 0xef && window[1] === 0xbb && window[2] === 0xbf ? 3 : 0;
  const encoding = otherEncoding(window.subarray(0, filled));
  if (encoding) {
    closeSync(fd);
    throw new DataError(`${path}: ${encoding}; save it as UTF-8 text`);
  }
  const delim = delimiter ? DELIMITERS[delimiter].charCodeAt(0) : detectDelimiter(path, window.subarray(pos, filled));
  return { fd, delim, window, filled, pos };
}

/**
 * Calls `visit` with every non-blank record of a delimited text file (RFC 4180: quoted cells may
 * hold delimiters, quotes and line breaks), reading it in chunks, so that a file of any size is
 * parsed in memory proportional to its longest record. Line ends may be LF, CRLF or CR; a UTF-8 BOM
 * is skipped. With `;` or tab as the delimiter, a decimal comma is read as a decimal point.
 * `visit` returning false stops the reading.
 */
export function readRecords(
  path: string,
  delimiter: DelimiterName | undefined,
  visit: (record: CsvRecord) => boolean | void,
  chunk = CHUNK,
): void {
  const opened = openDelimited(path, delimiter, chunk);
  let { window, filled, pos } = opened;
  const { fd, delim } = opened;
  try {
    let eof = filled === 0;
    const record = new CsvRecord(delim !== COMMA, path);
    let line = 1;
    for (;;) {
      record.buffer = window;
      const next = eof || filled - pos > 0 ? scanRecord(window, pos, filled, delim, eof, record, path, line) : -1;
      if (next >= 0) {
        record.line = line;
        line += lineBreaks(window, pos, next);
        if (!record.blank && visit(record) === false) return;
        pos = next;
        if (pos >= filled && eof) return;
        continue;
      }
      if (eof) return;
      // The record runs past the window: keep its start, and read on (a longer window if it fills one).
      const rest = filled - pos;
      if (rest === window.length) {
        const larger = Buffer.alloc(window.length * 2);
        window.copy(larger, 0, pos, filled);
        window = larger;
      } else {
        window.copy(window, 0, pos, filled);
      }
      pos = 0;
      filled = rest;
      const read = readSync(fd, window, filled, window.length - filled, null);
      filled += read;
      eof = read === 0;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The number of non-blank records of a delimited file, each checked to have `width` cells: one
 * quick pass over the bytes (quotes respected) before the samples are parsed into their arrays.
 */
export function countRecords(path: string, delimiter: DelimiterName | undefined, width: number, chunk = CHUNK): number {
  const opened = openDelimited(path, delimiter, chunk);
  const { fd, delim, window } = opened;
  let { filled, pos } = opened;
  let quoted = false;
  let afterCR = false;
  let blank = true;
  let cells = 1;
  let records = 0;
  let line = 1;
  let recordLine = 1;
  let quoteLine = 1;
  try {
    for (;;) {
      const atEnd = filled === 0;
      for (let i = pos; i <= filled; i++) {
        // One past the window's end stands for the end of the file, which ends the last record.
        const byte = i < filled ? window[i] : atEnd ? LF : -1;
        if (byte < 0) break;
        if (afterCR && byte === LF) {
          afterCR = false;
          continue;
        }
        afterCR = byte === CR;
        if (quoted) {
          if (byte === QUOTE) quoted = false;
          else if (byte === LF || byte === CR) line++;
          if (quoted && atEnd && i === filled)
            throw new DataError(`${path}: line ${quoteLine}: a quoted cell is never closed`);
        } else if (byte === LF || byte === CR) {
          if (!blank || cells > 1) {
            if (cells !== width)
              throw new DataError(`${path}: line ${recordLine} has ${cells} cells, expected ${width} (a ragged row)`);
            records++;
          }
          cells = 1;
          blank = true;
          recordLine = ++line;
        } else if (byte === delim) {
          cells++;
          blank = false;
        } else if (byte === QUOTE) {
          quoted = true;
          quoteLine = line;
          blank = false;
        } else if (byte !== SPACE && byte !== TAB) {
          blank = false;
        }
      }
      if (atEnd) return records;
      pos = 0;
      filled = readSync(fd, window, 0, window.length, null);
    }
  } finally {
    closeSync(fd);
  }
}

/** Line breaks (LF, CRLF or CR) in `bytes[start, end)`. */
function lineBreaks(bytes: Buffer, start: number, end: number): number {
  let breaks = 0;
  for (let i = start; i < end; i++) {
    if (bytes[i] === LF) breaks++;
    else if (bytes[i] === CR && (i + 1 === end || bytes[i + 1] !== LF)) breaks++;
  }
  return breaks;
}

/**
 * Reads one record starting at `pos` into `record`; returns where the next one starts, or -1 when
 * the window ends inside it (and more of the file is to come).
 */
function scanRecord(
  bytes: Buffer,
  pos: number,
  end: number,
  delim: number,
  eof: boolean,
  record: CsvRecord,
  path: string,
  line: number,
): number {
  record.count = 0;
  let i = pos;
  for (;;) {
    let start = i;
    while (i < end && isSpace(bytes[i]) && bytes[i] !== delim) i++;
    let cellEnd: number;
    let quoting = 0;
    if (i < end && bytes[i] === QUOTE) {
      quoting = 1;
      start = ++i;
      for (;;) {
        if (i >= end) {
          if (!eof) return -1;
          throw new DataError(`${path}: line ${line}: a quoted cell is never closed`);
        }
        if (bytes[i] === QUOTE) {
          // (Past `end` the window holds stale bytes: never look there.)
          if (i + 1 >= end) {
            if (!eof) return -1;
            break;
          }
          if (bytes[i + 1] !== QUOTE) break;
          quoting = 2;
          i += 2;
        } else {
          i++;
        }
      }
      cellEnd = i++;
      while (i < end && isSpace(bytes[i]) && bytes[i] !== delim) i++;
      if (i < end && bytes[i] !== delim && bytes[i] !== LF && bytes[i] !== CR) {
        throw new DataError(`${path}: line ${line}: text after the closing quote of a cell`);
      }
    } else {
      while (i < end && bytes[i] !== delim && bytes[i] !== LF && bytes[i] !== CR) i++;
      cellEnd = i;
    }
    if (i >= end && !eof) return -1;
    record.push(start, cellEnd, quoting);
    if (i >= end) return end;
    if (bytes[i] === delim) {
      i++;
      continue;
    }
    if (bytes[i] === CR) {
      if (i + 1 >= end) return eof ? i + 1 : -1;
      return bytes[i + 1] === LF ? i + 2 : i + 1;
    }
    return i + 1;
  }
}
