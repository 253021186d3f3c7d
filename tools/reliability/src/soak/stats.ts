/** The value at percentile `p` (0–100) of an ascending array (nearest rank), 0 when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** Least-squares slope of y over x (0 with fewer than two points or no spread in x). */
export function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const num = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  const den = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

/** Slope of the second half of a series of [minute, MiB] samples: MiB per minute once warmed up. */
export function secondHalfSlope(samples: ReadonlyArray<readonly [number, number]>): number {
  return Number(slope(secondHalf(samples)).toFixed(2));
}

/**
 * Standard error of the least-squares slope (the residuals' spread over the spread in x): how far the slope of pure
 * noise strays from 0. A slope within ~3 standard errors is indistinguishable from noise. 0 with fewer than 3 points.
 */
export function slopeStdErr(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  if (n < 3) return 0;
  const b = slope(points);
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  if (sxx === 0) return 0;
  const ssr = points.reduce((a, [x, y]) => a + (y - (my + b * (x - mx))) ** 2, 0);
  return Math.sqrt(ssr / (n - 2) / sxx);
}

/** The second half of a series (after warm-up), as the slope statistics use it. */
export function secondHalf<T>(samples: readonly T[]): T[] {
  return samples.slice(Math.floor(samples.length / 2));
}
