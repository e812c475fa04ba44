import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '../src/model/safetensors.js';
import { writeFileAtomic } from '../src/io/atomic.js';
import { runCli, tempDir } from './helpers.js';

/** A 4 MiB tmpfs, mounted where this user may mount (root, as CI runs); undefined elsewhere. */
function smallFilesystem(): string | undefined {
  const dir = tempDir();
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir], { stdio: 'ignore' });
    return dir;
  } catch {
    return undefined;
  }
}

describe('saving never destroys what was saved', () => {
  const small = smallFilesystem();
  afterAll(() => {
    if (small) execFileSync('umount', [small]);
  });

  it('a mounted 4 MiB file system is available for the full-disk test (root, as in CI)', () => {
    // Without it the next test cannot run; say so rather than pass quietly.
    expect(small ?? (process.getuid?.() === 0 ? 'mount failed' : 'not root')).toBe(small);
  });

  it.runIf(small)('a model too large for the disk: exit 1, one line, and the good model stays loadable', async () => {
    const path = join(small!, 'm.safetensors');
    const first = await runCli('--limit', '500', '--epochs', '1', '--hidden', '30', '--save', path);
    expect(first.code).toBe(0);
    const good = readFileSync(path);
    // 784×3000 float32 weights are 9.4 MB: the write runs out of space part-way.
    const { code, err } = await runCli('--limit', '200', '--epochs', '1', '--hidden', '3000', '--save', path);
    expect(code).toBe(1);
    expect(err).toEqual([`backprop: ${path}: cannot write (no space left on the device); the previous file, if any, is unchanged`]);
    expect(readFileSync(path).equals(good)).toBe(true);
    expect(loadModel(path).architecture.sizes).toEqual([784, 30, 10]);
    expect(readdirSync(small!)).toEqual(['m.safetensors']);
  });

  it('a parent of the save path that is a file: one line, exit 1', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'file'), 'x');
    const { code, err } = await runCli('--limit', '200', '--epochs', '1', '--hidden', '4', '--save', join(dir, 'file', 'sub', 'm.safetensors'));
    expect(code).toBe(1);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/m\.safetensors: cannot write \(a parent of the path is a file, not a folder\)/);
  });

  it('a temporary file left by a killed writer is removed by the next save; a live writer\'s is kept', () => {
    const dir = tempDir();
    const path = join(dir, 'm.safetensors');
    // pid 2^22 + 1 is above Linux's largest pid: no process has it.
    const orphan = join(dir, `.m.safetensors.${2 ** 22 + 1}.tmp`);
    const live = join(dir, `.m.safetensors.${process.ppid}.tmp`);
    const other = join(dir, `.n.safetensors.${2 ** 22 + 1}.tmp`);
    for (const file of [orphan, live, other]) writeFileSync(file, 'partial');
    writeFileAtomic(path, 'new');
    expect(existsSync(orphan)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(existsSync(other)).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe('new');
  });

  it('a folder in place of the file is refused whole', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'm.safetensors'));
    expect(() => writeFileAtomic(join(dir, 'm.safetensors'), 'x')).toThrow(/cannot write/);
    expect(readdirSync(dir)).toEqual(['m.safetensors']);
  });
});
