/** SHA-256 over binding.gyp and the addon's C++ sources under `root`. */
export function prebuildSourcesDigest(root: string): string;
