/**
 * backprop as a library:
 *
 *   import { Network, loadMnist, train, saveModel, loadModel, selectBackend } from 'backprop';
 *   const { train: data, test } = loadMnist();
 *   const net = new Network([784, 30, 10], { backend: selectBackend('auto').backend }).initWeights(1);
 *   await train(net, data, { validation: test, epochs: 5, onEpoch: (m) => console.log(m) });
 *   saveModel('model.safetensors', net); // or saveCheckpoint(path, net, options, result) to resume it
 *   const again = loadModel('model.safetensors');
 *   again.predict(test.x.subarray(0, 784 * 5));
 */
import type { Backend } from './backends/backend.js';
import { selectBackend } from './backends/select.js';
import { useDefaultBackend } from './backends/default.js';
import { TsWorkerBackend } from './backends/ts-worker.js';
import { architectureOf, Network, networkFromFile } from './model/network.js';
import { loadModel as readModel, saveModel as writeModel } from './model/safetensors.js';
import { isPreprocessing } from './data/preprocessing.js';
import { DataError } from './errors.js';
import type { FitOptions, FitResult } from './train/fit.js';
import { checkpointOf, fitSettingsOf, restoreRun, savedRunOf, savedTrainingOf } from './train/checkpoint.js';

export { Network, type NetworkOptions } from './model/network.js';
export { dense, activation, dropout, noise, type LayerSpec, type ModelDescription } from './backends/layers.js';
export { loadMnist, bundledMnistDir, type MnistSplits } from './data/mnist.js';
export { loadCsv } from './data/csv.js';
export type { Dataset } from './data/dataset.js';
export { floatRows, type Features } from './data/features.js';
export { fit, fit as train, type FitOptions, type FitResult, type EpochMetrics, type Progress } from './train/fit.js';
export { gradcheck } from './train/gradcheck.js';
export { findLearningRate, type LrFindOptions, type LrFindResult } from './train/lr-find.js';
export { selectBackend } from './backends/select.js';
export { NativeBackend } from './backends/native.js';
export { TsBackend } from './backends/ts.js';
export { TsWorkerBackend } from './backends/ts-worker.js';
export {
  OptimizerState,
  type Backend,
  type Samples,
  type Evaluation,
  type OptimizerSettings,
} from './backends/backend.js';
export type { Activation, Loss } from './backends/activations.js';
export { UserError, UsageError, DataError, EXIT } from './errors.js';
export { useDefaultBackend } from './backends/default.js';

// A library user's network trains off the event loop unless it is given another backend.
useDefaultBackend(() => new TsWorkerBackend());

/** Saves `net` (its architecture and weights) as a safetensors file, atomically. */
export function saveModel(path: string, net: Network, extra: Record<string, unknown> = {}): void {
  writeModel(path, { architecture: architectureOf(net), params: net.params, extra });
}

/**
 * The network saved in `path`, on `backend` (the best available by default), ready to predict or
 * train on. A model of CSV columns saved by `backprop train` predicts from raw rows: its
 * `inputScaling` is the scaling it trained with.
 */
export function loadModel(path: string, backend: Backend = selectBackend('auto').backend): Network {
  const file = readModel(path);
  const net = networkFromFile(file.architecture, file.params, backend);
  const { preprocessing } = file.extra;
  const { sizes } = file.architecture;
  if (preprocessing !== undefined && !isPreprocessing(preprocessing, sizes[0], sizes[sizes.length - 1])) {
    throw new DataError(
      `${path}: its metadata field preprocessing is not what backprop saves; the file was edited or damaged`,
    );
  }
  if (preprocessing?.kind === 'csv') net.inputScaling = { shift: preprocessing.shift, scale: preprocessing.scale };
  return net;
}

/**
 * Saves a run so that `loadCheckpoint` (or `backprop train --resume`) continues it exactly: the
 * network, the optimizer state of `result`, the settings of `options`, and where `result` stopped
 * (after an epoch, or part-way when it was aborted). Atomic, like `saveModel`.
 */
export function saveCheckpoint(path: string, net: Network, options: FitOptions, result: FitResult): void {
  writeModel(path, checkpointOf(net, result.state, savedTrainingOf(net, options), result));
}

/**
 * The run saved in `path` by `saveCheckpoint` or by `backprop train --save`: its network on `backend`
 * and the options that continue it, to pass to `train` (with more `epochs` to extend it, and your
 * callbacks and validation data). The weights then end as an uninterrupted run's, bit for bit.
 */
export function loadCheckpoint(
  path: string,
  backend: Backend = selectBackend('auto').backend,
): { net: Network; options: FitOptions } {
  const file = readModel(path);
  const run = savedRunOf(file, path);
  if (!run.training) throw new DataError(`${path}: a model without its training settings, not a checkpoint to resume`);
  const { net, state } = restoreRun(file, run.training.optimizer.name, backend, path);
  return {
    net,
    options: {
      ...fitSettingsOf(run.training),
      state,
      resume: { history: run.history, samplesDone: run.samplesDone },
    },
  };
}
