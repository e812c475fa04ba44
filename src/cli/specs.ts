import {
  activationHelp,
  HIDDEN_ACTIVATIONS,
  LOSSES,
  MSE_OUTPUTS,
  OUTPUT_ACTIVATIONS,
} from '../backends/activations.js';
import { OPTIMIZERS, optimizerHelp } from '../backends/optimizers.js';
import { sgd } from '../backends/backend.js';
import { noiseSpec } from '../backends/noise.js';
import { SCHEDULES, scheduleHelp } from '../train/schedules.js';
import { BACKEND_NAMES } from '../backends/select.js';
import { FIT_DEFAULTS, SAMPLINGS } from '../train/fit.js';
import { DELIMITER_NAMES, NORMALIZATIONS } from '../data/csv.js';
import { omit, pick, type Options, type OptionSpec } from './options.js';

export const ISA_NAMES = ['avx512', 'avx2', 'neon', 'scalar'] as const;

/** The optimizer settings that apply when no option changes them (backends/backend.ts). */
const OPTIMIZER_DEFAULTS = sgd(FIT_DEFAULTS.learningRate);

/** Options of `train` that save and resume models. */
export const SAVE_OPTIONS = [
  {
    name: 'save',
    group: 'output',
    kind: { type: 'path' },
    value: 'FILE',
    help: 'save the model (safetensors) at the end, or when interrupted',
  },
  {
    name: 'checkpoint-every',
    group: 'output',
    kind: { type: 'int', min: 1, max: 1_000_000 },
    value: 'N',
    help: 'also save every N epochs',
  },
  {
    name: 'save-best',
    group: 'output',
    kind: { type: 'flag' },
    help: 'save only the epoch with the best validation accuracy',
  },
  {
    name: 'patience',
    group: 'training',
    kind: { type: 'int', min: 1, max: 1_000_000 },
    value: 'N',
    help: 'stop when the validation error has not improved for N epochs',
  },
  {
    name: 'resume',
    group: 'output',
    kind: { type: 'path' },
    value: 'FILE',
    help: 'continue the run saved in FILE (same options otherwise)',
  },
] as const satisfies readonly OptionSpec[];

