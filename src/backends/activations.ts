/**
 * The activation functions and their derivatives. A derivative is written in terms of the
 * activation's output y = f(z), which is what the backward pass keeps; each is computed in double
 * and rounded to float32 once, the same way on both backends.
 */
export const ACTIVATIONS = ['relu', 'sigmoid', 'tanh', 'bipolar', 'linear', 'softmax'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

/** Activations a hidden layer may use. */
export const HIDDEN_ACTIVATIONS = ['relu', 'sigmoid', 'tanh', 'bipolar'] as const;
/** Outputs that go with the mean-squared-error criterion (softmax goes with cross-entropy). */
export const MSE_OUTPUTS = ['sigmoid', 'tanh', 'bipolar', 'linear'] as const;

export const LOSSES = ['cross-entropy', 'mse'] as const;
export type Loss = (typeof LOSSES)[number];

/** f(z) for an element-wise activation. */
export function activate(activation: Activation, z: number): number {
  switch (activation) {
    case 'relu':
      return z > 0 ? z : 0;
    case 'sigmoid':
      return 1 / (1 + Math.exp(-z));
    case 'tanh':
      return Math.tanh(z);
    case 'bipolar':
      return 2 / (1 + Math.exp(-z)) - 1;
    case 'linear':
    case 'softmax':
      return z;
  }
}

/** f′(z), from y = f(z). */
export function derivative(activation: Activation, y: number): number {
  switch (activation) {
    case 'relu':
      return y > 0 ? 1 : 0;
    case 'sigmoid':
      return y * (1 - y);
    case 'tanh':
      return 1 - y * y;
    case 'bipolar':
      return 0.5 * (1 + y) * (1 - y);
    case 'linear':
    case 'softmax':
      return 1;
  }
}

/** The target of an output that is not the label's, for one-hot targets under MSE: the activation's low end. */
export function offTarget(output: Activation): number {
  return output === 'tanh' || output === 'bipolar' ? -1 : 0;
}
