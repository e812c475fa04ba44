import { grouped } from '../numbers.js';
import { EVAL_ROWS, OptimizerState, Workspace, type Backend } from '../backends/backend.js';
import { DataError, EXIT, UsageError } from '../errors.js';
import type { Network } from '../model/network.js';
import { loadModel, saveModel, type ModelFile } from '../model/safetensors.js';
import { fit, type EpochMetrics, type FitResult, type Progress } from '../train/fit.js';
import { describeTraining, humanReporter, jsonReporter, progressLine, sparkline, wrap } from './report.js';
import {
  buildNetwork,
  outputsOf,
  prepareTraining,
  refuseClashes,
  saveSettings,
  trainSettings,
  type SaveSettings,
  type TrainSettings,
} from './setup.js';
import { resumedSettings, savedCsvOf } from './saved-run.js';
import {
  checkpointOf,
  fitSettingsOf,
  restoreRun,
  savedRunOf,
  savedTrainingOf,
  type RunPoint,
  type SavedRun,
} from '../train/checkpoint.js';
import { bundledMnistDir, classNamesOf } from '../data/mnist.js';
import { resolve } from 'node:path';
import type { Io } from './io.js';
import { defineCommand } from './command.js';
import { TRAIN_OPTIONS, type TrainOptions } from './specs.js';
import { writeTrainingReport } from './report-command.js';

interface Resumed {
  net: Network;
  state: OptimizerState;
  history: EpochMetrics[];
  samplesDone: number;
}

/** The run saved in `path`, checked against the data and the optimizer it continues with. */
function resumeFrom(
  path: string,
  file: ModelFile,
  run: SavedRun,
  settings: TrainSettings,
  sizes: number[],
  backend: Backend,
  samples: number,
): Resumed {
  const { architecture } = file;
  if (architecture.sizes[0] !== sizes[0] || architecture.sizes.at(-1) !== sizes.at(-1)) {
    throw new DataError(
      `${path}: the model maps ${architecture.sizes[0]} inputs to ${architecture.sizes.at(-1)} outputs, the data have ${sizes[0]} and ${sizes.at(-1)}`,
    );
  }
  if (run.samplesDone >= samples) {
    throw new DataError(
      `${path} was saved ${run.samplesDone} samples into an epoch, and the training data have ${samples}: they are not the data it trained on`,
    );
  }
  const name = run.training?.optimizer.name ?? settings.optimizer.name ?? 'sgd';
  if (name !== settings.optimizer.name || !file.optimizer) {
    throw new UsageError(
      `${path} was trained with --optimizer ${name}${file.optimizer ? '' : ' and holds no optimizer state'}; resume with the same optimizer`,
    );
  }
  const { net, state } = restoreRun(file, name, backend, path);
  return { net, state, history: run.history, samplesDone: run.samplesDone };
}

/** What to try after a divergence, the option most likely at fault first. */
function divergenceAdvice(settings: TrainSettings): string {
  const { learningRate, optimizer } = settings;
  const smaller = (value: number): number => Number((value / 10).toPrecision(3));
  const tries = [`a smaller --lr (e.g. ${smaller(learningRate)})`];
  // Momentum near 1 multiplies the step by up to 1/(1 − μ); a large decay pulls weights through zero.
  if (optimizer.name === 'momentum' && (optimizer.momentum ?? 0) >= 0.95)
    tries.unshift(`a smaller --momentum than ${optimizer.momentum} (e.g. 0.9)`);
  if ((optimizer.weightDecay ?? 0) * learningRate >= 0.01)
    tries.unshift(`a smaller --weight-decay than ${optimizer.weightDecay} (e.g. ${smaller(optimizer.weightDecay!)})`);
  tries.push('a smaller --init-scale', ...(optimizer.name === 'adam' ? [] : ['--optimizer adam']));
  const name = optimizer.name === 'momentum' ? `momentum ${optimizer.momentum}` : (optimizer.name ?? 'sgd');
  return `with ${name}, learning rate ${learningRate}${optimizer.weightDecay ? `, weight decay ${optimizer.weightDecay}` : ''}; try ${tries.slice(0, -1).join(', ')} or ${tries.at(-1)}`;
}

/** What --save-best keeps the best of: validation accuracy, else training accuracy, else −error. */
function accuracyOf(metrics: EpochMetrics): number {
  return metrics.valAccuracy ?? metrics.trainAccuracy ?? -metrics.trainError;
}

/** The figure --save-best chose the epoch by. */
function bestText(metrics: EpochMetrics): string {
  if (metrics.valAccuracy !== undefined) return `validation accuracy ${metrics.valAccuracy.toFixed(4)}`;
  if (metrics.trainAccuracy !== undefined) return `training accuracy ${metrics.trainAccuracy.toFixed(4)}`;
  return `training error ${metrics.trainError.toFixed(4)}`;
}

/** A note on stderr, wrapped to the terminal's width when stderr is one. */
function note(io: Io, line: string): void {
  for (const part of wrap(line, io.errColumns)) io.err(part);
}

