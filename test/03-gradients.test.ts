import { describe, expect, it } from 'vitest';
import { activationSpec, HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS } from '../src/backends/activations.js';
import { gradcheck } from '../src/train/gradcheck.js';
import { everyBackend } from './helpers.js';

const OUTPUTS = OUTPUT_ACTIVATIONS.map((output) => ({ output, loss: activationSpec(output).outputWith! }));

const cases = HIDDEN_ACTIVATIONS.flatMap((hidden) => OUTPUTS.map(({ output, loss }) => ({ hidden, output, loss })));

/**
 * Central differences in float64 against each backend's float32 gradient, tensor by tensor, for
 * every hidden activation × output and loss, with and without biases: the largest difference
 * relative to the tensor's largest gradient must be far below 1 %.
 */
describe.each(everyBackend())('finite-difference gradient check ($label)', ({ make }) => {
  it.each(cases)('$hidden hidden, $output output, $loss', ({ hidden, output, loss }) => {
    for (const bias of [true, false]) {
      const checks = gradcheck({
        sizes: [7, 5, 4, 3],
        network: { hidden, output, loss, bias },
        backend: make(),
        rows: 6,
        seed: 5,
      });
      expect(checks).toHaveLength(bias ? 6 : 3);
      for (const check of checks) expect(check.relativeError, `${check.tensor}, bias ${bias}`).toBeLessThan(1e-4);
    }
  });

  it('a deliberately wrong gradient fails the check', () => {
    const backend = make();
    const wrong = { ...backend, name: backend.name, isa: backend.isa, threads: backend.threads } as typeof backend;
    wrong.forward = backend.forward.bind(backend);
    wrong.trainEpoch = backend.trainEpoch.bind(backend);
    wrong.evaluate = backend.evaluate.bind(backend);
    wrong.gradients = (net, batch, ws) => {
      backend.gradients(net, batch, ws);
      ws.grads[0] *= 1.01;
    };
    const checks = gradcheck({ sizes: [7, 5, 3], network: {}, backend: wrong, rows: 6, seed: 5 });
    expect(checks.map((c) => c.tensor)).toEqual(['layer 1 weight', 'layer 1 bias', 'layer 2 weight', 'layer 2 bias']);
    // 1 % of one gradient, relative to the tensor's largest: between 1e-4 and 1 %; the other tensors stay exact.
    expect(checks[0].relativeError).toBeGreaterThan(1e-4);
    expect(checks[0].relativeError).toBeLessThan(0.01);
    for (const check of checks.slice(1)) expect(check.relativeError, check.tensor).toBeLessThan(1e-6);
    // The last bias's gradient doubled: off by the gradient itself, a relative error of 1 for that
    // tensor alone (the check measures the right slice, against its own largest gradient).
    wrong.gradients = (net, batch, ws) => {
      backend.gradients(net, batch, ws);
      for (let i = net.params.length - 3; i < net.params.length; i++) ws.grads[i] *= 2;
    };
    const doubled = gradcheck({ sizes: [7, 5, 3], network: {}, backend: wrong, rows: 6, seed: 5 });
    expect(doubled.map((c) => c.relativeError < 1e-6)).toEqual([true, true, true, false]);
    expect(doubled[3].relativeError).toBeCloseTo(1, 4);
  });
});
