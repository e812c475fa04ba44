#!/usr/bin/env node
// Mutation testing (StrykerJS) of one part of src/ at a time, against the test files that exercise
// that part directly: a module's mutants are covered by the few tests written for it, not by every
// test that happens to load data, so a part takes minutes instead of the whole set's many hours.
// `npm run test:mutation -- csv` runs one part; with no argument, every part in turn. Runs are
// incremental: a later run re-tests only the mutants whose code or tests changed.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const PARTS = {
  'data-files': {
    mutate: ['src/data/idx.ts', 'src/model/safetensors.ts', 'src/model/metrics.ts', 'src/model/rng.ts'],
    tests: ['01-data', '02-model', '07-models'],
  },
  model: { mutate: ['src/model/init.ts', 'src/model/network.ts'], tests: ['02-model', '03-gradients', '07-models'] },
  csv: {
    mutate: ['src/data/csv-reader.ts', 'src/data/csv.ts'],
    tests: ['01-data', '08-reliability', '09-nothing-lost'],
  },
  datasets: {
    mutate: ['src/data/dataset.ts', 'src/data/mnist.ts', 'src/data/classes.ts'],
    tests: ['01-data', '05-training', '09-nothing-lost'],
  },
  images: { mutate: ['src/data/image.ts'], tests: ['10-images'] },
  training: {
    mutate: ['src/train/fit.ts', 'src/train/evaluate.ts', 'src/train/gradcheck.ts'],
    tests: ['03-gradients', '05-training', '08-reliability'],
  },
  io: { mutate: ['src/io/atomic.ts', 'src/io/files.ts'], tests: ['08-reliability', '09-nothing-lost'] },
  export: { mutate: ['src/export/onnx.ts'], tests: ['07-models'] },
  printing: { mutate: ['src/cli/report.ts', 'src/cli/predict-command.ts'], tests: ['06-cli', '07-models'] },
};

const asked = process.argv.slice(2);
const unknown = asked.filter((name) => !(name in PARTS));
if (unknown.length > 0) {
  console.error(`mutation: no part named ${unknown.join(', ')}; the parts are ${Object.keys(PARTS).join(', ')}`);
  process.exit(2);
}

const out = join('reports', 'mutation');
mkdirSync(out, { recursive: true });
let failed = false;
for (const name of asked.length > 0 ? asked : Object.keys(PARTS)) {
  const { mutate, tests } = PARTS[name];
  const config = join(out, `${name}.stryker.json`);
  writeFileSync(
    config,
    JSON.stringify(
      {
        $schema: '../../node_modules/@stryker-mutator/core/schema/stryker-schema.json',
        testRunner: 'vitest',
        vitest: { configFile: 'vitest.config.ts' },
        coverageAnalysis: 'perTest',
        mutate,
        concurrency: 2,
        timeoutMS: 30000,
        timeoutFactor: 2,
        reporters: ['clear-text', 'progress-append-only', 'json', 'html'],
        jsonReporter: { fileName: join(out, `${name}.json`) },
        htmlReporter: { fileName: join(out, `${name}.html`) },
        incremental: true,
        incrementalFile: join('reports', `stryker-incremental-${name}.json`),
        tempDirName: '.stryker-tmp',
        cleanTempDir: 'always',
        ignoreStatic: true,
        thresholds: { high: 90, low: 85, break: null },
        dryRunTimeoutMinutes: 20,
      },
      null,
      1,
    ),
  );
  console.log(`mutation: ${name}: ${mutate.join(', ')} against ${tests.join(', ')}`);
  const files = tests.map((test) => `test/${test}.test.ts`).join(',');
  const run = spawnSync('npx', ['stryker', 'run', config], {
    stdio: 'inherit',
    env: { ...process.env, BACKPROP_TEST_FILES: files },
  });
  failed ||= run.status !== 0;
}
process.exit(failed ? 1 : 0);