/** Ctrl-C and SIGTERM set `stop` (the exit code); training stops after the current batch. */
function catchSignals(stop: Int32Array): () => void {
  const onInt = (): void => void (stop[0] = EXIT.interrupted);
  const onTerm = (): void => void (stop[0] = EXIT.terminated);
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return () => {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  };
}

/**
 * Progress while an epoch trains: a bar on a terminal's stderr (not with --json or --quiet), or with
 * --json --progress-json a JSON line per report.
 */
function progressReporter(json: boolean, saving: SaveSettings, io: Io): ((p: Progress) => void) | undefined {
  if (json) return saving.progressJson ? (p) => io.out(JSON.stringify({ event: 'progress', ...p })) : undefined;
  if (!io.status || saving.quiet) return undefined;
  let epochStart = 0;
  let epoch = 0;
  let firstDone = 0;
  let shown = 0;
  return (p) => {
    const now = performance.now();
    if (p.epoch !== epoch) {
      [epoch, epochStart, firstDone] = [p.epoch, now, p.samplesDone];
      return;
    }
    if (now - shown < 100 && p.samplesDone < p.samples) return;
    shown = now;
    // The epoch's last batch is done: what follows is the evaluation of the train and validation sets.
    if (p.samplesDone >= p.samples) io.status!(`epoch ${p.epoch}/${p.epochs} evaluating…`);
    else io.status!(progressLine(p, ((p.samplesDone - firstDone) * 1000) / Math.max(1, now - epochStart)));
  };
}

/** `backprop train`: a new run, or with --resume the continuation of a saved one. */
async function runTrain(options: TrainOptions, io: Io): Promise<number> {
  const saving = saveSettings(options);
  const outputs = outputsOf({ save: saving.save, report: saving.report });
  if (!saving.resume) {
    const settings = trainSettings(options);
    refuseClashes({ data: settings.dataDir, init: options.init }, outputs);
    return train(settings, saving, io);
  }
  const file = loadModel(saving.resume);
  const run = savedRunOf(file, saving.resume);
  const settings = resumedSettings(options, trainSettings(options), file, run, saving.resume);
  refuseClashes({ data: settings.dataDir, resume: saving.resume }, outputs);
  return train(settings, saving, io, { path: saving.resume, file, run });
}

