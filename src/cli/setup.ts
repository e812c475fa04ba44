import { freemem, totalmem } from 'node:os';
import { EVAL_ROWS, parameterCount, type Backend } from '../backends/backend.js';
import { selectBackend } from '../backends/select.js';
import { takeFirst } from '../data/dataset.js';
import { bundledMnistDir, loadMnist, type MnistSplits } from '../data/mnist.js';
import { UsageError } from '../errors.js';
import type { ParsedOptions } from './options.js';

/** The training options of a parsed command line, typed. */
export interface TrainSettings {
  hidden: number[];
  epochs: number;
  learningRate: number;
  batchSize: number;
  seed: number;
  shuffle: boolean;
  dataDir: string;
  limit?: number;
  backendName?: string;
  isa?: string;
  threads?: number;
  json: boolean;
}

export function trainSettings(options: ParsedOptions): TrainSettings {
  return {
    hidden: options.get('hidden') as number[],
    epochs: options.get('epochs') as number,
    learningRate: options.get('lr') as number,
    batchSize: options.get('batch') as number,
    seed: options.get('seed') as number,
    shuffle: options.has('shuffle'),
    dataDir: (options.get('data') as string | undefined) ?? bundledMnistDir(),
    limit: options.get('limit') as number | undefined,
    backendName: options.get('backend') as string | undefined,
    isa: (options.get('isa') as string | undefined) ?? process.env.BACKPROP_ISA,
    threads: options.get('threads') as number | undefined,
    json: options.has('json'),
  };
}

const GiB = 1024 ** 3;

/**
 * Refuses a network whose buffers (parameters, gradients, activations and error signals of a batch)
 * could not fit in memory, before anything is allocated.
 */
export function checkMemory(sizes: readonly number[], rows: number): void {
  const widest = Math.max(...sizes.slice(1));
  const floats = 2 * parameterCount(sizes) + rows * (sizes.slice(1).reduce((a, b) => a + b, 0) + 2 * widest + sizes[0]);
  const bytes = 4 * floats;
  const limit = Math.min(totalmem() * 0.75, Math.max(freemem(), 2 * GiB));
  if (bytes > limit) {
    throw new UsageError(
      `a ${sizes.join('-')} network needs ${(bytes / GiB).toFixed(1)} GiB for its parameters, gradients and activations; ` +
        `this machine can spare about ${(limit / GiB).toFixed(1)} GiB — use smaller layers`,
    );
  }
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
  const loaded = loadMnist(settings.dataDir);
  const data = settings.limit ? { ...loaded, train: takeFirst(loaded.train, settings.limit) } : loaded;
  if (settings.batchSize > data.train.count) {
    throw new UsageError(`--batch ${settings.batchSize} is larger than the training set (${data.train.count} samples)`);
  }
  const sizes = [data.train.features, ...settings.hidden, data.train.classes];
  checkMemory(sizes, Math.max(settings.batchSize, EVAL_ROWS));
  return { data, sizes, backend, fallbackReason };
}
