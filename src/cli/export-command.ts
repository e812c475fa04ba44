import { EXIT, UsageError } from '../errors.js';
import { EXPORT_OPTIONS } from './specs.js';
import { ONNX_OPSET, toOnnx } from '../export/onnx.js';
import { loadModel } from '../model/safetensors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { defineCommand, packageVersion } from './command.js';
import { outputsOf, refuseClashes } from './setup.js';
import { savedRunOf } from '../train/checkpoint.js';

export const exportCommand = defineCommand({
  summary: 'write a saved model as ONNX: input [N, inputs] scaled as in training, output [N, outputs]',
  options: EXPORT_OPTIONS,
  run: async (options, io) => {
    const { model, out } = options;
    if (model === undefined || out === undefined) throw new UsageError('export needs --model FILE and --out FILE');
    refuseClashes({ model }, outputsOf({ out }));
    const file = loadModel(model);
    const { preprocessing } = savedRunOf(file, model);
    writeFileAtomic(out, toOnnx(file.architecture, file.params, packageVersion(), preprocessing));
    io.out(
      `wrote ${out} (ONNX opset ${ONNX_OPSET}, ${file.architecture.sizes.join('-')}, input "input" [N, ${file.architecture.sizes[0]}], output "output" [N, ${file.architecture.sizes.at(-1)}])`,
    );
    return EXIT.ok;
  },
});
