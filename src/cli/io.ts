/** Where a command writes: the terminal, or a test's arrays. */
export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  /** A line that replaces itself on a terminal's stderr ('' clears it); absent when stderr is not a terminal. */
  status?: (text: string) => void;
  /** Whether stdout is a terminal (for the end-of-run chart). */
  terminal?: boolean;
  /** The terminal's width, when stdout is one: long header lines are wrapped to it. */
  columns?: number;
  /** The same for stderr, where train's notes (resuming, interrupted) go. */
  errColumns?: number;
}

export const stdio: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  status: process.stderr.isTTY ? (text) => process.stderr.write(`\r\x1b[2K${text}`) : undefined,
  terminal: process.stdout.isTTY,
  columns: process.stdout.isTTY ? process.stdout.columns : undefined,
  errColumns: process.stderr.isTTY ? process.stderr.columns : undefined,
};
