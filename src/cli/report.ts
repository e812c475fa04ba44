import type { Backend } from '../backends/backend.js';
import type { EpochMetrics } from '../train/fit.js';

/** Everything the header line describes. */
export interface RunInfo {
  sizes: readonly number[];
  parameters: number;
  backend: Backend;
  dataDir: string;
  trainCount: number;
  validationCount: number;
  batchSize: number;
  learningRate: number;
  epochs: number;
  seed: number;
  shuffle: boolean;
}

export interface Summary {
  backend: Backend;
  trainSeconds: number;
  totalSeconds: number;
  last?: EpochMetrics;
}

export interface Reporter {
  header(info: RunInfo): void;
  epoch(metrics: EpochMetrics): void;
  done(summary: Summary): void;
}

type Write = (line: string) => void;

const count = (n: number): string => n.toLocaleString('en-US');
const fixed4 = (n: number | undefined): string => (n === undefined ? '—' : n.toFixed(4));

export function describeBackend(backend: Backend): string {
  return backend.name === 'ts' ? 'ts' : `native (${backend.isa}, ${backend.threads} thread${backend.threads === 1 ? '' : 's'})`;
}

/** The epoch line of the human report, e.g. `epoch 3/20  train acc 0.9329  error 0.2262 | val acc …`. */
export function epochLine(m: EpochMetrics): string {
  const val = m.valAccuracy === undefined ? '' : ` | val acc ${fixed4(m.valAccuracy)}  error ${fixed4(m.valError)}`;
  return `epoch ${m.epoch}/${m.epochs}  train acc ${fixed4(m.trainAccuracy)}  error ${fixed4(m.trainError)}${val} | ${m.trainSeconds.toFixed(2)} s`;
}

export function humanReporter(write: Write): Reporter {
  return {
    header(info) {
      write(`network ${info.sizes.join('-')} (ReLU hidden, softmax output, cross-entropy), ${count(info.parameters)} parameters`);
      write(
        `backend ${describeBackend(info.backend)} | data ${info.dataDir} (${count(info.trainCount)} train, ${count(info.validationCount)} validation)`,
      );
      write(
        `batch ${info.batchSize}, learning rate ${info.learningRate}, ${info.epochs} epochs, seed ${info.seed}, ${info.shuffle ? 'shuffled' : 'in order'}`,
      );
    },
    epoch(metrics) {
      write(epochLine(metrics));
    },
    done(summary) {
      write(`training time ${summary.trainSeconds.toFixed(2)} s (evaluation excluded), total ${summary.totalSeconds.toFixed(2)} s`);
    },
  };
}

/** JSON lines on stdout, one object per event; nothing else goes to stdout. */
export function jsonReporter(write: Write): Reporter {
  return {
    header() {},
    epoch(m) {
      write(
        JSON.stringify({
          event: 'epoch',
          epoch: m.epoch,
          epochs: m.epochs,
          trainAccuracy: m.trainAccuracy,
          trainError: m.trainError,
          valAccuracy: m.valAccuracy,
          valError: m.valError,
          trainSeconds: m.trainSeconds,
          evalSeconds: m.evalSeconds,
        }),
      );
    },
    done(summary) {
      write(
        JSON.stringify({
          event: 'done',
          backend: summary.backend.name,
          isa: summary.backend.isa,
          threads: summary.backend.threads,
          trainSeconds: summary.trainSeconds,
          totalSeconds: summary.totalSeconds,
        }),
      );
    },
  };
}
