import { EVAL_ROWS, OptimizerState, type Backend } from '../backends/backend.js';
import { parameterCount, parameterLayout } from '../backends/layers.js';
import { selectBackend, type Selected } from '../backends/select.js';
import { takeFirst } from '../data/dataset.js';
import { bundledMnistDir, type MnistSplits } from '../data/mnist.js';
import { isDelimitedFile, type DelimiterName, type Normalization, type Scaling } from '../data/csv.js';
import { dataFiles, loadData, type LoadOptions } from '../data/load.js';
import { refuseAliases, refuseStreams, type NamedPath } from '../io/files.js';
import type { Loss } from '../backends/activations.js';
import { UsageError } from '../errors.js';
import { megabytes } from '../memory.js';
import { allocatable } from '../io/machine.js';
import { optimizerSpec } from '../backends/optimizers.js';
import { INIT_SCHEMES, type Init } from '../model/init.js';
import { readInitFile } from '../model/init-file.js';
import { Network, SEED_INIT_STD, type NetworkOptions } from '../model/network.js';
import { FIT_DEFAULTS, type FitSettings, type Sampling } from '../train/fit.js';
import { TRAINING_SETTINGS, withSetting } from '../train/settings.js';
import { camelCase } from './options.js';
import type { TrainOptions } from './specs.js';
import { parseAugmentation, type Augmentation } from '../train/augmentation.js';

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

export type TrainSettings = FitSettings &
  Required<Pick<FitSettings, 'optimizer' | 'schedule' | keyof typeof FIT_DEFAULTS>> & {
    hidden: number[];
    network: Omit<NetworkOptions, 'backend'>;
    init: Init;
    dataDir: string;
    /** How a CSV file is read; a resumed run restores its saved scaling instead of fitting it again. */
    csv: {
      target?: string[];
      normalize?: Normalization;
      valSplit?: number;
      delimiter?: DelimiterName;
      scaling?: Scaling;
      targetScaling?: Scaling;
    };
    /** Declared classes, when some have no samples. */
    classes?: number;
    limit?: number;
    backendName?: string;
    isa?: string;
    threads?: number;
    json: boolean;
  };

/** What trainSettings reads: the options of train, of which compare has all but --backend and --resume. */
export type TrainingOptions = Omit<TrainOptions, 'backend' | 'resume' | keyof SaveOnlyOptions> &
  Partial<Pick<TrainOptions, 'backend' | 'resume'>>;
type SaveOnlyOptions = Pick<
  TrainOptions,
  'save' | 'checkpointEvery' | 'saveBest' | 'patience' | 'progressJson' | 'quiet' | 'logEvery'
>;