/** Options of every command that trains: the seed's four, then the rest. */
export const TRAIN_OPTIONS = [
  {
    name: 'hidden',
    group: 'network',
    kind: { type: 'intList', min: 1, max: 2 ** 31 },
    value: 'N[,N…]',
    help: 'hidden layer sizes',
    default: '30',
  },
  {
    name: 'epochs',
    group: 'training',
    kind: { type: 'int', min: 1, max: 1_000_000 },
    value: 'N',
    help: `passes over the training data (default ${FIT_DEFAULTS.epochs})`,
  },
  {
    name: 'lr',
    group: 'training',
    kind: { type: 'number', min: 0, exclusiveMin: true },
    value: 'X',
    help: 'learning rate; a decimal comma works too (0,1)',
    default: String(FIT_DEFAULTS.learningRate),
  },
  {
    name: 'batch',
    group: 'training',
    kind: { type: 'int', min: 1, max: 2 ** 24 },
    value: 'N',
    help: 'samples per SGD step',
    default: String(FIT_DEFAULTS.batchSize),
  },
  {
    name: 'seed',
    group: 'training',
    kind: { type: 'int', min: 0, max: 2 ** 32 - 1 },
    value: 'N',
    help: 'seeds the initial weights and the sampling',
    default: String(FIT_DEFAULTS.seed),
  },
  {
    name: 'activation',
    group: 'network',
    kind: { type: 'choiceList', choices: HIDDEN_ACTIVATIONS },
    value: 'NAME[,…]',
    help: `hidden activation, one for all hidden layers or one each: ${activationHelp(HIDDEN_ACTIVATIONS)}`,
    default: 'relu',
  },
  {
    name: 'output',
    group: 'network',
    kind: { type: 'choice', choices: OUTPUT_ACTIVATIONS },
    value: 'NAME',
    help: `output: softmax (with cross-entropy), or ${MSE_OUTPUTS.join(', ')} (with mse; default linear)`,
  },
  {
    name: 'loss',
    group: 'network',
    kind: { type: 'choice', choices: LOSSES },
    value: 'NAME',
    help: 'cross-entropy, or mse: ½·Σ(y − t)² per sample against one-hot or given targets',
    default: 'cross-entropy',
  },
  {
    name: 'augment',
    group: 'training',
    kind: { type: 'text' },
    value: 'SPEC',
    help: 'distort the training images anew each epoch: shift=PX,rotate=DEG,scale=X,elastic=ALPHA:SIGMA (any of them; Simard: elastic=34:4)',
  },
  {
    name: 'dropout',
    group: 'network',
    kind: { type: 'numberList', min: 0, max: noiseSpec('dropout').maxRate },
    value: 'P[,P…]',
    help: 'while training, drop each hidden unit with probability P (one for all hidden layers, or one each)',
    default: '0',
  },
  { name: 'no-bias', group: 'network', kind: { type: 'flag' }, help: 'no biases (the tutorial network has none)' },
  { name: 'bias', group: 'network', kind: { type: 'flag' }, help: 'biases on every layer (the default)' },
  {
    name: 'init',
    group: 'network',
    kind: { type: 'path' },
    value: 'NAME|FILE',
    help: 'initial weights: normal, he, xavier, uniform, or a JSON file of weights',
    default: 'normal',
  },
  {
    name: 'init-scale',
    group: 'network',
    kind: { type: 'number', min: 0, exclusiveMin: true },
    value: 'X',
    help: "std of normal (default 0.1, the seed's) or half-width of uniform (default 0.5)",
  },
  {
    name: 'optimizer',
    group: 'training',
    kind: { type: 'choice', choices: OPTIMIZERS },
    value: 'NAME',
    help: optimizerHelp(),
    default: 'sgd',
  },
  {
    name: 'momentum',
    group: 'training',
    kind: { type: 'number', min: 0 },
    value: 'X',
    help: "momentum's μ",
    default: String(OPTIMIZER_DEFAULTS.momentum),
  },
  {
    name: 'weight-decay',
    group: 'training',
    kind: { type: 'number', min: 0 },
    value: 'X',
    help: 'L2 decay of the weights (not the biases)',
    default: String(OPTIMIZER_DEFAULTS.weightDecay),
  },
  {
    name: 'schedule',
    group: 'training',
    kind: { type: 'choice', choices: SCHEDULES },
    value: 'NAME',
    help: `learning-rate schedule: ${scheduleHelp()}`,
    default: 'constant',
  },
  {
    name: 'warmup',
    group: 'training',
    kind: { type: 'int', min: 0, max: 2 ** 40 },
    value: 'N',
    help: 'steps of linear warm-up to the learning rate first',
    default: '0',
  },
  {
    name: 'sampling',
    group: 'training',
    kind: { type: 'choice', choices: SAMPLINGS },
    value: 'NAME',
    help: 'order (like the seed), shuffle (every epoch), or random (draws with replacement)',
  },
  { name: 'shuffle', group: 'training', kind: { type: 'flag' }, help: 'the same as --sampling shuffle' },
  {
    name: 'steps',
    group: 'training',
    kind: { type: 'int', min: 1, max: 2 ** 40 },
    value: 'N',
    help: 'train N steps (batches) in all instead of --epochs',
  },
  {
    name: 'data',
    group: 'data',
    kind: { type: 'path' },
    value: 'DIR|FILE',
    help: 'a folder with the four MNIST IDX files (plain or .gz), or a .csv/.tsv file; default: the bundled MNIST',
  },
  {
    name: 'limit',
    group: 'data',
    kind: { type: 'int', min: 1, max: 2 ** 31 },
    value: 'N',
    help: 'use only the first N training samples',
  },
  {
    name: 'target',
    group: 'data',
    kind: { type: 'path' },
    value: 'COL[,COL…]',
    help: 'CSV: the label column (cross-entropy) or target columns (mse); default the last',
  },
  {
    name: 'normalize',
    group: 'data',
    kind: { type: 'choice', choices: NORMALIZATIONS },
    value: 'NAME',
    help: 'CSV: scale features by minmax or zscore, fitted on the training rows',
  },
  {
    name: 'delimiter',
    group: 'data',
    kind: { type: 'choice', choices: DELIMITER_NAMES },
    value: 'NAME',
    help: 'CSV: comma, semicolon (decimal commas allowed) or tab; default: detected from the first line',
  },
  {
    name: 'classes',
    group: 'data',
    kind: { type: 'int', min: 1, max: 256 },
    value: 'N',
    help: 'the number of classes, when some have no training samples (default: labels 0…max, all present)',
  },
  {
    name: 'val-split',
    group: 'data',
    kind: { type: 'number', min: 0, exclusiveMin: true },
    value: 'X',
    help: 'CSV: hold out the last fraction X of the rows for validation',
  },
  {
    name: 'backend',
    group: 'backend',
    kind: { type: 'choice', choices: BACKEND_NAMES },
    value: 'NAME',
    help: 'native, wasm, ts, or auto (native if it loads, else wasm; env BACKPROP_BACKEND)',
  },
  {
    name: 'isa',
    group: 'backend',
    kind: { type: 'choice', choices: ISA_NAMES },
    value: 'NAME',
    help: 'force the native kernels to avx512, avx2, neon or scalar (env BACKPROP_ISA)',
  },
  {
    name: 'threads',
    group: 'backend',
    kind: { type: 'int', min: 1, max: 256 },
    value: 'N',
    help: 'native threads (default: all available)',
  },
  { name: 'json', group: 'output', kind: { type: 'flag' }, help: 'print JSON lines on stdout instead of text' },
  {
    name: 'progress-json',
    group: 'output',
    kind: { type: 'flag' },
    help: 'with --json: also {"event":"progress",…} lines while an epoch trains',
  },
  { name: 'quiet', group: 'output', kind: { type: 'flag' }, help: 'no progress bar and no chart in a terminal' },
  {
    name: 'log-every',
    group: 'output',
    kind: { type: 'int', min: 1, max: 1_000_000 },
    value: 'N',
    help: 'print every Nth epoch line, the last, and at the end the best when it was not printed',
    default: '1',
  },
  {
    name: 'report',
    group: 'output',
    kind: { type: 'path' },
    value: 'FILE.html',
    help: 'write a self-contained HTML report (curves, confusion matrix, wrong digits)',
  },
  ...SAVE_OPTIONS,
] as const satisfies readonly OptionSpec[];

