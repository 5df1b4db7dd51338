/**
 * Plain-JS versions (no tfjs) of two core formulas, for the page's light worker, which must
 * not load tfjs. model.ts and diffusion.ts re-export them next to their tensor versions;
 * test/light-core.test.ts checks that both versions agree.
 */
import type { Schedule } from './schedule.ts';

/**
 * The sinusoidal time embedding of model.ts `timeEmbedding`: one row per t, `dim` columns
 * [sin(t·f_0..f_{half-1}), cos(t·f_0..f_{half-1})] with f_i = exp(−i·ln(10000)/(half−1)).
 * Frequencies and arguments are rounded to float32 like the tensor version, so the two agree
 * to float32 precision.
 */
export function timeEmbeddingValues(t: ArrayLike<number>, dim: number): Float32Array {
  const freqs = timeEmbeddingFreqs(dim);
  const half = dim / 2;
  const out = new Float32Array(t.length * dim);
  for (let r = 0; r < t.length; r++) {
    const row = r * dim;
    const tr = Math.fround(t[r]);
    for (let i = 0; i < half; i++) {
      const a = Math.fround(tr * freqs[i]);
      out[row + i] = Math.sin(a);
      out[row + half + i] = Math.cos(a);
    }
  }
  return out;
}

/** The embedding's frequencies f_i = exp(−i·ln(10000)/(half−1)), i < dim/2 (float32-rounded). */
export function timeEmbeddingFreqs(dim: number): Float64Array {
  if (!Number.isInteger(dim) || dim < 4 || dim % 2 !== 0) {
    throw new Error(`timeEmbedding: dim must be an even integer >= 4, got ${dim}`);
  }
  const half = dim / 2;
  const scale = Math.log(10000) / (half - 1);
  const freqs = new Float64Array(half);
  for (let i = 0; i < half; i++) freqs[i] = Math.fround(Math.exp(Math.fround(i * -scale)));
  return freqs;
}

/**
 * q(x_t | x_0) of diffusion.ts `addNoise` for one t shared by every value:
 * x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε over flat arrays (x₀ and ε laid out alike, any layout).
 * Also returns the two weights and ᾱ_t.
 */
export function addNoiseValues(
  s: Schedule,
  x0: ArrayLike<number>,
  noise: ArrayLike<number>,
  t: number,
): { xt: Float32Array; signalWeight: number; noiseWeight: number; alphaBar: number } {
  if (!Number.isInteger(t) || t < 0 || t >= s.T) throw new Error(`addNoise: t must be an integer in [0, ${s.T - 1}], got ${t}`);
  if (x0.length !== noise.length) throw new Error(`addNoise: x0 has ${x0.length} values but the noise has ${noise.length}`);
  const alphaBar = s.alphasCumprod[t];
  const a = Math.sqrt(alphaBar);
  const b = Math.sqrt(1 - alphaBar);
  const xt = new Float32Array(x0.length);
  for (let i = 0; i < xt.length; i++) xt[i] = a * x0[i] + b * noise[i];
  return { xt, signalWeight: a, noiseWeight: b, alphaBar };
}

/**
 * Centred moving average over `window` values (shrinking at both ends, so the output has the
 * input's length and starts at the first values rather than lagging behind them). Running
 * sums, O(n). Used to smooth noisy per-step training losses.
 */
export function movingAverage(values: ArrayLike<number>, window: number): Float32Array {
  const n = values.length;
  const w = Math.max(1, Math.floor(window));
  const out = new Float32Array(n);
  if (n === 0) return out;
  const prefix = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) prefix[i + 1] = prefix[i] + values[i];
  const before = Math.floor((w - 1) / 2);
  const after = w - 1 - before;
  for (let i = 0; i < n; i++) {
    const lo = Math.max(0, i - before);
    const hi = Math.min(n, i + after + 1);
    out[i] = (prefix[hi] - prefix[lo]) / (hi - lo);
  }
  return out;
}