function initOf({ init: name, initScale: scale }: Pick<TrainOptions, 'init' | 'initScale'>): Init {
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

const AUGMENT_NEEDS_IMAGES = '--augment distorts images: it applies to IDX data (MNIST and its kind), not a CSV file';

function augmentOf({ augment, data }: Pick<TrainingOptions, 'augment' | 'data'>): Augmentation | undefined {
  if (augment === undefined) return undefined;
  if (data !== undefined && isDelimitedFile(data)) throw new UsageError(AUGMENT_NEEDS_IMAGES);
  const spec = parseAugmentation(augment);
  if (typeof spec === 'string') throw new UsageError(`--augment: ${spec}`);
  return spec;
}

export function samplingOf({ sampling, shuffle }: Pick<TrainOptions, 'sampling' | 'shuffle'>): Sampling {
  if (shuffle && sampling !== undefined && sampling !== 'shuffle') {
    throw new UsageError(`--shuffle and --sampling ${sampling} contradict each other`);
  }
  return shuffle ? 'shuffle' : (sampling ?? FIT_DEFAULTS.sampling);
}

export function networkOf(
  options: Pick<TrainOptions, 'bias' | 'noBias' | 'activation' | 'output' | 'loss' | 'dropout'>,
  hiddenLayers: number,
): TrainSettings['network'] {
  if (options.bias && options.noBias) throw new UsageError('--bias and --no-bias contradict each other');
  const activations = options.activation;
  if (activations.length !== 1 && activations.length !== hiddenLayers) {
    throw new UsageError(
      `--activation lists ${activations.length} activations for ${hiddenLayers} hidden layers (give one, or one each)`,
    );
  }
  const dropout = options.dropout;
  if (dropout.length !== 1 && dropout.length !== hiddenLayers) {
    throw new UsageError(
      `--dropout lists ${dropout.length} rates for ${hiddenLayers} hidden layers (give one, or one each)`,
    );
  }
  return {
    hidden: activations.length === 1 ? activations[0] : activations,
    output: options.output,
    loss: options.loss,
    bias: !options.noBias,
    dropout: dropout.length === 1 ? dropout[0] : dropout,
  };
}

function csvOf(
  options: Pick<TrainingOptions, 'data' | 'target' | 'normalize' | 'valSplit' | 'delimiter' | 'resume'>,
): TrainSettings['csv'] {
  const { data, target, normalize, valSplit, delimiter } = options;
  if (valSplit !== undefined && valSplit >= 1) throw new UsageError(`--val-split must be below 1, got ${valSplit}`);
  // A resumed run's data are the saved ones: checked against them when resuming.
  if (!(options.resume !== undefined && data === undefined))
    refuseCsvOptions({ target, normalize, delimiter }, data === undefined || !isDelimitedFile(data));
  return { target: target?.split(','), normalize, valSplit, delimiter };
}

/** The CSV options given, refused when the data are not a CSV file (--val-split takes both kinds). */
export function refuseCsvOptions(
  csv: { target?: unknown; normalize?: unknown; delimiter?: unknown },
  notCsv: boolean,
): void {
  const given = Object.entries({
    target: csv.target,
    normalize: csv.normalize,
    delimiter: csv.delimiter,
  }).find(([, value]) => value !== undefined)?.[0];
  if (given && notCsv) throw new UsageError(`--${given} applies to CSV data only (--data file.csv)`);
}

type BackendOptions = Pick<TrainOptions, 'isa' | 'threads'> & Partial<Pick<TrainOptions, 'backend'>>;

/** --isa and --threads choose among native kernels: with --backend ts or wasm they would silently do nothing. */
function checkBackendOptions({ backend, isa, threads }: BackendOptions): void {
  if (backend !== 'ts' && backend !== 'wasm') return;
  if (isa !== undefined) throw new UsageError(`--isa applies to the native backend, not --backend ${backend}`);
  if (threads !== undefined) throw new UsageError(`--threads applies to the native backend, not --backend ${backend}`);
}

/** Options that would change nothing are errors, not silence. */
function checkOptionsAct({
  optimizer: name,
  lr,
  resume,
  given,
}: Pick<TrainingOptions, 'optimizer' | 'lr' | 'resume' | 'given'>): void {
  // A resumed run's optimizer is the saved one: checked against it when resuming.
  if (given.has('momentum') && !optimizerSpec(name).uses.includes('momentum') && resume === undefined) {
    throw new UsageError(`--momentum applies to --optimizer momentum, not ${name}`);
  }
  if (Math.fround(lr) === 0)
    throw new UsageError(`--lr ${lr} is 0 in float32, so nothing would be learned (the smallest is about 1.4e-45)`);
}

export function trainSettings(options: TrainingOptions): TrainSettings {
  checkBackendOptions(options);
  checkOptionsAct(options);
  const { hidden, steps, epochs } = options;
  if (steps !== undefined && epochs !== undefined)
    throw new UsageError('--steps and --epochs contradict each other (give one)');
  // Each training setting's option in its place; those read from more than their option, after.
  const values: Partial<Record<string, unknown>> = options;
  const given = TRAINING_SETTINGS.reduce(
    (settings, setting) => (setting.flag ? withSetting(settings, setting, values[camelCase(setting.flag)]) : settings),
    {},
  );
  return {
    hidden,
    network: networkOf(options, hidden.length),
    init: initOf(options),
    ...given,
    epochs: epochs ?? FIT_DEFAULTS.epochs,
    sampling: samplingOf(options),
    augment: augmentOf(options),
    dataDir: options.data ?? bundledMnistDir(),
    csv: csvOf(options),
    backendName: options.backend,
    isa: options.isa ?? process.env.BACKPROP_ISA,
    threads: options.threads,
    json: options.json,
  } as TrainSettings;
}

/**
 * Refuses a network whose buffers (parameters, gradients, activations and error signals of a batch)
 * could not fit in memory, before anything is allocated.
 */
export function checkMemory(sizes: readonly number[], rows: number, optimizerStates = 0): void {
  const widest = Math.max(...sizes.slice(1));
  const floats =
    (2 + optimizerStates) * parameterCount(parameterLayout({ sizes, bias: true })) +
    rows * (sizes.slice(1).reduce((a, b) => a + b, 0) + 2 * widest + sizes[0]);
  const bytes = 4 * floats;
  const { bytes: limit, why } = allocatable();
  if (bytes > limit) {
    throw new UsageError(
      `a ${sizes.join('-')} network needs ${megabytes(bytes)} for its parameters, gradients and activations; ${why} — use smaller layers`,
    );
  }
}

/** MNIST-style IDX folders, or a CSV/TSV file. */
/** Cross-entropy learns class labels; the squared error, the target columns' values. */
export const targetKindOf = (loss: Loss | undefined): LoadOptions['targetKind'] =>
  loss === 'mse' ? 'values' : 'classes';

function trainingData(settings: Pick<TrainSettings, 'dataDir' | 'network' | 'csv' | 'classes'>): MnistSplits {
  return loadData(settings.dataDir, {
    targetKind: targetKindOf(settings.network.loss),
    classes: settings.classes,
    csv: settings.csv,
  });
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
  const loaded = trainingData(settings);
  const data = settings.limit ? { ...loaded, train: takeFirst(loaded.train, settings.limit) } : loaded;
  if (settings.batchSize > data.train.count) {
    throw new UsageError(
      `--batch ${settings.batchSize} is larger than the training set (${data.train.count} sample${data.train.count === 1 ? '' : 's'})`,
    );
  }
  if (settings.augment && !data.train.shape) throw new UsageError(AUGMENT_NEEDS_IMAGES);
  const sizes = [data.train.features, ...settings.hidden, data.train.outputs];
  const states = OptimizerState.buffers(settings.optimizer.name ?? 'sgd');
  checkMemory(sizes, Math.max(settings.batchSize, EVAL_ROWS), states);
  return { data, sizes, backend, fallbackReason };
}

/** The network the settings describe, on `backend`, initialised. */
export function buildNetwork(settings: TrainSettings, sizes: readonly number[], backend: Backend): Network {
  return new Network(sizes, { ...settings.network, backend }).initialize(settings.init, settings.seed);
}

export function saveSettings(options: TrainOptions): SaveSettings {
  const { save, checkpointEvery, saveBest } = options;
  if (checkpointEvery !== undefined && !save) throw new UsageError('--checkpoint-every needs --save FILE');
  if (saveBest && !save) throw new UsageError('--save-best needs --save FILE');
  if (saveBest && checkpointEvery !== undefined)
    throw new UsageError('--save-best and --checkpoint-every contradict each other (one file)');
  if (options.progressJson && !options.json) throw new UsageError('--progress-json goes with --json');
  const { quiet, logEvery, report, progressJson, patience, resume } = options;
  return { quiet, logEvery, report, progressJson, save, checkpointEvery, saveBest, patience, resume };
}

/** The backend a command's --backend (or BACKPROP_BACKEND), --isa (or BACKPROP_ISA) and --threads ask for, and why `auto` fell back. */
export function selectedBackend(options: BackendOptions): Selected {
  checkBackendOptions(options);
  return selectBackend(options.backend, { isa: options.isa ?? process.env.BACKPROP_ISA, threads: options.threads });
}

/** The backend a command's options ask for. */
export function backendFrom(options: BackendOptions): Backend {
  return selectedBackend(options).backend;
}

/**
 * Refuses, before anything is loaded, a file output that would destroy an input or another output,
 * or that is no file (a terminal, a pipe, the log's own stream). `--save` may replace the file of
 * `--resume`: that continues the run in place.
 */
export function refuseClashes(
  inputs: { data?: string; init?: string; resume?: string; model?: string },
  outputs: readonly NamedPath[],
): void {
  const read: NamedPath[] = [
    ...(inputs.data === undefined ? [] : dataFiles(inputs.data).map((path) => ({ option: 'data', path }))),
    ...(inputs.init?.endsWith('.json') ? [{ option: 'init', path: inputs.init }] : []),
    ...(inputs.resume === undefined ? [] : [{ option: 'resume', path: inputs.resume }]),
    ...(inputs.model === undefined ? [] : [{ option: 'model', path: inputs.model }]),
  ];
  refuseStreams(outputs);
  refuseAliases(read, outputs, (output, input) => output.option === 'save' && input.option === 'resume');
}

/** The file outputs among `options`, named by their options. */
export function outputsOf(options: Record<string, string | undefined>): NamedPath[] {
  return Object.entries(options).flatMap(([option, path]) => (path === undefined ? [] : [{ option, path }]));
}
