// `bench --time-to ACC`: the README's 98 % recipe raced against the same recipe in PyTorch, each a
// process of its own timed from its start to the first epoch whose held-out accuracy reaches ACC.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bundledMnistDir } from '../data/mnist.js';
import { peerEnv, peersDir, pythonWith } from './benchmark.js';

/** The README's recipe for 98 %, chosen on the validation split (the last 10 % of the training images). */
export const RECIPE_98 = [
  ...['--hidden', '512', '--optimizer', 'adam', '--lr', '2e-3', '--batch', '256', '--epochs', '8'],
  ...['--schedule', 'cosine', '--dropout', '0.2', '--shuffle', '--val-split', '0.1'],
];

export interface TimeToRow {
  peer: string;
  /** Seconds from the process's start to the end of the first epoch at the target; none when never reached. */
  seconds?: number;
  epoch?: number;
  bestValAccuracy: number;
  testAccuracy?: number;
  /** The whole run, start to exit. */
  wallSeconds: number;
}

const BIN = fileURLToPath(new URL('../../bin/backprop.js', import.meta.url));

/** Runs one racer, reading its JSON lines as they arrive: `{event: 'epoch', valAccuracy}` and `{event: 'test', accuracy}`. */
export function race(peer: string, command: string, args: string[], target: number): Promise<TimeToRow> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { env: peerEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    const row: TimeToRow = { peer, bestValAccuracy: 0, wallSeconds: 0 };
    let pending = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      const now = (performance.now() - started) / 1000;
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines.filter((l) => l.startsWith('{'))) {
        const event = JSON.parse(line) as { event: string; epoch?: number; valAccuracy?: number; accuracy?: number };
        if (event.event === 'epoch' && event.valAccuracy !== undefined) {
          row.bestValAccuracy = Math.max(row.bestValAccuracy, event.valAccuracy);
          if (row.seconds === undefined && event.valAccuracy >= target) {
            row.seconds = now;
            row.epoch = event.epoch;
          }
        }
        if (event.event === 'test') row.testAccuracy = event.accuracy;
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      row.wallSeconds = (performance.now() - started) / 1000;
      if (code === 0) resolve(row);
      else reject(new Error(`${peer} failed (exit ${code}): ${stderr.trim().split('\n').at(-1) ?? ''}`));
    });
  });
}

/** backprop's recipe, then PyTorch's when a python3 imports torch (a note otherwise), one after the other. */
export async function timeToAccuracy(target: number, notes: string[]): Promise<TimeToRow[]> {
  const rows = [await race('backprop', process.execPath, [BIN, 'train', ...RECIPE_98, '--json'], target)];
  const python = pythonWith('torch');
  if (python) {
    rows.push(await race('pytorch', python, [`${peersDir}torch_recipe.py`, bundledMnistDir()], target));
  } else {
    notes.push(
      'pytorch skipped: no python3 imports torch (on Debian: apt-get install python3-torch libopenblas0-pthread)',
    );
  }
  return rows;
}
