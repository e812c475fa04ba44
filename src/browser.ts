/**
 * backprop in a browser page (or any JavaScript engine without Node): the core — the network, its
 * layer list, training, the TypeScript backend and the WebAssembly one given its module — and
 * nothing that reads files or starts threads. examples/browser/ shows it training on MNIST.
 *
 * It is the package's `backprop/browser` entry (Network, fit, WasmBackend, parseIdx, …):
 *
 *   const module = await WebAssembly.compileStreaming(fetch('backprop.wasm'));
 *   const net = new Network([784, 30, 10], { backend: new WasmBackend(module) }).initWeights(1);
 */
export { Network, type NetworkOptions } from './model/network.js';
export { dense, activation, dropout, noise, type LayerSpec, type ModelDescription } from './backends/layers.js';
export { fit, fit as train, type FitOptions, type FitResult, type EpochMetrics, type Progress } from './train/fit.js';
export { TsBackend } from './backends/ts.js';
export { WasmBackend } from './backends/wasm.js';
export type { Backend } from './backends/backend.js';
export type { Dataset } from './data/dataset.js';
export { datasetFromIdx } from './data/dataset.js';
export { parseIdx } from './data/idx-format.js';
