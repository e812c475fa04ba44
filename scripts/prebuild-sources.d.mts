/** C++ source without its comments and without the whitespace that does not separate tokens. */
export function codeOnly(source: string): string;
/** SHA-256 over binding.gyp and the code of the addon's C++ sources under `root`. */
export function prebuildSourcesDigest(root: string): string;
