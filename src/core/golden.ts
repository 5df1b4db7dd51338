/**
 * Golden outputs: samples each shipped model must reproduce on every backend (Node's wasm and
 * cpu, the page's webgl/webgpu/wasm). `npm run golden` (scripts/make-golden.ts) writes
 * test/fixtures/golden/<file> for each entry of GOLDENS whose weights exist; test/golden.test.ts
 * and the browser e2e regenerate with the same settings and compare. Framework-neutral: no Node
 * APIs, no tfjs.
 */

import { RECOMMENDED_GUIDANCE } from './sampling-defaults.ts';
import { shippedWeightsDir, shippedWeightsPath } from './shipped-models.ts';

export interface GoldenSettings {
  /** Weights folder, relative to the repository root. */
  weights: string;
  /** The same folder as the site serves it, relative to the site's base URL. */
  weightsUrl: string;
  sampler: 'ddim';
  steps: number;
  eta: number;
  clipX0: boolean;
  n: number;
  seed: number;
  size: number;
  /** Class-conditional weights: the class of each image (the demo's "mixed": image i → class i mod 10) and w. */
  labels?: number[];
  guidance?: number;
}

export interface GoldenFile {
  format: 'diffusion-golden';
  version: 1;
  settings: GoldenSettings;
  /** sha256 (hex) of the weights folder's weights.json the samples came from. */
  weightsManifestSha256: string;
  /** Training steps of those weights (for the maintainer's eyes). */
  weightsTrainingSteps: number | null;
  createdWith: { backend: string; tfjs: string; node: string; date: string };
  /** Max |x − golden| allowed per value, on any backend. */
  tolerance: { maxAbs: number };
  /** Per image, per channel (R, G, B), of the raw samples mapped to [0, 1] ((x + 1) / 2). */
  perImage: { mean: [number, number, number]; std: [number, number, number] }[];
  /** The raw samples x₀: float32, NHWC [n, size, size, 3], little-endian, base64. */
  samples: { dtype: 'float32'; layout: 'NHWC'; shape: [number, number, number, number]; base64: string };
}

/**
 * The small model is class-conditional: its golden asks for what the generation demo's default
 * class setting ("mixed") asks for, image i → class i mod 10, at the page's guidance scale.
 */
export const GOLDEN_SETTINGS: GoldenSettings = {
  weights: shippedWeightsDir('small'), weightsUrl: shippedWeightsPath('small'), sampler: 'ddim', steps: 20, eta: 0, clipX0: true, n: 4, seed: 0, size: 32,
  labels: [0, 1, 2, 3], guidance: RECOMMENDED_GUIDANCE,
};

/** The full-width model: 16x the arithmetic per image, so fewer images and steps. */
export const GOLDEN_FULL_SETTINGS: GoldenSettings = {
  weights: shippedWeightsDir('full'), weightsUrl: shippedWeightsPath('full'), sampler: 'ddim', steps: 10, eta: 0, clipX0: true, n: 2, seed: 0, size: 32,
};

/** One golden file per shipped model (the page's model menu ids), under test/fixtures/golden/. */
export const GOLDENS = {
  small: { file: 'golden.json', settings: GOLDEN_SETTINGS },
  full: { file: 'golden-full.json', settings: GOLDEN_FULL_SETTINGS },
} as const;
export type GoldenId = keyof typeof GOLDENS;

/** Agreement across backends that still catches a wrong kernel or weight (values span [-1, 1]). */
export const GOLDEN_TOLERANCE = { maxAbs: 1e-3 };

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export function encodeSamples(x: Float32Array): string {
  const le = new Uint8Array(x.length * 4);
  const view = new DataView(le.buffer);
  for (let i = 0; i < x.length; i++) view.setFloat32(i * 4, x[i], true);
  return toBase64(le);
}

/** The golden samples as NHWC float32. */
export function goldenSamples(g: GoldenFile): Float32Array {
  const bytes = fromBase64(g.samples.base64);
  const n = g.samples.shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== n * 4) throw new Error(`golden samples hold ${bytes.length} bytes, expected ${n * 4}`);
  const view = new DataView(bytes.buffer);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** Per-image, per-channel mean and std in [0, 1] units. */
export function perImageStats(x: Float32Array, n: number, size = 32): GoldenFile['perImage'] {
  const px = size * size;
  const out: GoldenFile['perImage'] = [];
  for (let i = 0; i < n; i++) {
    const sum = [0, 0, 0];
    const sq = [0, 0, 0];
    for (let p = 0; p < px; p++) for (let c = 0; c < 3; c++) {
      const v = (x[(i * px + p) * 3 + c] + 1) / 2;
      sum[c] += v;
      sq[c] += v * v;
    }
    const mean = sum.map((s) => s / px) as [number, number, number];
    out.push({ mean, std: sq.map((s, c) => Math.sqrt(Math.max(0, s / px - mean[c] ** 2))) as [number, number, number] });
  }
  return out;
}

export interface GoldenComparison {
  ok: boolean;
  maxAbs: number;
  /** Index of the worst value. */
  worst: number;
  tolerance: number;
}

/**
 * Compares regenerated samples with the golden ones. `images` lets a slow backend regenerate
 * only the first k images (each image's result does not depend on the others in the batch).
 */
export function compareWithGolden(got: Float32Array, g: GoldenFile, images = g.settings.n): GoldenComparison {
  const ref = goldenSamples(g);
  const len = images * g.settings.size * g.settings.size * 3;
  if (got.length !== len) throw new Error(`expected ${len} values (${images} images), got ${got.length}`);
  let maxAbs = 0;
  let worst = 0;
  for (let i = 0; i < len; i++) {
    const d = Math.abs(got[i] - ref[i]);
    if (!(d <= maxAbs)) {
      maxAbs = d;
      worst = i;
      if (Number.isNaN(d)) break;
    }
  }
  return { ok: maxAbs <= g.tolerance.maxAbs, maxAbs, worst, tolerance: g.tolerance.maxAbs };
}
