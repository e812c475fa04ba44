import type { Backend } from '../backends/backend.js';
import { Network } from '../model/network.js';
import { fit } from '../train/fit.js';

/**
 * The classic tutorial's network: three inputs in {−1, 1}, two bipolar hidden neurons, one bipolar
 * output, no biases, trained online (one randomly chosen vector per step) on the squared error.
 * The target is 1 exactly for (−1,−1,1), (−1,1,1) and (1,−1,1).
 */
export const TUTORIAL_INPUTS: number[][] = [
  [-1, -1, -1],
  [-1, -1, 1],
  [-1, 1, -1],
  [-1, 1, 1],
  [1, -1, -1],
  [1, -1, 1],
  [1, 1, -1],
  [1, 1, 1],
];

const POSITIVE = new Set(['-1,-1,1', '-1,1,1', '1,-1,1']);
export const TUTORIAL_TARGETS = TUTORIAL_INPUTS.map((x) => (POSITIVE.has(x.join(',')) ? 1 : -1));

/** The tutorial's starting weights, one row per neuron. */
export const TUTORIAL_WEIGHTS = {
  weights: [
    [
      [-0.2, 0.3, -0.4],
      [0.1, -0.3, -0.4],
    ],
    [[0.2, 0.3]],
  ],
};

export interface TutorialRow {
  input: number[];
  target: number;
  output: number;
}

export interface TutorialOptions {
  /** Add biases (then the weights start uniform in [−0.5, 0.5], seeded). */
  bias: boolean;
  steps: number;
  learningRate: number;
  seed: number;
  backend: Backend;
}

/** Trains the tutorial network and returns its output for each of the 8 inputs. */
export async function runTutorial(options: TutorialOptions): Promise<TutorialRow[]> {
  const net = new Network([3, 2, 1], {
    hidden: 'bipolar',
    output: 'bipolar',
    loss: 'mse',
    bias: options.bias,
    backend: options.backend,
  });
  if (options.bias) {
    net.initialize({ scheme: 'uniform', low: -0.5, high: 0.5 }, options.seed);
  } else {
    net.initialize({ scheme: 'given', ...TUTORIAL_WEIGHTS, source: 'the tutorial' }, options.seed);
  }
  const x = Float32Array.from(TUTORIAL_INPUTS.flat());
  const targets = Float32Array.from(TUTORIAL_TARGETS);
  await fit(
    net,
    { x, targets, count: 8 },
    {
      batchSize: 1,
      learningRate: options.learningRate,
      steps: options.steps,
      sampling: 'random',
      seed: options.seed,
    },
  );
  const outputs = net.forward(x).at(-1)!;
  return TUTORIAL_INPUTS.map((input, i) => ({ input, target: TUTORIAL_TARGETS[i], output: outputs[i] }));
}
