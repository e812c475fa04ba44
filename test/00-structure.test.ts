import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');

/**
 * The layers of src/, top first: a module imports only from its own folder or from layers below its
 * own. The library's entry and the CLI sit on top, side by side (neither imports the other); data
 * loading depends on nothing that trains.
 */
const LAYERS = [
  ['index.ts', 'browser.ts', 'cli'],
  ['bench', 'examples', 'report', 'export'],
  ['train'],
  ['model'],
  ['backends'],
  ['data'],
  ['io'],
  ['memory.ts'],
  ['numbers.ts', 'errors.ts'],
];

/**
 * The core: the model, training, the backend interface with the TypeScript backend, and the data
 * types. It runs in any JavaScript engine (a browser page, a worker, WebAssembly's host), so it may
 * import only itself and allocates through a backend's Memory, never a SharedArrayBuffer of its own.
 */
const CORE = [
  'browser.ts',
  'errors.ts',
  'memory.ts',
  'numbers.ts',
  'data/dataset.ts',
  'data/delimiters.ts',
  'data/features.ts',
  'data/idx-format.ts',
  'data/preprocessing.ts',
  'data/warp.ts',
  'backends/activations.ts',
  'backends/backend.ts',
  'backends/default.ts',
  'backends/noise.ts',
  'backends/layers.ts',
  'backends/optimizers.ts',
  'backends/ts.ts',
  'backends/wasm.ts',
  'model/init.ts',
  'model/layout.ts',
  'model/metrics.ts',
  'model/network.ts',
  'model/rng.ts',
  'train/augmentation.ts',
  'train/evaluate.ts',
  'train/fit.ts',
  'train/gradcheck.ts',
  'train/schedules.ts',
];

/** What `file` uses from outside the core: imports of modules not in it, of node:, of SharedArrayBuffer. */
function outsideCore(file: string, text: string, imports: string[]): string[] {
  return [
    ...imports.filter((i) => !CORE.includes(i)),
    ...[...text.matchAll(/(?:from\s+|import\s*\(\s*)'(node:[^']+|[a-z@][^']*)'/g)].map((m) => m[1]),
    ...(/new SharedArrayBuffer/.test(text) ? ['new SharedArrayBuffer'] : []),
  ].map((what) => `${file} → ${what}`);
}

function layerOf(file: string): number {
  const top = file.split('/')[0];
  const layer = LAYERS.findIndex((names) => names.includes(top));
  if (layer < 0) throw new Error(`${file}: in no layer of LAYERS`);
  return layer;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [relative(src, path)] : [];
  });
}

/** Every module of src/ and the modules it imports (static, type-only and dynamic), by path in src/. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(src)) {
    const text = readFileSync(join(src, file), 'utf8');
    const specifiers = [...text.matchAll(/(?:from\s+|import\s*\(\s*)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]);
    graph.set(
      file,
      specifiers.map((s) => relative(src, join(src, dirname(file), s)).replace(/\.js$/, '.ts')),
    );
  }
  return graph;
}

/** The import cycles: strongly connected components of more than one module (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('the structure of src/', () => {
  const graph = importGraph();

  it('every import names a module that exists', () => {
    const missing = [...graph].flatMap(([file, imports]) =>
      imports.filter((i) => !graph.has(i)).map((i) => `${file} → ${i}`),
    );
    expect(missing).toEqual([]);
  });

  it('imports run one way, down the layers', () => {
    const upward = [...graph].flatMap(([file, imports]) =>
      imports.filter((i) => dirname(i) !== dirname(file) && layerOf(i) <= layerOf(file)).map((i) => `${file} → ${i}`),
    );
    expect(upward).toEqual([]);
  });

  it('no module imports itself through others', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('the core imports nothing from node: or the platform layers, and allocates no shared memory', () => {
    const outside = CORE.flatMap((file) => outsideCore(file, readFileSync(join(src, file), 'utf8'), graph.get(file)!));
    expect(outside).toEqual([]);
  });

  it('finds the faults it is there for', () => {
    expect(outsideCore('model/a.ts', "import { x } from 'node:fs';", ['model/rng.ts'])).toEqual([
      'model/a.ts → node:fs',
    ]);
    expect(outsideCore('model/a.ts', 'const b = new SharedArrayBuffer(4);', ['io/files.ts'])).toEqual([
      'model/a.ts → io/files.ts',
      'model/a.ts → new SharedArrayBuffer',
    ]);

    const faulty = new Map([
      ['model/a.ts', ['model/b.ts']],
      ['model/b.ts', ['model/c.ts']],
      ['model/c.ts', ['model/a.ts', 'data/d.ts']],
      ['data/d.ts', []],
    ]);
    expect(cycles(faulty)).toEqual([['model/a.ts', 'model/b.ts', 'model/c.ts']]);
    expect(layerOf('data/d.ts')).toBeGreaterThan(layerOf('model/a.ts'));
    expect(layerOf('cli/main.ts')).toBeLessThan(layerOf('train/fit.ts'));
  });
});
