import { EVAL_ROWS, OptimizerState, parameterCount, type Backend } from '../backends/backend.js';
import { selectBackend } from '../backends/select.js';
import { takeFirst } from '../data/dataset.js';
import { bundledMnistDir, loadMnist, type MnistSplits } from '../data/mnist.js';
import { isDelimitedFile, loadCsv, type DelimiterName, type Normalization } from '../data/csv.js';
import { UsageError } from '../errors.js';
import { allocatable, megabytes } from '../memory.js';
import type { Activation, Loss } from '../backends/activations.js';
import { optimizerSpec, type OptimizerName } from '../backends/optimizers.js';
import { INIT_SCHEMES, readInitFile, type Init } from '../model/init.js';
import { Network, SEED_INIT_STD, type NetworkOptions } from '../model/network.js';
import type { FitOptions, Sampling } from '../train/fit.js';
import type { Schedule, ScheduleName } from '../train/schedules.js';
import type { ParsedOptions } from './options.js';

/** The training options of a parsed command line, typed. */
/** Where and when `train` saves the model, and what it shows while it runs. */
export interface SaveSettings {
  quiet: boolean;
  /** Print every Nth epoch line (the last and each new best always). */
  logEvery: number;
  report?: string;
  progressJson: boolean;
  save?: string;
  checkpointEvery?: number;
  saveBest: boolean;
  patience?: number;
  resume?: string;
}

export interface TrainSettings {
  hidden: number[];
  network: Omit<NetworkOptions, 'backend'>;
  init: Init;
  epochs: number;
  steps?: number;
  learningRate: number;
  optimizer: NonNullable<FitOptions['optimizer']>;
  schedule: Schedule;
  batchSize: number;
  seed: number;
  sampling: Sampling;
  dataDir: string;
  csv: { target?: string[]; normalize?: Normalization; valSplit?: number; delimiter?: DelimiterName };
  /** Declared classes, when some have no samples. */
  classes?: number;
  limit?: number;
  backendName?: string;
  isa?: string;
  threads?: number;
  json: boolean;
}

function initOf(options: ParsedOptions): Init {
  const name = options.get('init') as string;
  const scale = options.get('init-scale') as number | undefined;
  switch (name) {
    case 'normal':
      return { scheme: 'normal', std: scale ?? SEED_INIT_STD };
    case 'uniform':
      return { scheme: 'uniform', low: -(scale ?? 0.5), high: scale ?? 0.5 };
    case 'he':
    case 'xavier':
      if (scale !== undefined) throw new UsageError(`--init-scale does not apply to --init ${name}`);
      return { scheme: name };
    default:
      if (!name.endsWith('.json')) {
        throw new UsageError(`--init expects ${INIT_SCHEMES.join(', ')} or a .json file of weights, got '${name}'`);
      }
      return readInitFile(name);
  }
}

function samplingOf(options: ParsedOptions): Sampling {
  const sampling = options.get('sampling') as Sampling | undefined;
  if (options.has('shuffle') && sampling !== undefined && sampling !== 'shuffle') {
    throw new UsageError(`--shuffle and --sampling ${sampling} contradict each other`);
  }
  return options.has('shuffle') ? 'shuffle' : (sampling ?? 'order');
}

export function networkOf(options: ParsedOptions, hiddenLayers: number): TrainSettings['network'] {
  if (options.has('bias') && options.has('no-bias')) throw new UsageError('--bias and --no-bias contradict each other');
  const activations = options.get('activation') as Activation[];
  if (activations.length !== 1 && activations.length !== hiddenLayers) {
    throw new UsageError(`--activation lists ${activations.length} activations for ${hiddenLayers} hidden layers (give one, or one each)`);
  }
  return {
    hidden: activations.length === 1 ? activations[0] : activations,
    output: options.get('output') as Activation | undefined,
    loss: options.get('loss') as Loss,
    bias: !options.has('no-bias'),
  };
}

function csvOf(options: ParsedOptions): TrainSettings['csv'] {
  const valSplit = options.get('val-split') as number | undefined;
  if (valSplit !== undefined && valSplit >= 1) throw new UsageError(`--val-split must be below 1, got ${valSplit}`);
  const data = options.get('data') as string | undefined;
  const csv = data !== undefined && isDelimitedFile(data);
  for (const name of ['target', 'normalize', 'val-split', 'delimiter']) {
    if (options.has(name) && !csv) throw new UsageError(`--${name} applies to CSV data only (--data file.csv)`);
  }
  return {
    target: (options.get('target') as string | undefined)?.split(','),
    normalize: options.get('normalize') as Normalization | undefined,
    valSplit,
    delimiter: options.get('delimiter') as DelimiterName | undefined,
  };
}

/** --isa and --threads choose among native kernels: with --backend ts they would silently do nothing. */
function checkBackendOptions(options: ParsedOptions): void {
  if (options.get('backend') !== 'ts') return;
  for (const name of ['isa', 'threads']) {
    if (options.has(name)) throw new UsageError(`--${name} applies to the native backend, not --backend ts`);
  }
}

/** Options that would change nothing are errors, not silence. */
function checkOptionsAct(options: ParsedOptions): void {
  // A resumed run's optimizer is the saved one: checked against it when resuming.
  const name = options.get('optimizer') as OptimizerName;
  if (options.given.has('momentum') && !optimizerSpec(name).uses.includes('momentum') && !options.has('resume')) {
    throw new UsageError(`--momentum applies to --optimizer momentum, not ${name}`);
  }
  const lr = options.get('lr') as number;
  if (Math.fround(lr) === 0) throw new UsageError(`--lr ${lr} is 0 in float32, so nothing would be learned (the smallest is about 1.4e-45)`);
}

