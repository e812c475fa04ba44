import { BACKEND_NAMES } from '../backends/select.js';
import type { OptionSpec } from './options.js';

export const ISA_NAMES = ['avx512', 'avx2', 'neon', 'scalar'] as const;

/** Options of every command that trains: the seed's four, then the rest. */
export const TRAIN_OPTIONS: readonly OptionSpec[] = [
  { name: 'hidden', kind: { type: 'intList', min: 1, max: 2 ** 31 }, value: 'N[,N…]', help: 'hidden layer sizes', default: '30' },
  { name: 'epochs', kind: { type: 'int', min: 1, max: 1_000_000 }, value: 'N', help: 'passes over the training data', default: '20' },
  { name: 'lr', kind: { type: 'number', min: 0, exclusiveMin: true }, value: 'X', help: 'learning rate; a decimal comma works too (0,1)', default: '0.1' },
  { name: 'batch', kind: { type: 'int', min: 1, max: 2 ** 24 }, value: 'N', help: 'samples per SGD step', default: '100' },
  { name: 'seed', kind: { type: 'int', min: 0, max: 2 ** 32 - 1 }, value: 'N', help: 'seeds the initial weights and the shuffle', default: '1' },
  { name: 'shuffle', kind: { type: 'flag' }, help: 'reshuffle the training samples every epoch (default: in order, like the seed)' },
  { name: 'data', kind: { type: 'path' }, value: 'DIR', help: 'a folder with the four MNIST IDX files (plain or .gz); default: the bundled MNIST' },
  { name: 'limit', kind: { type: 'int', min: 1, max: 2 ** 31 }, value: 'N', help: 'use only the first N training samples' },
  { name: 'backend', kind: { type: 'choice', choices: BACKEND_NAMES }, value: 'NAME', help: 'native, ts, or auto (native if built; env BACKPROP_BACKEND)' },
  { name: 'isa', kind: { type: 'choice', choices: ISA_NAMES }, value: 'NAME', help: 'force the native kernels to avx512, avx2, neon or scalar (env BACKPROP_ISA)' },
  { name: 'threads', kind: { type: 'int', min: 1, max: 256 }, value: 'N', help: 'native threads (default: all available)' },
  { name: 'json', kind: { type: 'flag' }, help: 'print JSON lines on stdout instead of text' },
];

/** Options of `backprop bench`. */
export const BENCH_OPTIONS: readonly OptionSpec[] = [
  { name: 'hidden', kind: { type: 'intList', min: 1, max: 65536 }, value: 'N[,N…]', help: 'hidden layer sizes to time', default: '30,128,256,1024,2048' },
  { name: 'batch', kind: { type: 'intList', min: 1, max: 60000 }, value: 'N[,N…]', help: 'batch sizes to time', default: '1,10,100,1000' },
  { name: 'isa', kind: { type: 'choice', choices: ISA_NAMES }, value: 'NAME', help: 'time only this native ISA (default: every one the CPU has)' },
  { name: 'repeats', kind: { type: 'int', min: 1, max: 100 }, value: 'N', help: 'timed repeats per result, after a warm-up; the median is reported', default: '5' },
  { name: 'seconds', kind: { type: 'number', min: 0, exclusiveMin: true }, value: 'S', help: 'length of one timed repeat (whole batches; at most an epoch)', default: '0.15' },
  { name: 'no-peers', kind: { type: 'flag' }, help: 'skip numpy and TensorFlow.js' },
  { name: 'out', kind: { type: 'path' }, value: 'DIR', help: 'where latest.json and latest.md are written', default: 'bench/results' },
  { name: 'json', kind: { type: 'flag' }, help: 'print JSON lines on stdout instead of the table' },
];
