import { existsSync } from 'node:fs';
import { sameFile } from '../io/files.js';
import { bundledMnistDir } from '../data/mnist.js';
import { DataError, UsageError } from '../errors.js';
import type { ModelFile } from '../model/safetensors.js';
import type { SavedCsv, SavedRun, SavedTraining } from '../train/checkpoint.js';
import { settingOf, TRAINING_SETTINGS, withSetting } from '../train/settings.js';
import type { TrainOptionName, TrainOptions } from './specs.js';
import { refuseCsvOptions, type TrainSettings } from './setup.js';

/** The CSV options of a run as they are saved (the scaling is saved with the preprocessing). */
export function savedCsvOf({ target, normalize, valSplit, delimiter }: TrainSettings['csv']): SavedCsv {
  return { target, normalize, valSplit, delimiter };
}

/**
 * The settings that continue the run saved in `path`: the saved ones, which an option given on the
 * command line may not contradict (it would silently change the run). `--epochs` may extend it.
 */
export function resumedSettings(
  options: TrainOptions,
  asked: TrainSettings,
  file: ModelFile,
  run: SavedRun,
  path: string,
): TrainSettings {
  const { architecture } = file;
  const saved = run.training;
  // A value as the option is written: a list comma-separated.
  const plain = (value: unknown): string => (Array.isArray(value) ? value.join(',') : String(value));
  const conflict = (option: TrainOptionName, given: unknown, had: unknown, text = plain): UsageError => {
    const trained = had === undefined ? `without --${option}` : `with ${text(had)}`;
    return new UsageError(
      `--${option} ${text(given)} contradicts ${path}, which was trained ${trained}; leave --${option} out to continue that run`,
    );
  };
  const check = (option: TrainOptionName, given: unknown, had: unknown, format?: (value: never) => string): void => {
    const text = format ? (value: unknown): string => (value === undefined ? 'none' : format(value as never)) : plain;
    if (options.given.has(option) && text(given) !== text(had)) throw conflict(option, given, had, text);
  };
  const hiddenActivations = architecture.activations.slice(0, -1);
  check('hidden', asked.hidden, architecture.sizes.slice(1, -1));
  check(
    'activation',
    options.activation,
    hiddenActivations.every((a) => a === hiddenActivations[0]) ? hiddenActivations[0] : hiddenActivations,
  );
  check('output', asked.network.output, architecture.activations.at(-1));
  const dropout = architecture.dropout ?? [0];
  check('dropout', options.dropout, dropout.every((p) => p === dropout[0]) ? dropout[0] : dropout);
  check('loss', asked.network.loss, architecture.loss);
  if ((options.given.has('no-bias') || options.given.has('bias')) && asked.network.bias !== architecture.bias) {
    throw conflict(asked.network.bias ? 'bias' : 'no-bias', '', architecture.bias ? 'biases' : 'no biases');
  }
  if (!saved) return { ...asked, hidden: architecture.sizes.slice(1, -1) };
  // Every setting the run saved is kept; an option may not contradict it (TRAINING_SETTINGS).
  let restored: TrainSettings = asked;
  for (const setting of TRAINING_SETTINGS.filter((s) => s.resume === 'saved')) {
    const had = settingOf(saved, setting);
    if (setting.flag) check(setting.flag as TrainOptionName, settingOf(asked, setting), had, setting.text);
    restored = withSetting(restored, setting, had);
    // A setting saved as absent (no --limit) stays absent.
    if (had === undefined && setting.path.length === 1) restored = { ...restored, [setting.path[0]]: undefined };
  }
  if (options.given.has('momentum') && saved.optimizer.name !== 'momentum') {
    throw new UsageError(
      `--momentum applies to --optimizer momentum, and ${path} was trained with ${saved.optimizer.name}`,
    );
  }
  if (options.given.has('shuffle') && saved.sampling !== 'shuffle')
    throw conflict('shuffle', '', `--sampling ${saved.sampling}`);
  const done = run.history.length;
  const epochs = options.given.has('epochs') ? asked.epochs : saved.epochs;
  if (saved.steps === undefined && epochs <= done) {
    throw new UsageError(
      `${path} has ${done} epoch${done === 1 ? '' : 's'} done; --epochs ${epochs} would train nothing (give more than ${done})`,
    );
  }
  const csv = resumedCsv(asked, saved, run);
  return {
    ...restored,
    csv,
    hidden: saved.hidden,
    epochs,
    dataDir: resumedData(options.given.has('data') ? asked.dataDir : undefined, saved, path),
  };

  /** The CSV reading of the run, its scaling restored as saved (never fitted again), which options may not contradict. */
  function resumedCsv(asked: TrainSettings, saved: SavedTraining, run: SavedRun): TrainSettings['csv'] {
    const preprocessing = run.preprocessing?.kind === 'csv' ? run.preprocessing : undefined;
    if (!preprocessing) {
      refuseCsvOptions(asked.csv, true);
      check('val-split', asked.csv.valSplit, saved.valSplit);
      return { ...asked.csv, valSplit: saved.valSplit };
    }
    // Files saved before the CSV options were kept name their target and delimiter in the preprocessing.
    const had: SavedCsv = saved.csv ?? {
      target: preprocessing.target,
      delimiter: preprocessing.delimiter,
      valSplit: asked.csv.valSplit,
    };
    if (saved.csv) {
      check('normalize', asked.csv.normalize, had.normalize);
      check('val-split', asked.csv.valSplit, had.valSplit);
    }
    check('target', asked.csv.target, had.target);
    check('delimiter', asked.csv.delimiter, had.delimiter);
    const { shift, scale, targetShift, targetScale } = preprocessing;
    const targetScaling = targetShift && targetScale ? { shift: targetShift, scale: targetScale } : undefined;
    return { ...had, scaling: { shift, scale }, targetScaling };
  }
}

/**
 * The data folder or file the run trained on: the saved one, which --data may name again but not
 * contradict; where the saved one is gone, --data says where it went.
 */
function resumedData(given: string | undefined, saved: SavedTraining, path: string): string {
  const had = saved.data ?? bundledMnistDir();
  const there = existsSync(had);
  if (given !== undefined && there && !sameFile(given, had)) {
    const trained = saved.data === undefined ? 'the bundled MNIST' : had;
    throw new UsageError(
      `--data ${given} contradicts ${path}, which trained on ${trained}; leave --data out to continue that run`,
    );
  }
  if (there) return had;
  if (given !== undefined) return given;
  throw new DataError(`${path} trained on ${had}, which is not there any more; give --data with the same data`);
}
