import { EVAL_ROWS, Workspace } from '../backends/backend.js';
import type { Dataset } from '../data/dataset.js';
import { floatRows } from '../data/features.js';
import { argmaxRow } from '../model/metrics.js';
import type { Network } from '../model/network.js';

/** The network's outputs for every sample of `data` (`count × outputs`), in chunks. */
export function predictAll(net: Network, data: Dataset): Float32Array {
  const outputs = net.sizes[net.sizes.length - 1];
  const ws = Workspace.of(net, EVAL_ROWS);
  const predictions = new Float32Array(data.count * outputs);
  for (let start = 0; start < data.count; start += EVAL_ROWS) {
    const rows = Math.min(EVAL_ROWS, data.count - start);
    net.backend.forward(net, floatRows(data.x, data.features, start, start + rows, ws.batchX), rows, ws);
    predictions.set(ws.acts[ws.acts.length - 1].subarray(0, rows * outputs), start * outputs);
  }
  return predictions;
}

export interface ClassReport {
  accuracy: number;
  error: number;
  /** confusion[true][predicted]: counts. */
  confusion: number[][];
  precision: number[];
  recall: number[];
}

/** Accuracy, error, confusion matrix and per-class precision/recall of predicted outputs against labels. */
export function classReport(outputs: Float32Array, labels: Uint8Array, classes: number, error: number): ClassReport {
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  let correct = 0;
  for (let r = 0; r < labels.length; r++) {
    const predicted = argmaxRow(outputs, r, classes);
    confusion[labels[r]][predicted]++;
    if (predicted === labels[r]) correct++;
  }
  const column = (j: number): number => confusion.reduce((sum, row) => sum + row[j], 0);
  const row = (i: number): number => confusion[i].reduce((sum, v) => sum + v, 0);
  return {
    accuracy: correct / labels.length,
    error,
    confusion,
    precision: confusion.map((_, j) => (column(j) ? confusion[j][j] / column(j) : 0)),
    recall: confusion.map((_, i) => (row(i) ? confusion[i][i] / row(i) : 0)),
  };
}

export interface WrongSample {
  index: number;
  label: number;
  predicted: number;
  /** The output of the predicted class. */
  confidence: number;
}

/** The `n` misclassified samples whose wrong class got the largest output. */
export function mostConfidentlyWrong(
  outputs: Float32Array,
  labels: Uint8Array,
  classes: number,
  n: number,
): WrongSample[] {
  const wrong: WrongSample[] = [];
  for (let r = 0; r < labels.length; r++) {
    const predicted = argmaxRow(outputs, r, classes);
    if (predicted !== labels[r])
      wrong.push({ index: r, label: labels[r], predicted, confidence: outputs[r * classes + predicted] });
  }
  return wrong.sort((a, b) => b.confidence - a.confidence).slice(0, n);
}