async function train(
  settings: TrainSettings,
  saving: SaveSettings,
  io: Io,
  saved?: { path: string; file: ModelFile; run: SavedRun },
): Promise<number> {
  const started = performance.now();
  if (!saving.quiet) io.status?.(`loading ${settings.dataDir}…`);
  const { data, sizes, backend, fallbackReason } = prepareTraining(settings);
  io.status?.('');
  if (fallbackReason) note(io, `backprop: ${fallbackReason}`);
  for (const warning of data.warnings ?? []) note(io, `backprop: ${warning}`);
  const resumed = saved && resumeFrom(saved.path, saved.file, saved.run, settings, sizes, backend, data.train.count);
  const net = resumed?.net ?? buildNetwork(settings, sizes, backend);
  const state =
    resumed?.state ?? new OptimizerState(net.parameterCount, settings.optimizer.name ?? 'sgd', backend.memory);
  const reporter = settings.json ? jsonReporter(io.out) : humanReporter(io.out, saving.logEvery, io.columns);
  reporter.header({
    net,
    backend,
    dataDir: data.dir,
    trainCount: data.train.count,
    validationCount: (data.validation ?? data.test)?.count ?? 0,
    testCount: data.validation && data.test?.count,
    validationIsTest: !data.validation && data.preprocessing.kind !== 'csv' && data.test !== undefined,
    settings,
  });
  if (resumed) {
    const partial = resumed.samplesDone ? ` and ${grouped(resumed.samplesDone)} samples of the next` : '';
    note(
      io,
      `backprop: resuming ${saved.path} after epoch ${resumed.history.length}${partial}, with its saved settings`,
    );
  }

  const save = (point: RunPoint): void => {
    if (!saving.save) return;
    const training = {
      ...savedTrainingOf(net, fitSettingsOf(settings)),
      data: settings.dataDir === bundledMnistDir() ? undefined : resolve(settings.dataDir),
      limit: settings.limit,
      classes: settings.classes,
      csv: data.preprocessing.kind === 'csv' ? savedCsvOf(settings.csv) : undefined,
      valSplit: data.preprocessing.kind === 'csv' ? undefined : settings.csv.valSplit,
    };
    saveModel(saving.save, checkpointOf(net, state, training, point, { preprocessing: data.preprocessing }));
  };
  let bestAccuracy = Math.max(-Infinity, ...(resumed?.history ?? []).map(accuracyOf));
  let bestEpoch: EpochMetrics | undefined;
  let bestParams: Float32Array | undefined;
  const onProgress = progressReporter(settings.json, saving, io);
  const history: EpochMetrics[] = [...(resumed?.history ?? [])];
  const stop = backend.memory.int32(1);
  const release = catchSignals(stop);
  let result: FitResult;
  try {
    result = await fit(net, data.train, {
      ...fitSettingsOf(settings),
      validation: data.validation ?? data.test,
      state,
      stop,
      patience: saving.patience,
      resume: resumed && { history: resumed.history, samplesDone: resumed.samplesDone },
      onProgress,
      onEpoch: (metrics) => {
        io.status?.('');
        const accuracy = accuracyOf(metrics);
        const best = accuracy > bestAccuracy;
        reporter.epoch(metrics, best);
        history.push(metrics);
        if (saving.saveBest) {
          if (best) {
            save({ history });
            bestEpoch = metrics;
            bestParams = net.params.slice();
          }
        } else if (saving.checkpointEvery && metrics.epoch % saving.checkpointEvery === 0) {
          save({ history });
        }
        bestAccuracy = Math.max(bestAccuracy, accuracy);
      },
    });
  } finally {
    io.status?.('');
  }
  // The handlers stay until the end: a signal while the model and report are written takes effect after them.
  try {
    return await finish(result);
  } finally {
    release();
  }

  async function finish(result: FitResult): Promise<number> {
    reporter.end();
    const { interrupted } = result;
    if (interrupted?.reason === 'diverged') {
      // The diverged weights are not saved: a file from an earlier checkpoint stays as it was.
      const batch = Math.max(1, Math.ceil(interrupted.samplesDone / settings.batchSize));
      note(
        io,
        `backprop: training diverged in epoch ${interrupted.epoch}, batch ${batch}: the error became NaN or infinite; ${divergenceAdvice(settings)}`,
      );
      return EXIT.diverged;
    }
    if (interrupted?.reason === 'stopped') {
      // A best-model file keeps its best epoch; otherwise the run so far is saved to resume from.
      if (saving.save && !saving.saveBest) save(result);
      const where = interrupted.samplesDone
        ? `in epoch ${interrupted.epoch} after ${grouped(interrupted.samplesDone)} samples`
        : `after epoch ${interrupted.epoch - 1}`;
      const saved =
        saving.save && !saving.saveBest ? `; saved to ${saving.save} (continue with --resume ${saving.save})` : '';
      note(io, `backprop: interrupted ${where}${saved}`);
      return stop[0];
    }
    if (interrupted?.reason === 'patience') {
      note(
        io,
        `backprop: stopped after epoch ${interrupted.epoch}: the error has not improved for ${saving.patience} epochs`,
      );
    }
    if (saving.save && !saving.saveBest) save(result);
    const said = !settings.json;
    if (said && saving.save && !saving.saveBest) io.out(`saved ${saving.save} (epoch ${result.history.length})`);
    if (said && saving.save && saving.saveBest) {
      io.out(
        bestEpoch
          ? `saved ${saving.save}: epoch ${bestEpoch.epoch}, the best (${bestText(bestEpoch)})`
          : `kept ${saving.save}: no epoch of this run was better than its best`,
      );
    }
    if (data.validation && data.test) {
      // The test set judges the model that is kept: with --save-best, the best epoch's.
      if (saving.saveBest && bestParams) net.params.set(bestParams);
      reporter.test(await backend.evaluate(net, data.test, Workspace.of(net, EVAL_ROWS)));
    }
    if (saving.report) {
      await writeTrainingReport(
        saving.report,
        net,
        result.history,
        data.test,
        {
          data: data.dir,
          training: describeTraining(settings),
          limit: settings.limit,
          'training seconds': result.trainSeconds.toFixed(2),
        },
        classNamesOf(data.preprocessing, net.sizes[net.sizes.length - 1]),
        settings.augment && { train: data.train, spec: settings.augment, seed: settings.seed },
      );
    }
    if (said && saving.report) io.out(`wrote ${saving.report}`);
    reporter.done({ backend, trainSeconds: result.trainSeconds, totalSeconds: (performance.now() - started) / 1000 });
    if (io.terminal && !settings.json && !saving.quiet && result.history.length > 1) {
      const accuracies = (key: 'trainAccuracy' | 'valAccuracy'): number[] =>
        result.history.map((m) => m[key]).filter((v): v is number => v !== undefined);
      if (accuracies('trainAccuracy').length) io.out(sparkline('train acc', accuracies('trainAccuracy')));
      if (accuracies('valAccuracy').length) io.out(sparkline('val acc  ', accuracies('valAccuracy')));
    }
    if (stop[0] !== 0) {
      note(
        io,
        `backprop: interrupted after the last epoch${saving.save && !saving.saveBest ? `; the finished run is saved to ${saving.save}` : ''}`,
      );
      return stop[0];
    }
    return EXIT.ok;
  }
}

export const trainCommand = defineCommand({
  summary:
    'train a network on the bundled MNIST, an IDX folder or a CSV file, one line per epoch (the default command)',
  options: TRAIN_OPTIONS,
  run: runTrain,
});
