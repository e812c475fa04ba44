import { descriptionOf, type Architecture } from '../model/layout.js';
import { parameterLayout } from '../backends/layers.js';
import { activationSpec } from '../backends/activations.js';
import type { Preprocessing } from '../data/mnist.js';

/**
 * Writes a network as an ONNX model (opset 13): input `input` [N, inputs], output `output`
 * [N, outputs] — the softmax probabilities, or the outputs of an mse network.
 * The protobuf is written by hand: the few messages an ONNX graph of MatMul, Add and activations
 * needs are small, and a dependency for them would be larger than this file.
 */
export const ONNX_OPSET = 13;
const IR_VERSION = 7; // the IR version of opset 13
const FLOAT = 1; // TensorProto.DataType.FLOAT

/** Protobuf wire format: varints, and length-delimited fields for strings, bytes and messages. */
class Proto {
  private readonly parts: Buffer[] = [];

  private varint(value: number | bigint): void {
    let v = BigInt(value);
    const bytes: number[] = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) byte |= 0x80;
      bytes.push(byte);
    } while (v > 0n);
    this.parts.push(Buffer.from(bytes));
  }

  int(field: number, value: number): this {
    this.varint((field << 3) | 0);
    this.varint(value);
    return this;
  }

  bytes(field: number, value: Buffer): this {
    this.varint((field << 3) | 2);
    this.varint(value.length);
    this.parts.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, Buffer.from(value, 'utf8'));
  }

  message(field: number, value: Proto): this {
    return this.bytes(field, value.toBuffer());
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

function tensor(name: string, dims: number[], values: Float32Array): Proto {
  const raw = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => raw.writeFloatLE(v, i * 4));
  const proto = new Proto();
  for (const d of dims) proto.int(1, d);
  return proto.int(2, FLOAT).string(8, name).bytes(9, raw);
}

function node(op: string, inputs: string[], output: string): Proto {
  const proto = new Proto();
  for (const input of inputs) proto.string(1, input);
  return proto.string(2, output).string(3, `${op}_${output}`).string(4, op);
}

/** A float tensor [N, width] with a symbolic batch dimension. */
function valueInfo(name: string, width: number): Proto {
  const shape = new Proto().message(1, new Proto().string(2, 'N')).message(1, new Proto().int(1, width));
  const tensorType = new Proto().int(1, FLOAT).message(2, shape);
  return new Proto().string(1, name).message(2, new Proto().message(1, tensorType));
}

/**
 * The ONNX graph of a model. With the preprocessing of a CSV model, the graph takes the raw columns
 * (each shifted and divided as in training, first) and gives a regression's outputs in the units of
 * its targets (the targets' scaling undone, last); the class names go into the metadata as JSON
 * (`class_names`), with the feature columns (`features`). An IDX model takes pixels ÷ 255, as it
 * trained on them.
 */
export function toOnnx(
  architecture: Architecture,
  params: Float32Array,
  producerVersion: string,
  preprocessing?: Preprocessing,
): Buffer {
  const { sizes } = architecture;
  const description = descriptionOf(architecture);
  const graph = new Proto();
  const initializers: Proto[] = [];
  let current = 'input';
  const csv = preprocessing?.kind === 'csv' ? preprocessing : undefined;
  if (csv) {
    initializers.push(
      tensor('input.shift', [sizes[0]], Float32Array.from(csv.shift)),
      tensor('input.scale', [sizes[0]], Float32Array.from(csv.scale)),
    );
    graph.message(1, node('Sub', ['input', 'input.shift'], 'input.shifted'));
    graph.message(1, node('Div', ['input.shifted', 'input.scale'], 'input.scaled'));
    current = 'input.scaled';
  }
  const outputs = sizes[sizes.length - 1];
  const unscaled = csv?.targetShift && csv.targetScale ? { shift: csv.targetShift, scale: csv.targetScale } : undefined;
  // The activations' scalar constants, one initializer each.
  const constants = new Map<string, number>();
  const constant = (value: number): string => {
    const name = `const.${value}`;
    constants.set(name, value);
    return name;
  };
  // The layer list, lowered: a dense layer is a MatMul and an Add, an activation its steps, and
  // a noise layer nothing (it is off at inference).
  const layout = parameterLayout(architecture);
  const lastLayer = description.layers.length - 1;
  let dense = -1;
  let layer = '';
  let z = current;
  description.layers.forEach((spec, i) => {
    if (spec.kind === 'dense') {
      const l = layout[++dense];
      layer = `layer${dense}`;
      initializers.push(
        tensor(`${layer}.weight`, [l.inputs, l.outputs], params.subarray(l.weight, l.weight + l.inputs * l.outputs)),
      );
      graph.message(1, node('MatMul', [current, `${layer}.weight`], `${layer}.matmul`));
      current = `${layer}.matmul`;
      if (l.bias >= 0) {
        initializers.push(tensor(`${layer}.bias`, [l.outputs], params.subarray(l.bias, l.bias + l.outputs)));
        graph.message(1, node('Add', [current, `${layer}.bias`], `${layer}.z`));
        current = `${layer}.z`;
      }
      z = current;
    } else if (spec.kind === 'activation') {
      const steps = activationSpec(spec.activation).onnx;
      steps.forEach(([op, ...inputs], step) => {
        const names = inputs.map((input) => (input === 'z' ? z : input === 'previous' ? current : constant(input)));
        current =
          step === steps.length - 1
            ? i === lastLayer && !unscaled
              ? 'output'
              : `${layer}.out`
            : `${layer}.${op.toLowerCase()}${step}`;
        graph.message(1, node(op, names, current));
      });
    }
  });
  if (unscaled) {
    initializers.push(
      tensor('output.scale', [outputs], Float32Array.from(unscaled.scale)),
      tensor('output.shift', [outputs], Float32Array.from(unscaled.shift)),
    );
    graph.message(1, node('Mul', [current, 'output.scale'], 'output.scaled'));
    graph.message(1, node('Add', ['output.scaled', 'output.shift'], 'output'));
  }
  for (const [name, value] of constants) initializers.push(tensor(name, [], Float32Array.of(value)));
  graph.string(2, 'backprop');
  for (const initializer of initializers) graph.message(5, initializer);
  graph.message(11, valueInfo('input', sizes[0]));
  graph.message(12, valueInfo('output', sizes[sizes.length - 1]));
  const model = new Proto()
    .int(1, IR_VERSION)
    .string(2, 'backprop')
    .string(3, producerVersion)
    .message(7, graph)
    .message(8, new Proto().string(1, '').int(2, ONNX_OPSET));
  // ModelProto.metadata_props: StringStringEntryProto { key = 1, value = 2 }.
  const metadata: [string, string][] = csv
    ? [
        ['features', JSON.stringify(csv.features)],
        ...(csv.classNames ? [['class_names', JSON.stringify(csv.classNames)] as [string, string]] : []),
      ]
    : [];
  for (const [key, value] of metadata) model.message(14, new Proto().string(1, key).string(2, value));
  return model.toBuffer();
}
