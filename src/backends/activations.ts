/**
 * The activation functions and the losses, each defined once: what it computes, where a network
 * may use it, how the ONNX export writes it and how the help describes it. The derivative is
 * written in terms of the activation's output y = f(z), which is what the backward pass keeps, or of
 * z for GELU and SiLU, whose layers keep z as well; each value is computed in double and rounded to
 * float32 once, the same way on both backends.
 * native/tables.h is generated from this table (`npm run generate:native`): the names in this order
 * and the properties the engine reads; a test checks that it is current, and another feeds every
 * name here through the addon.
 */

/** One step of an activation's ONNX graph: an operator over `z` (the pre-activation), the previous step's output, or a constant. */
export type OnnxStep = readonly [op: string, ...inputs: ('z' | 'previous' | number)[]];

interface ActivationSpec {
  /** f(z). */
  readonly f: (z: number) => number;
  /** f′(z), from y = f(z), or from z itself when y does not determine it (`derivativeFrom: 'z'`). */
  readonly derivative: (v: number) => number;
  /** What the backward pass keeps of a layer for the derivative: its output y, or its pre-activation z too. */
  readonly derivativeFrom: 'y' | 'z';
  /** Whether a hidden layer may use it. */
  readonly hidden: boolean;
  /** The loss it goes with as the output layer's activation, if it may be one. */
  readonly outputWith?: Loss;
  /** The target of an output that is not the label's, for one-hot targets under mse: the activation's low end. */
  readonly offTarget: number;
  readonly onnx: readonly OnnxStep[];
  /** A formula for the help, when the name does not say it all. */
  readonly help: string;
}

const GELU_SCALE = Math.sqrt(2 / Math.PI);
const GELU_CUBIC = 0.044715;

const ACTIVATION_TABLE = {
  relu: {
    f: (z) => (z > 0 ? z : 0),
    derivative: (y) => (y > 0 ? 1 : 0),
    derivativeFrom: 'y',
    hidden: true,
    offTarget: 0,
    onnx: [['Relu', 'z']],
    help: 'max(0, z)',
  },
  sigmoid: {
    f: (z) => 1 / (1 + Math.exp(-z)),
    derivative: (y) => y * (1 - y),
    derivativeFrom: 'y',
    hidden: true,
    outputWith: 'mse',
    offTarget: 0,
    onnx: [['Sigmoid', 'z']],
    help: '1/(1+e^−z)',
  },
  tanh: {
    f: (z) => Math.tanh(z),
    derivative: (y) => 1 - y * y,
    derivativeFrom: 'y',
    hidden: true,
    outputWith: 'mse',
    offTarget: -1,
    onnx: [['Tanh', 'z']],
    help: '',
  },
  bipolar: {
    f: (z) => 2 / (1 + Math.exp(-z)) - 1,
    derivative: (y) => 0.5 * (1 + y) * (1 - y),
    derivativeFrom: 'y',
    hidden: true,
    outputWith: 'mse',
    offTarget: -1,
    // 2 / (1 + e^−z) − 1 = 2·sigmoid(z) − 1
    onnx: [
      ['Sigmoid', 'z'],
      ['Mul', 'previous', 2],
      ['Sub', 'previous', 1],
    ],
    help: '2·sigmoid − 1',
  },
  gelu: {
    // The tanh form, as PyTorch's gelu(approximate='tanh'): ½z(1 + tanh(√(2/π)(z + 0.044715z³))).
    f: (z) => 0.5 * z * (1 + Math.tanh(GELU_SCALE * (z + GELU_CUBIC * z * z * z))),
    derivative: (z) => {
      const t = Math.tanh(GELU_SCALE * (z + GELU_CUBIC * z * z * z));
      return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * GELU_SCALE * (1 + 3 * GELU_CUBIC * z * z);
    },
    derivativeFrom: 'z',
    hidden: true,
    offTarget: 0,
    onnx: [
      ['Mul', 'z', 'z'],
      ['Mul', 'previous', 'z'],
      ['Mul', 'previous', GELU_CUBIC],
      ['Add', 'previous', 'z'],
      ['Mul', 'previous', GELU_SCALE],
      ['Tanh', 'previous'],
      ['Add', 'previous', 1],
      ['Mul', 'previous', 'z'],
      ['Mul', 'previous', 0.5],
    ],
    help: 'tanh form',
  },
  silu: {
    // z·sigmoid(z), also called swish.
    f: (z) => z / (1 + Math.exp(-z)),
    derivative: (z) => {
      const s = 1 / (1 + Math.exp(-z));
      return s + z * s * (1 - s);
    },
    derivativeFrom: 'z',
    hidden: true,
    offTarget: 0,
    onnx: [
      ['Sigmoid', 'z'],
      ['Mul', 'z', 'previous'],
    ],
    help: 'z·sigmoid(z)',
  },
  linear: {
    f: (z) => z,
    derivative: () => 1,
    derivativeFrom: 'y',
    hidden: false,
    outputWith: 'mse',
    offTarget: 0,
    onnx: [['Identity', 'z']],
    help: 'z',
  },
  softmax: {
    f: (z) => z,
    derivative: () => 1,
    derivativeFrom: 'y',
    hidden: false,
    outputWith: 'cross-entropy',
    offTarget: 0,
    onnx: [['Softmax', 'z']],
    help: 'e^z/Σe^z',
  },
} as const satisfies Record<string, ActivationSpec>;

export type Activation = keyof typeof ACTIVATION_TABLE;
export const ACTIVATIONS = Object.keys(ACTIVATION_TABLE) as Activation[];

/** Everything the table says of `activation`. */
export function activationSpec(activation: Activation): ActivationSpec {
  return ACTIVATION_TABLE[activation];
}

/** Activations a hidden layer may use. */
export const HIDDEN_ACTIVATIONS = ACTIVATIONS.filter((a) => ACTIVATION_TABLE[a].hidden);
/** Activations an output layer may use. */
export const OUTPUT_ACTIVATIONS = ACTIVATIONS.filter((a) => activationSpec(a).outputWith !== undefined);
/** Outputs that go with the mean-squared-error criterion (softmax goes with cross-entropy). */
export const MSE_OUTPUTS = ACTIVATIONS.filter((a) => activationSpec(a).outputWith === 'mse');

export const LOSSES = ['cross-entropy', 'mse'] as const;
export type Loss = (typeof LOSSES)[number];

/** f(z) for an element-wise activation (softmax, which needs the whole row, is z here). */
export function activate(activation: Activation, z: number): number {
  return ACTIVATION_TABLE[activation].f(z);
}

/** f′(z), from y = f(z) (or from z, for an activation whose derivative is taken from z). */
export function derivative(activation: Activation, value: number): number {
  return ACTIVATION_TABLE[activation].derivative(value);
}

/** Whether a layer with this activation keeps its pre-activations z for the backward pass. */
export function keepsPreActivation(activation: Activation): boolean {
  return ACTIVATION_TABLE[activation].derivativeFrom === 'z';
}

/** The target of an output that is not the label's, for one-hot targets under MSE: the activation's low end. */
export function offTarget(output: Activation): number {
  return ACTIVATION_TABLE[output].offTarget;
}

/** `relu (max(0, z)), sigmoid (…)`: the activations for an option's help. */
export function activationHelp(names: readonly Activation[]): string {
  return names
    .map((name) => (ACTIVATION_TABLE[name].help ? `${name} (${ACTIVATION_TABLE[name].help})` : name))
    .join(', ');
}
