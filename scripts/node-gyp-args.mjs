// Arguments that make node-gyp build against the running Node's own headers when it has them
// (official binaries and Debian's nodejs do), so that no build reaches the network for them.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

export function nodeGypArgs(...args) {
  const nodeDir = dirname(dirname(process.execPath));
  const local = existsSync(join(nodeDir, 'include/node/node_api.h')) ? [`--nodedir=${nodeDir}`] : [];
  return [...args, ...local];
}
