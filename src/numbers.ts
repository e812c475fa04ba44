/** A figure as a person reads it: 4 decimals, or 5 significant digits once it is large (an unscaled regression's error 1.4349e+11). */
export function readableNumber(n: number): string {
  return Math.abs(n) < 1e5 ? n.toFixed(4) : n.toPrecision(5);
}

/**
 * An integer with its thousands grouped, `60,000`, as toLocaleString('en-US') writes it: that call
 * loads the ICU locale data on first use, 28 ms of every run's start.
 */
export function grouped(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}
