/**
 * Noise schedules, in float64. Index t runs 0..T-1 as in the seed (and in diffusers):
 * x_t = sqrt(ᾱ_t)·x_0 + sqrt(1-ᾱ_t)·ε with ᾱ_t = Π_{s<=t} (1-β_s).
 */

export type ScheduleKind = 'linear' | 'cosine';

export interface ScheduleConfig {
  kind: ScheduleKind;
  T: number;
  betaStart: number;
  betaEnd: number;
}

/** The seed's schedule: linear β from 1e-4 to 0.02 over 1000 steps. */
export const SEED_SCHEDULE: ScheduleConfig = { kind: 'linear', T: 1000, betaStart: 1e-4, betaEnd: 0.02 };

export interface Schedule {
  config: ScheduleConfig;
  T: number;
  betas: Float64Array;
  alphas: Float64Array;
  alphasCumprod: Float64Array;
}

/** The longest schedule accepted (the seed uses 1000; 4000 is the longest in common use). */
export const MAX_T = 100_000;

/**
 * Why `config` is not a usable schedule, or null: T an integer in [2, MAX_T], a known kind, and
 * for linear 0 < betaStart ≤ betaEnd < 1 (so every β is in (0, 1) and non-decreasing).
 */
export function scheduleProblem(config: Partial<ScheduleConfig>): string | null {
  const c = { ...SEED_SCHEDULE, ...config };
  if (!Number.isInteger(c.T) || c.T < 2) return `T must be an integer >= 2, got ${String(c.T)}`;
  if (c.T > MAX_T) return `T is ${c.T}, more steps than the ${MAX_T} this code accepts`;
  if (c.kind !== 'linear' && c.kind !== 'cosine') return `unknown kind '${String(c.kind)}' (use 'linear' or 'cosine')`;
  if (c.kind === 'linear') {
    const ok = (b: unknown) => typeof b === 'number' && b > 0 && b < 1;
    if (!ok(c.betaStart) || !ok(c.betaEnd)) return `betas must lie in (0, 1), got betaStart ${String(c.betaStart)}, betaEnd ${String(c.betaEnd)}`;
    if (c.betaEnd < c.betaStart) return `betas must not decrease, got betaStart ${c.betaStart} > betaEnd ${c.betaEnd}`;
  }
  return null;
}

export function makeSchedule(config: Partial<ScheduleConfig> = {}): Schedule {
  const c: ScheduleConfig = { ...SEED_SCHEDULE, ...config };
  const problem = scheduleProblem(c);
  if (problem) throw new Error(`schedule: ${problem}`);
  const betas = c.kind === 'linear' ? linearBetas(c) : cosineBetas(c.T);
  const alphas = new Float64Array(c.T);
  const alphasCumprod = new Float64Array(c.T);
  let prod = 1;
  for (let t = 0; t < c.T; t++) {
    alphas[t] = 1 - betas[t];
    prod *= alphas[t];
    alphasCumprod[t] = prod;
  }
  return { config: c, T: c.T, betas, alphas, alphasCumprod };
}

/** torch.linspace(betaStart, betaEnd, T), in float64. */
function linearBetas(c: ScheduleConfig): Float64Array {
  const b = new Float64Array(c.T);
  for (let t = 0; t < c.T; t++) b[t] = c.betaStart + ((c.betaEnd - c.betaStart) * t) / (c.T - 1);
  return b;
}

/** Nichol & Dhariwal (2021): ᾱ(t) = cos²((t/T + s)/(1 + s)·π/2), β clipped at 0.999. */
function cosineBetas(T: number, s = 0.008): Float64Array {
  const f = (t: number) => Math.cos((((t / T) + s) / (1 + s)) * (Math.PI / 2)) ** 2;
  const b = new Float64Array(T);
  for (let t = 0; t < T; t++) b[t] = Math.min(1 - f(t + 1) / f(t), 0.999);
  return b;
}

/** Signal-to-noise ratio ᾱ/(1-ᾱ) per step. */
export function snr(s: Schedule): Float64Array {
  return s.alphasCumprod.map((a) => a / (1 - a));
}

/** ᾱ at index t, with ᾱ_{-1} = 1 (a clean image) for the final step. */
export function alphaBarAt(s: Schedule, t: number): number {
  return t < 0 ? 1 : s.alphasCumprod[t];
}
