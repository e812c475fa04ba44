import { OPTIMIZERS } from '../backends/backend.js';
import { SAMPLINGS } from './fit.js';
import { SCHEDULES } from './schedules.js';
import { describeAugmentation, isAugmentation } from './augmentation.js';

/**
 * The settings a training run is made of, one row each: its command-line option, its place (the
 * same path in `fit`'s options, the command line's settings and a checkpoint's saved training), what
 * a saved value may be, and what `--resume` does with it. A checkpoint's saving, checking and
 * restoring, and the command line's resume rules, all read this table.
 */
export interface TrainingSetting {
  /** The command-line option, when there is one. */
  readonly flag?: string;
  readonly path: readonly [string] | readonly [string, string];
  /** Whether a saved value is one this version reads. */
  readonly valid: (value: unknown) => boolean;
  /** Optional: the setting may be absent from a checkpoint (it then takes its default). */
  readonly optional?: boolean;
  /** The value of files saved before the setting existed (whose object at `path[0]` is absent). */
  readonly before?: unknown;
  /**
   * `saved`: a resumed run keeps the saved value, which the option may not contradict; `extend`:
   * the option may lengthen the run (handled by the resume itself).
   */
  readonly resume: 'saved' | 'extend';
  /** The setting is the command line's (which data), not `fit`'s. */
  readonly dataOnly?: boolean;
  /** How a value reads in a message, when not as it is. */
  readonly text?: (value: never) => string;
}

const isCount =
  (min: number) =>
  (value: unknown): boolean =>
    Number.isInteger(value) && (value as number) >= min;
const atLeast =
  (min: number) =>
  (value: unknown): boolean =>
    typeof value === 'number' && Number.isFinite(value) && value >= min;
const oneOf =
  (names: readonly string[]) =>
  (value: unknown): boolean =>
    names.includes(value as string);

// In the order a checkpoint saves them.
export const TRAINING_SETTINGS: readonly TrainingSetting[] = [
  { flag: 'batch', path: ['batchSize'], valid: isCount(1), resume: 'saved' },
  { flag: 'lr', path: ['learningRate'], valid: atLeast(Number.MIN_VALUE), resume: 'saved' },
  { flag: 'optimizer', path: ['optimizer', 'name'], valid: oneOf(OPTIMIZERS), resume: 'saved' },
  { flag: 'momentum', path: ['optimizer', 'momentum'], valid: atLeast(0), resume: 'saved' },
  { flag: 'weight-decay', path: ['optimizer', 'weightDecay'], valid: atLeast(0), resume: 'saved' },
  // Not options of the command line: the library saves them when they are not the defaults.
  { path: ['optimizer', 'beta1'], valid: atLeast(0), optional: true, resume: 'saved' },
  { path: ['optimizer', 'beta2'], valid: atLeast(0), optional: true, resume: 'saved' },
  { path: ['optimizer', 'epsilon'], valid: atLeast(0), optional: true, resume: 'saved' },
  { flag: 'schedule', path: ['schedule', 'name'], valid: oneOf(SCHEDULES), before: 'constant', resume: 'saved' },
  { flag: 'warmup', path: ['schedule', 'warmup'], valid: isCount(0), before: 0, resume: 'saved' },
  { flag: 'epochs', path: ['epochs'], valid: isCount(1), resume: 'extend' },
  { flag: 'steps', path: ['steps'], valid: isCount(1), optional: true, resume: 'saved' },
  { flag: 'sampling', path: ['sampling'], valid: oneOf(SAMPLINGS), resume: 'saved' },
  { flag: 'seed', path: ['seed'], valid: isCount(0), resume: 'saved' },
  {
    flag: 'augment',
    path: ['augment'],
    valid: isAugmentation,
    optional: true,
    resume: 'saved',
    text: describeAugmentation,
  },
  { flag: 'limit', path: ['limit'], valid: isCount(1), optional: true, resume: 'saved', dataOnly: true },
  { flag: 'classes', path: ['classes'], valid: isCount(1), optional: true, resume: 'saved', dataOnly: true },
];

type Tree = Record<string, unknown>;

const isTree = (value: unknown): value is Tree => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The setting's value in `settings`, when it is there. */
export function givenSetting(settings: object, setting: TrainingSetting): unknown {
  const [head, tail] = setting.path;
  const top = (settings as Tree)[head];
  if (tail === undefined) return top;
  return isTree(top) ? top[tail] : undefined;
}

/** The setting's value in `settings` (a checkpoint's from before it existed: its `before`). */
export function settingOf(settings: object, setting: TrainingSetting): unknown {
  const [head, tail] = setting.path;
  return tail !== undefined && !isTree((settings as Tree)[head]) ? setting.before : givenSetting(settings, setting);
}

/** `settings` with the setting's value set (an undefined value leaves it out). */
export function withSetting<T extends object>(settings: T, setting: TrainingSetting, value: unknown): T {
  if (value === undefined) return settings;
  const [head, tail] = setting.path;
  const tree = settings as Tree;
  if (tail === undefined) return { ...settings, [head]: value };
  return { ...settings, [head]: { ...(isTree(tree[head]) ? tree[head] : {}), [tail]: value } };
}

/** Whether a checkpoint's saved training holds a valid value of every setting. */
export function validSettings(saved: Tree): boolean {
  return TRAINING_SETTINGS.every((setting) => {
    const value = settingOf(saved, setting);
    const [head, tail] = setting.path;
    if (tail !== undefined && saved[head] !== undefined && !isTree(saved[head])) return false;
    if (value === undefined) return setting.optional === true;
    return setting.valid(value);
  });
}
