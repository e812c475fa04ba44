/** A figure as a person reads it: 4 decimals, or 5 significant digits once it is large (an unscaled regression's error 1.4349e+11). */
export function readableNumber(n: number): string {
  return Math.abs(n) < 1e5 ? n.toFixed(4) : n.toPrecision(5);
}
