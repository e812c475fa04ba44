import { UsageError } from '../errors.js';

/** How an option's value is read. */
type Kind =
  | { type: 'flag' }
  | { type: 'int'; min: number; max: number }
  | { type: 'number'; min: number; exclusiveMin?: boolean }
  | { type: 'intList'; min: number; max: number }
  | { type: 'numberList'; min: number; max: number }
  | { type: 'choice'; choices: readonly string[] }
  | { type: 'choiceList'; choices: readonly string[] }
  | { type: 'path' }
  | { type: 'text' }
  /** One or more paths: every following argument up to the next option. */
  | { type: 'paths' };

export interface OptionSpec {
  name: string;
  kind: Kind;
  /** The heading it is listed under in --help (network, training, data, backend, output). */
  group?: string;
  /** Shown in --help, e.g. `N` or `0.1`. */
  value?: string;
  help: string;
  default?: string;
}

type OptionValue = boolean | number | number[] | string | string[];

/** The value an option of kind K is read as. */
type ValueOf<K extends Kind> = K extends { type: 'flag' }
  ? boolean
  : K extends { type: 'int' | 'number' }
    ? number
    : K extends { type: 'intList' | 'numberList' }
      ? number[]
      : K extends { type: 'choice'; choices: readonly (infer C)[] }
        ? C
        : K extends { type: 'choiceList'; choices: readonly (infer C)[] }
          ? C[]
          : K extends { type: 'path' | 'text' }
            ? string
            : string[];

/** `weight-decay` → `weightDecay`. */
type CamelCase<S extends string> = S extends `${infer Head}-${infer Tail}`
  ? `${Head}${Capitalize<CamelCase<Tail>>}`
  : S;

/**
 * A command's option values, by camel-cased name: flags are booleans, an option with a default always
 * has a value, the others are undefined unless given. `given` holds the names the user typed.
 */
export type Options<S extends readonly OptionSpec[]> = {
  readonly [Spec in S[number] as CamelCase<Spec['name']>]: Spec extends { kind: { type: 'flag' } }
    ? boolean
    : Spec extends { default: string }
      ? ValueOf<Spec['kind']>
      : ValueOf<Spec['kind']> | undefined;
} & { readonly given: ReadonlySet<S[number]['name']> };

export const camelCase = (name: string): string => name.replace(/-(\w)/g, (_, letter: string) => letter.toUpperCase());

/** The specs of `specs` not named in `names`, typed as those. */
export function omit<S extends readonly OptionSpec[], N extends S[number]['name']>(
  specs: S,
  names: readonly N[],
): Exclude<S[number], { name: N }>[] {
  const unwanted: readonly string[] = names;
  return specs.filter((spec): spec is Exclude<S[number], { name: N }> => !unwanted.includes(spec.name));
}

/** The specs of `specs` named in `names`, typed as those. */
export function pick<S extends readonly OptionSpec[], N extends S[number]['name']>(
  specs: S,
  names: readonly N[],
): Extract<S[number], { name: N }>[] {
  const wanted: readonly string[] = names;
  return specs.filter((spec): spec is Extract<S[number], { name: N }> => wanted.includes(spec.name));
}

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/**
 * A number as a user may type it: `0.1`, `1e-3`, or with a decimal comma, `0,1` (the seed's README
 * writes `--lr 0,1`).
 */
export function parseNumber(text: string): number | undefined {
  const normalised = /^[+-]?\d*,\d+$/.test(text) ? text.replace(',', '.') : text;
  return DECIMAL.test(normalised) ? Number(normalised) : undefined;
}

function parseInteger(text: string, option: string, min: number, max: number): number {
  const value = parseNumber(text);
  if (value === undefined) throw new UsageError(`--${option} expects a whole number, got '${text}'`);
  if (!Number.isInteger(value)) throw new UsageError(`--${option} expects a whole number, got ${text}`);
  if (value < min) throw new UsageError(`--${option} must be at least ${min}, got ${text}`);
  if (value > max) throw new UsageError(`--${option} must be at most ${max}, got ${text}`);
  return value;
}