export function trainSettings(options: ParsedOptions): TrainSettings {
  checkBackendOptions(options);
  checkOptionsAct(options);
  const hidden = options.get('hidden') as number[];
  if (options.has('steps') && options.has('epochs')) throw new UsageError('--steps and --epochs contradict each other (give one)');
  return {
    hidden,
    network: networkOf(options, hidden.length),
    init: initOf(options),
    epochs: (options.get('epochs') as number | undefined) ?? 20,
    steps: options.get('steps') as number | undefined,
    learningRate: options.get('lr') as number,
    optimizer: {
      name: options.get('optimizer') as OptimizerName,
      momentum: options.get('momentum') as number,
      weightDecay: options.get('weight-decay') as number,
    },
    schedule: { name: options.get('schedule') as ScheduleName, warmup: options.get('warmup') as number },
    batchSize: options.get('batch') as number,
    seed: options.get('seed') as number,
    sampling: samplingOf(options),
    dataDir: (options.get('data') as string | undefined) ?? bundledMnistDir(),
    csv: csvOf(options),
    classes: options.get('classes') as number | undefined,
    limit: options.get('limit') as number | undefined,
    backendName: options.get('backend') as string | undefined,
    isa: (options.get('isa') as string | undefined) ?? process.env.BACKPROP_ISA,
    threads: options.get('threads') as number | undefined,
    json: options.has('json'),
  };
}

/**
 * Refuses a network whose buffers (parameters, gradients, activations and error signals of a batch)
 * could not fit in memory, before anything is allocated.
 */
export function checkMemory(sizes: readonly number[], rows: number, optimizerStates = 0): void {
  const widest = Math.max(...sizes.slice(1));
  const floats = (2 + optimizerStates) * parameterCount(sizes) + rows * (sizes.slice(1).reduce((a, b) => a + b, 0) + 2 * widest + sizes[0]);
  const bytes = 4 * floats;
  const { bytes: limit, why } = allocatable();
  if (bytes > limit) {
    throw new UsageError(`a ${sizes.join('-')} network needs ${megabytes(bytes)} for its parameters, gradients and activations; ${why} — use smaller layers`);
  }
}

/** MNIST-style IDX folders, or a CSV/TSV file. */
export function loadData(settings: Pick<TrainSettings, 'dataDir' | 'network' | 'csv' | 'classes'>): MnistSplits {
  if (!isDelimitedFile(settings.dataDir)) return loadMnist(settings.dataDir, settings.classes);
  const targetKind = settings.network.loss === 'mse' ? 'values' : 'classes';
  const { train, test, features, scaling, classNames } = loadCsv(settings.dataDir, { ...settings.csv, targetKind, classes: settings.classes });
  const { target, delimiter } = settings.csv;
  return { train, test, dir: settings.dataDir, preprocessing: { kind: 'csv', target, features, ...scaling, classNames, delimiter } };
}

export interface Prepared {
  data: MnistSplits;
  sizes: number[];
  backend: Backend;
  fallbackReason?: string;
}

/** Loads the data, sizes the network and picks the backend for a training command. */
export function prepareTraining(settings: TrainSettings, backendName = settings.backendName): Prepared {
  const { backend, fallbackReason } = selectBackend(backendName, { isa: settings.isa, threads: settings.threads });
  const loaded = loadData(settings);
  const data = settings.limit ? { ...loaded, train: takeFirst(loaded.train, settings.limit) } : loaded;
  if (settings.batchSize > data.train.count) {
    throw new UsageError(`--batch ${settings.batchSize} is larger than the training set (${data.train.count} samples)`);
  }
  const sizes = [data.train.features, ...settings.hidden, data.train.outputs];
  const states = OptimizerState.buffers(settings.optimizer.name ?? 'sgd');
  checkMemory(sizes, Math.max(settings.batchSize, EVAL_ROWS), states);
  return { data, sizes, backend, fallbackReason };
}

/** The network the settings describe, on `backend`, initialised. */
export function buildNetwork(settings: TrainSettings, sizes: readonly number[], backend: Backend): Network {
  return new Network(sizes, { ...settings.network, backend }).initialize(settings.init, settings.seed);
}

export function fitOptions(settings: TrainSettings): FitOptions {
  const { batchSize, learningRate, optimizer, schedule, epochs, steps, sampling, seed } = settings;
  return { batchSize, learningRate, optimizer, schedule, epochs, steps, sampling, seed };
}

export function saveSettings(options: ParsedOptions): SaveSettings {
  const save = options.get('save') as string | undefined;
  for (const name of ['checkpoint-every', 'save-best']) {
    if (options.has(name) && !save) throw new UsageError(`--${name} needs --save FILE`);
  }
  if (options.has('save-best') && options.has('checkpoint-every')) throw new UsageError('--save-best and --checkpoint-every contradict each other (one file)');
  if (options.has('progress-json') && !options.has('json')) throw new UsageError('--progress-json goes with --json');
  return {
    quiet: options.has('quiet'),
    logEvery: options.get('log-every') as number,
    report: options.get('report') as string | undefined,
    progressJson: options.has('progress-json'),
    save,
    checkpointEvery: options.get('checkpoint-every') as number | undefined,
    saveBest: options.has('save-best'),
    patience: options.get('patience') as number | undefined,
    resume: options.get('resume') as string | undefined,
  };
}

/** The backend a command's --backend, --isa (or BACKPROP_ISA) and --threads ask for. */
export function backendFrom(options: ParsedOptions): Backend {
  checkBackendOptions(options);
  return selectBackend(options.get('backend') as string | undefined, {
    isa: (options.get('isa') as string | undefined) ?? process.env.BACKPROP_ISA,
    threads: options.get('threads') as number | undefined,
  }).backend;
}
