/**
 * Kernel Inception Distance (Bińkowski et al. 2018), here over the features of the project's
 * own CIFAR-10 classifier instead of Inception's: the unbiased estimate of MMD² with the cubic
 * polynomial kernel k(x, y) = (xᵀy / d + 1)³, averaged over random subsets (as in their code
 * and torch-fidelity: subsets of min(1000, m, n) rows drawn without replacement, 100 of them).
 *
 *   MMD²_u = Σ_{i≠j} k(x_i, x_j) / (s(s−1)) + Σ_{i≠j} k(y_i, y_j) / (s(s−1)) − 2 Σ_{i,j} k(x_i, y_j) / s²
 *
 * Unbiased, so its expectation does not depend on the sample size (unlike FID or SWD) and it
 * can be slightly negative when the two sets match. Plain JS: the kernel matrices are computed
 * once over all rows (float64 sums), then every subset only indexes them.
 */
import { Rng } from '../rng.ts';

export interface KIDOptions {
  subsets?: number;
  /** Rows per subset; default min(1000, m, n). */
  subsetSize?: number;
  seed?: number;
}

export interface KIDResult {
  /** Mean MMD² over subsets. */
  kid: number;
  /** Standard deviation over subsets. */
  std: number;
  subsets: number;
  subsetSize: number;
}

/** (a_i · b_j / d + 1)³ for all rows; a: [m, d], b: [n, d] → [m, n] (float64). */
export function polyKernel(a: Float32Array, m: number, b: Float32Array, n: number, d: number, symmetric = false): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const ai = i * d;
    for (let j = symmetric ? i : 0; j < n; j++) {
      const bj = j * d;
      let s = 0;
      for (let k = 0; k < d; k++) s += a[ai + k] * b[bj + k];
      const v = (s / d + 1) ** 3;
      out[i * n + j] = v;
      if (symmetric) out[j * n + i] = v;
    }
  }
  return out;
}

/** KID between x (m rows) and y (n rows) of d-dimensional features. */
export function kid(x: Float32Array, m: number, y: Float32Array, n: number, d: number, opts: KIDOptions = {}): KIDResult {
  if (x.length !== m * d || y.length !== n * d) throw new Error(`KID: feature arrays do not match [${m}, ${d}] and [${n}, ${d}]`);
  const s = Math.min(opts.subsetSize ?? 1000, m, n);
  if (s < 2) throw new Error('KID needs at least two rows in each set');
  const subsets = opts.subsets ?? 100;
  const rng = new Rng(opts.seed ?? 0);
  const kxx = polyKernel(x, m, x, m, d, true);
  const kyy = polyKernel(y, n, y, n, d, true);
  const kxy = polyKernel(x, m, y, n, d);
  const values: number[] = [];
  for (let r = 0; r < subsets; r++) {
    const ix = sample(m, s, rng);
    const iy = sample(n, s, rng);
    let sxx = 0;
    let syy = 0;
    let sxy = 0;
    for (let a = 0; a < s; a++) {
      for (let b = 0; b < s; b++) {
        if (a !== b) {
          sxx += kxx[ix[a] * m + ix[b]];
          syy += kyy[iy[a] * n + iy[b]];
        }
        sxy += kxy[ix[a] * n + iy[b]];
      }
    }
    values.push(sxx / (s * (s - 1)) + syy / (s * (s - 1)) - (2 * sxy) / (s * s));
  }
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
  return { kid: mean, std, subsets, subsetSize: s };
}

/** k distinct indices from [0, n) (partial Fisher–Yates). */
function sample(n: number, k: number, rng: Rng): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(n - i);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p.subarray(0, k);
}
