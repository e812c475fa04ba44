import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DataError } from '../errors.js';
import { reasonOf } from './files.js';

/**
 * Writes `path` so that it is always either the old file or the whole new one: the bytes go to a
 * temporary file in the same folder, are flushed to disk, and the temporary file is renamed over.
 * A temporary file that a killed process left behind is removed on the next write of the same path.
 */
export function writeFileAtomic(path: string, content: string | Uint8Array): void {
  // A device or pipe (/dev/stdout, /dev/full) is written in place: renaming over it would replace it.
  if (isSpecialFile(path)) {
    try {
      writeFileSync(path, content);
      return;
    } catch (err) {
      throw new DataError(`${path}: cannot write (${reasonOf(err)})`);
    }
  }
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  try {
    mkdirSync(dir, { recursive: true });
    removeOrphans(dir, basename(path));
    const fd = openSync(temp, 'w');
    try {
      writeAll(fd, typeof content === 'string' ? Buffer.from(content) : content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
    syncFolder(dir);
  } catch (err) {
    try {
      rmSync(temp);
    } catch {
      // Not there: it could not be created either (a parent is a file, or not writable).
    }
    throw new DataError(`${path}: cannot write (${whyNotWritten(dir, err)}); the previous file, if any, is unchanged`);
  }
}

/** `writeSync` may write fewer bytes than asked (a disk filling up): write the rest, until done or refused (ENOSPC). */
function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, bytes.length - done);
}

/** The rename itself is on disk only once the folder is flushed; some file systems cannot, which is fine. */
// Stryker disable all: whether a folder was flushed shows only after a power cut, which no test can make.
function syncFolder(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Not every platform can open or flush a folder (Windows); the rename is still atomic there.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
// Stryker restore all

/** Temporary files of `name` whose writing process no longer runs (killed mid-write). */
function removeOrphans(dir: string, name: string): void {
  const prefix = `.${name}.`;
  for (const entry of readdirSync(dir)) {
    if (!entry.startsWith(prefix) || !entry.endsWith('.tmp')) continue;
    const pid = Number(entry.slice(prefix.length, -'.tmp'.length));
    // (Forced: another writer may remove it first.)
    if (Number.isInteger(pid) && !isRunning(pid)) rmSync(join(dir, entry), { force: true });
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Why a file could not be written in `dir`, in words: which parent is not a folder, a folder that takes no files. */
function whyNotWritten(dir: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EEXIST' || code === 'ENOTDIR') {
    // mkdir met something that is not a folder: name the first such parent.
    for (let at = dir; ; at = dirname(at)) {
      const stat = statOrUndefined(at);
      if (stat && !stat.isDirectory())
        return `${at} is ${stat.isFile() ? 'a file' : 'a device or other special file'}, not a folder`;
      if (dirname(at) === at) break;
    }
  }
  // The folder is there, yet creating a file in it says it is not (/proc, /sys).
  if (code === 'ENOENT' && statOrUndefined(dir)?.isDirectory()) return `the folder ${dir} does not take new files`;
  return reasonOf(err);
}

function statOrUndefined(path: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function isSpecialFile(path: string): boolean {
  try {
    const stat = statSync(path);
    return !stat.isFile() && !stat.isDirectory();
  } catch {
    return false;
  }
}
