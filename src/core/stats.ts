/** Median and quartiles of timing samples: the benchmark CLI and the benchmark worker report these. */

/** Median and spread of a sample. q1/q3 are linear-interpolated quartiles (meaningful from n ≥ 4). */
export interface Stats {
  n: number;
  median: number;
  min: number;
  max: number;
  q1: number;
  q3: number;
}

/** Median, extremes and linear-interpolated quartiles of `xs`; null for none. */
export function stats(xs: number[]): Stats | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => {
    const i = (s.length - 1) * p;
    const lo = Math.floor(i);
    const hi = Math.ceil(i);
    return s[lo] + (s[hi] - s[lo]) * (i - lo);
  };
  return { n: s.length, median: q(0.5), min: s[0], max: s[s.length - 1], q1: q(0.25), q3: q(0.75) };
}

/** Stats of f(x) for a decreasing f (e.g. ms → images/s): min and max swap. */
export function mapStats(s: Stats | null, f: (x: number) => number): Stats | null {
  if (!s) return null;
  const [a, b] = [f(s.min), f(s.max)];
  const [c, d] = [f(s.q1), f(s.q3)];
  return { n: s.n, median: f(s.median), min: Math.min(a, b), max: Math.max(a, b), q1: Math.min(c, d), q3: Math.max(c, d) };
}