/** Options of `backprop bench`. */
export const BENCH_OPTIONS = [
  {
    name: 'hidden',
    kind: { type: 'intList', min: 1, max: 65536 },
    value: 'N[,N…]',
    help: 'hidden layer sizes to time',
    default: '30,128,256,1024,2048',
  },
  {
    name: 'batch',
    kind: { type: 'intList', min: 1, max: 60000 },
    value: 'N[,N…]',
    help: 'batch sizes to time',
    default: '1,10,100,1000',
  },
  {
    name: 'isa',
    kind: { type: 'choice', choices: ISA_NAMES },
    value: 'NAME',
    help: 'time only this native ISA (default: every one the CPU has)',
  },
  {
    name: 'repeats',
    kind: { type: 'int', min: 1, max: 100 },
    value: 'N',
    help: 'timed repeats per result, after a warm-up; the median is reported',
    default: '5',
  },
  {
    name: 'seconds',
    kind: { type: 'number', min: 0, exclusiveMin: true },
    value: 'S',
    help: 'length of one timed repeat (whole batches; at most an epoch)',
    default: '0.15',
  },
  {
    name: 'deeper',
    kind: { type: 'intList', min: 1, max: 65536 },
    value: 'N,N…',
    help: 'hidden sizes of one deeper ReLU network timed at batch 100',
    default: '256,128',
  },
  { name: 'no-deeper', kind: { type: 'flag' }, help: 'skip the deeper network' },
  { name: 'no-peers', kind: { type: 'flag' }, help: 'skip the peers: numpy, PyTorch and TensorFlow.js' },
  {
    name: 'contention',
    kind: { type: 'flag' },
    help: 'run beside one busy process per core but one, as on a machine doing other work',
  },
  {
    name: 'whole-runs',
    kind: { type: 'int', min: 0, max: 100 },
    value: 'N',
    help: 'time `backprop train` with the seed defaults N times, process start included (0: skip)',
    default: '3',
  },
  {
    name: 'time-to',
    kind: { type: 'number', min: 0, exclusiveMin: true },
    value: 'ACC',
    help: "instead of the grid: the README's 98 % recipe and the same in PyTorch, each timed from its process's start to the first epoch at ACC held-out accuracy",
  },
  {
    name: 'out',
    kind: { type: 'path' },
    value: 'DIR',
    help: 'write latest.json and latest.md there (bench/results holds the committed ones); nothing is written without it',
  },
  {
    name: 'report',
    kind: { type: 'path' },
    value: 'FILE.html',
    help: 'also write an HTML report with bar charts of the timings',
  },
  { name: 'json', kind: { type: 'flag' }, help: 'print JSON lines on stdout instead of the table' },
] as const satisfies readonly OptionSpec[];

/** Options of `backprop gradcheck`: the network's options of `train`, on a small random problem. */
export const GRADCHECK_OPTIONS = [
  {
    name: 'hidden',
    kind: { type: 'intList', min: 1, max: 64 },
    value: 'N[,N…]',
    help: 'hidden layer sizes',
    default: '5,4',
  },
  {
    name: 'inputs',
    kind: { type: 'int', min: 1, max: 64 },
    value: 'N',
    help: 'inputs of the random problem',
    default: '7',
  },
  {
    name: 'outputs',
    kind: { type: 'int', min: 1, max: 64 },
    value: 'N',
    help: 'outputs (classes) of the random problem',
    default: '3',
  },
  { name: 'rows', kind: { type: 'int', min: 1, max: 256 }, value: 'N', help: 'samples in the batch', default: '6' },
  ...pick(TRAIN_OPTIONS, [
    'activation',
    'output',
    'loss',
    'dropout',
    'no-bias',
    'bias',
    'backend',
    'isa',
    'threads',
    'seed',
    'json',
  ]),
  {
    name: 'tolerance',
    kind: { type: 'number', min: 0, exclusiveMin: true },
    value: 'X',
    help: 'largest relative error that passes',
    default: '1e-4',
  },
] as const satisfies readonly OptionSpec[];