function parseValue(spec: OptionSpec, text: string): OptionValue {
  const kind = spec.kind;
  switch (kind.type) {
    case 'flag':
      return text === 'true';
    case 'path':
      if (text === '') throw new UsageError(`--${spec.name} expects a path`);
      return text;
    case 'text':
      if (text === '') throw new UsageError(`--${spec.name} expects a value`);
      return text;
    case 'paths':
      return text.split('\0');
    case 'int':
      return parseInteger(text, spec.name, kind.min, kind.max);
    case 'intList':
      return text.split(',').map((part) => parseInteger(part.trim(), spec.name, kind.min, kind.max));
    case 'numberList': {
      const parts = text.split(',').map((part) => parseNumber(part.trim()));
      const bad = parts.findIndex((value) => value === undefined || !(value >= kind.min && value <= kind.max));
      if (bad < 0) return parts as number[];
      // 0,5 is a list of two here, though --lr takes it as a decimal comma.
      const hint = /^\d+,\d+$/.test(text)
        ? ` (values are comma-separated: write ${text.replace(',', '.')} for one)`
        : '';
      throw new UsageError(
        `--${spec.name} expects numbers from ${kind.min} to ${kind.max}, one or a comma-separated list, got '${text}'${hint}`,
      );
    }
    case 'number': {
      const value = parseNumber(text);
      if (value === undefined || !Number.isFinite(value))
        throw new UsageError(`--${spec.name} expects a number, got '${text}'`);
      if (kind.exclusiveMin ? value <= kind.min : value < kind.min) {
        throw new UsageError(
          `--${spec.name} must be ${kind.exclusiveMin ? 'greater than' : 'at least'} ${kind.min}, got ${text}`,
        );
      }
      return value;
    }
    case 'choice':
      if (!kind.choices.includes(text)) {
        throw new UsageError(`--${spec.name} expects one of ${kind.choices.join(', ')}, got '${text}'`);
      }
      return text;
    case 'choiceList':
      return text.split(',').map((part) => {
        if (!kind.choices.includes(part)) {
          throw new UsageError(
            `--${spec.name} expects ${kind.choices.join(', ')} (or a comma-separated list of them), got '${part}'`,
          );
        }
        return part;
      });
  }
}

/** Edits (insert, delete, substitute, swap two neighbours) that turn `a` into `b`. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** ` (did you mean X?)` for the closest of `candidates` within a typo's reach of `word`, else ''. */
export function suggestion(word: string, candidates: readonly string[], prefix = ''): string {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.min(2, Math.floor(word.length / 3)));
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance <= bestDistance && (best === undefined || distance < bestDistance))
      [best, bestDistance] = [candidate, distance];
  }
  return best === undefined ? '' : ` (did you mean ${prefix}${best}?)`;
}

/**
 * Reads `--name value`, `--name=value` and `--flag` against `specs`. An unknown option, a missing
 * value, a stray argument or an option given twice with different values is a UsageError.
 */
export function parseOptions<S extends readonly OptionSpec[]>(
  args: readonly string[],
  specs: S,
  command: string,
): Options<S> {
  const byName = new Map<string, OptionSpec>(specs.map((spec) => [spec.name, spec]));
  const values = new Map<string, OptionValue>();
  const given = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith('--') || arg === '--') {
      throw new UsageError(`unexpected argument '${arg}' (see \`backprop ${command} --help\`)`);
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const spec = byName.get(name);
    if (!spec) {
      const hint = suggestion(name, [...byName.keys()], '--') || ` (see \`backprop ${command} --help\`)`;
      throw new UsageError(`unknown option --${name} for \`backprop ${command}\`${hint}`);
    }
    let text: string;
    if (spec.kind.type === 'flag') {
      if (eq !== -1) throw new UsageError(`--${name} is a flag and takes no value`);
      text = 'true';
    } else if (eq !== -1) {
      text = arg.slice(eq + 1);
    } else if (spec.kind.type === 'paths') {
      const paths: string[] = [];
      while (i + 1 < args.length && !args[i + 1].startsWith('--')) paths.push(args[++i]);
      if (paths.length === 0) throw new UsageError(`--${name} needs at least one path`);
      text = paths.join('\0');
    } else {
      const next = args[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2))
        throw new UsageError(`--${name} needs a value`);
      text = next;
      i++;
    }
    const previous = given.get(name);
    if (previous !== undefined && previous !== text) {
      throw new UsageError(`--${name} is given twice with different values ('${previous}' and '${text}')`);
    }
    given.set(name, text);
    values.set(name, parseValue(spec, text));
  }
  const parsed: Record<string, OptionValue | undefined | ReadonlySet<string>> = { given: new Set(given.keys()) };
  for (const spec of specs) {
    const text = spec.kind.type === 'flag' ? 'false' : spec.default;
    parsed[camelCase(spec.name)] = values.get(spec.name) ?? (text === undefined ? undefined : parseValue(spec, text));
  }
  // The one place where the values meet their types: each was parsed by its own spec's kind.
  return parsed as Options<S>;
}

/** The options under their headings, each with its value, help and default, aligned. */
export function helpText(specs: readonly OptionSpec[]): string {
  const rows = specs.map((spec) => [
    `--${spec.name}${spec.value ? ` ${spec.value}` : ''}`,
    spec.help + (spec.default !== undefined && spec.kind.type !== 'flag' ? ` (default ${spec.default})` : ''),
  ]);
  const width = Math.max(...rows.map(([left]) => left.length));
  const groups = [...new Set(specs.map((spec) => spec.group ?? 'options'))];
  return groups
    .map((group) => {
      const lines = specs.flatMap((spec, i) =>
        (spec.group ?? 'options') === group ? [`  ${rows[i][0].padEnd(width)}  ${rows[i][1]}`] : [],
      );
      return `${group}:\n${lines.join('\n')}`;
    })
    .join('\n\n');
}
