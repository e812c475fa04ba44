// The digest of what goes into the addon binary, recorded beside the prebuilds when they are built.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * C++ source as the compiler sees it, for the digest: comments removed, and whitespace only where it
 * separates two words or two operator characters (or ends a preprocessor line), so that a change of comments or formatting
 * leaves the digest, and the binaries, as they are. String and character literals are kept whole.
 */
export function codeOnly(source) {
  let out = '';
  let pendingSpace = false;
  let lineStart = true;
  let directive = false;
  const word = (c) => /[A-Za-z0-9_]/.test(c);
  // Characters that join with a neighbour into another token (`- -` is not `--`, `> =` not `>=`).
  const joins = (c) => '+-*/%&|^!=<>:.'.includes(c);
  for (let i = 0; i < source.length;) {
    const c = source[i];
    if (c === '/' && source[i + 1] === '/') {
      while (i < source.length && source[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2);
      i = end < 0 ? source.length : end + 2;
      pendingSpace = true;
      continue;
    }
    // A backslash before a line end splices the two lines (a long macro), as the compiler reads it.
    if (c === '\\' && source[i + 1] === '\n') {
      pendingSpace = true;
      i += 2;
      continue;
    }
    if (c === '\n') {
      if (directive) {
        out += '\n';
        directive = false;
        pendingSpace = false;
      } else {
        pendingSpace = true;
      }
      lineStart = true;
      i++;
      continue;
    }
    if (/\s/.test(c)) {
      pendingSpace = true;
      i++;
      continue;
    }
    if (lineStart && c === '#') {
      directive = true;
      if (out !== '' && !out.endsWith('\n')) out += '\n';
    }
    lineStart = false;
    // Two words, or two operator characters that would otherwise read as one (`- -`), stay apart.
    const last = out.at(-1) ?? '\n';
    if (pendingSpace && ((word(last) && word(c)) || (joins(last) && joins(c)))) out += ' ';
    pendingSpace = false;
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < source.length && source[j] !== c) j += source[j] === '\\' ? 2 : 1;
      out += source.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

/** SHA-256 over binding.gyp, native/sources.json and the code of the addon's C++ sources (the kernel test program is not part of it). */
export function prebuildSourcesDigest(root) {
  const sources = readdirSync(join(root, 'native'))
    .filter((name) => /\.(cc|h)$/.test(name) && name !== 'kernel_tests.cc')
    .sort()
    .map((name) => `native/${name}`);
  const hash = createHash('sha256');
  for (const path of ['binding.gyp', 'native/sources.json'])
    hash
      .update(`${path}\0`)
      .update(readFileSync(join(root, path)))
      .update('\0');
  for (const path of sources)
    hash
      .update(`${path}\0`)
      .update(codeOnly(readFileSync(join(root, path), 'utf8')))
      .update('\0');
  return hash.digest('hex');
}