/** Options of `backprop lr-find`: the network and data of `train`, and the probe's range. */
export const LR_FIND_OPTIONS = [
  ...omit(TRAIN_OPTIONS, [
    'lr',
    'epochs',
    'steps',
    'schedule',
    'warmup',
    'progress-json',
    'quiet',
    'log-every',
    ...SAVE_OPTIONS.map((spec) => spec.name),
  ]),
  {
    name: 'start-lr',
    kind: { type: 'number', min: 0, exclusiveMin: true },
    value: 'X',
    help: 'the learning rate of the first batch',
    default: '1e-7',
  },
  {
    name: 'end-lr',
    kind: { type: 'number', min: 0, exclusiveMin: true },
    value: 'X',
    help: 'the learning rate of the last batch, unless the loss diverges first',
    default: '10',
  },
  {
    name: 'steps',
    kind: { type: 'int', min: 2, max: 100_000 },
    value: 'N',
    help: 'batches of the probe, the rate growing by the same factor at each',
    default: '100',
  },
] as const satisfies readonly OptionSpec[];

/** Options of `backprop example tutorial`. */
export const EXAMPLE_OPTIONS = [
  { name: 'bias', kind: { type: 'flag' }, help: 'add biases (weights then start uniform in [−0.5, 0.5])' },
  {
    name: 'steps',
    kind: { type: 'int', min: 1, max: 10_000_000 },
    value: 'N',
    help: 'online steps, one random vector each',
    default: '10000',
  },
  {
    name: 'lr',
    kind: { type: 'number', min: 0, exclusiveMin: true },
    value: 'X',
    help: 'learning rate',
    default: '0.01',
  },
  ...pick(TRAIN_OPTIONS, ['seed', 'backend', 'isa', 'threads', 'json']),
] as const satisfies readonly OptionSpec[];

/** Options of `backprop predict`. */
export const PREDICT_OPTIONS = [
  { name: 'model', kind: { type: 'path' }, value: 'FILE', help: 'a model saved by train --save (required)' },
  {
    name: 'data',
    kind: { type: 'path' },
    value: 'DIR|FILE',
    help: 'an IDX folder (its test images are used) or a CSV file; default: the bundled MNIST test set',
  },
  {
    name: 'image',
    kind: { type: 'paths' },
    value: 'FILE…',
    help: 'pictures of handwritten digits (PNG, JPEG, …): the predicted digit and the top 3',
  },
  { name: 'outputs', kind: { type: 'flag' }, help: "also print each sample's outputs beside its target or label" },
  ...pick(TRAIN_OPTIONS, ['backend', 'isa', 'threads', 'json']),
] as const satisfies readonly OptionSpec[];

/** Options of `backprop export`. */
export const EXPORT_OPTIONS = [
  { name: 'model', kind: { type: 'path' }, value: 'FILE', help: 'a model saved by train --save (required)' },
  {
    name: 'format',
    kind: { type: 'choice', choices: ['onnx'] },
    value: 'NAME',
    help: 'onnx (opset 13)',
    default: 'onnx',
  },
  { name: 'out', kind: { type: 'path' }, value: 'FILE', help: 'where to write it (required)' },
] as const satisfies readonly OptionSpec[];

/** Options of `backprop report`. */
export const REPORT_OPTIONS = [
  { name: 'model', kind: { type: 'path' }, value: 'FILE', help: 'a model saved by train --save (required)' },
  { name: 'out', kind: { type: 'path' }, value: 'FILE.html', help: 'where to write the report (required)' },
  {
    name: 'data',
    kind: { type: 'path' },
    value: 'DIR|FILE',
    help: 'evaluate on this data (default: the bundled MNIST test set)',
  },
  ...pick(TRAIN_OPTIONS, ['backend', 'isa', 'threads']),
] as const satisfies readonly OptionSpec[];

/** The options of the commands that train, as parsed. */
export type TrainOptions = Options<typeof TRAIN_OPTIONS>;
export type TrainOptionName = (typeof TRAIN_OPTIONS)[number]['name'];
