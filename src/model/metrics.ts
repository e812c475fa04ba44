/** The column of the largest value in row `r` of a `rows × classes` matrix (the first one on a tie). */
export function argmaxRow(values: Float32Array, r: number, classes: number): number {
  let best = 0;
  for (let j = 1; j < classes; j++) if (values[r * classes + j] > values[r * classes + best]) best = j;
  return best;
}

/** The seed's `calculate_acc`: the fraction of rows whose most probable class is the label. */
export function accuracy(probs: Float32Array, labels: Uint8Array, classes: number): number {
  let correct = 0;
  for (let r = 0; r < labels.length; r++) if (argmaxRow(probs, r, classes) === labels[r]) correct++;
  return correct / labels.length;
}

/** The seed's `calculate_E`: mean cross-entropy of the probabilities against the labels (clamped away from log 0). */
export function crossEntropy(probs: Float32Array, labels: Uint8Array, classes: number): number {
  let sum = 0;
  for (let r = 0; r < labels.length; r++) sum -= Math.log(Math.max(probs[r * classes + labels[r]], 1e-30));
  return sum / labels.length;
}
