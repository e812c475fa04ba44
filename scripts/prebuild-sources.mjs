// The digest of what goes into the addon binary, recorded beside the prebuilds when they are built.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** SHA-256 over binding.gyp and the addon's C++ sources (the kernel test program is not part of it). */
export function prebuildSourcesDigest(root) {
  const sources = readdirSync(join(root, 'native'))
    .filter((name) => /\.(cc|h)$/.test(name) && name !== 'kernel_tests.cc')
    .sort()
    .map((name) => `native/${name}`);
  const hash = createHash('sha256');
  for (const path of ['binding.gyp', ...sources]) hash.update(`${path}\0`).update(readFileSync(join(root, path))).update('\0');
  return hash.digest('hex');
}
