import { DataError } from '../errors.js';

/** How labels are named in messages: the data's name, a sample's position, a label's text. */
export interface LabelContext {
  name: string;
  where: (index: number) => string;
  label?: (value: number) => string;
  /** Classes declared by the caller, when some have no samples. */
  classes?: number;
}

/**
 * The number of classes of training labels: `classes` when declared, else max + 1 — refused when
 * some class below the largest has no sample, since one stray label (a 200 among digits, classes
 * numbered from 1) would otherwise build a network with outputs that nothing trains.
 */
export function classCount(labels: Uint8Array, context: LabelContext): number {
  const label = context.label ?? String;
  if (context.classes !== undefined) {
    checkLabelsWithin(labels, context.classes, context);
    return context.classes;
  }
  const seen = new Uint8Array(256);
  let max = 0;
  let maxAt = 0;
  for (let i = 0; i < labels.length; i++) {
    seen[labels[i]] = 1;
    if (labels[i] > max) [max, maxAt] = [labels[i], i];
  }
  const missing: number[] = [];
  for (let c = 0; c < max; c++) if (seen[c] === 0) missing.push(c);
  if (missing.length > 0) {
    const list =
      missing.length > 4
        ? `${missing.slice(0, 3).map(label).join(', ')}, … ${label(missing.at(-1)!)}`
        : missing.map(label).join(', ');
    throw new DataError(
      `${context.name}: class${missing.length > 1 ? 'es' : ''} ${list} ha${missing.length > 1 ? 've' : 's'} no samples, yet label ${label(max)} ` +
        `(${context.where(maxAt)}) makes ${max + 1} classes; number the classes from 0 without gaps, or declare how many there are`,
      'declare-classes',
    );
  }
  return max + 1;
}

/** Refuses a label that is not one of `classes` classes (a test label the training data never has). */
export function checkLabelsWithin(labels: Uint8Array, classes: number, context: LabelContext): void {
  const label = context.label ?? String;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= classes) {
      throw new DataError(
        `${context.name}: label ${label(labels[i])} (${context.where(i)}) is not one of the ${classes} classes (0–${classes - 1}) of the training data`,
      );
    }
  }
}
