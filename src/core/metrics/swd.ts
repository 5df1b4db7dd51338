/**
 * Sliced Wasserstein distance between two image sets on 7×7 patches of a Laplacian pyramid,
 * as in ProGAN (Karras et al. 2018, appendix D; their metrics/sliced_wasserstein.py):
 *
 *   1. each image → Laplacian pyramid (5-tap binomial filter, scipy 'mirror' borders, like
 *      cv2.pyrDown/pyrUp); for 32 px images the levels are 32 px (band-pass) and 16 px (the
 *      low-pass residual), ProGAN's 16 px minimum;
 *   2. per level, `patchesPerImage` random 7×7×3 neighbourhoods (fully inside) per image;
 *   3. each set's descriptors are normalised per colour channel to zero mean, unit std (over
 *      its own descriptors and positions, as ProGAN does);
 *   4. SWD = mean over `repeats` × `directions` random unit directions of the mean absolute
 *      difference between the two sorted projections (the 1-D Wasserstein-1 distance).
 *
 * Reported ×1e3 per level and averaged. Both sets must hold the same number of images (the
 * sorted projections are compared element by element), and the estimate depends on that
 * number: compare values only at equal N. Plain JS on Float32Arrays, seeded by `Rng`.
 */
import { Rng } from '../rng.ts';

export interface SWDOptions {
  /** Neighbourhoods per image per level (ProGAN: 128). */
  patchesPerImage?: number;
  /** Neighbourhood side (ProGAN: 7). */
  patchSize?: number;
  /** Random directions per repeat (ProGAN: 128) and repeats (ProGAN: 4). */
  directions?: number;
  repeats?: number;
  /** Smallest pyramid level in pixels (ProGAN: 16). */
  minResolution?: number;
  seed?: number;
}

export interface SWDResult {
  /** Resolutions of the levels, finest first (e.g. [32, 16]). */
  resolutions: number[];
  /** SWD ×1e3 per level. */
  perLevel: number[];
  /** Mean of perLevel. */
  average: number;
  images: number;
  descriptorsPerLevel: number;
}

export const SWD_DEFAULTS: Required<SWDOptions> = { patchesPerImage: 64, patchSize: 7, directions: 128, repeats: 4, minResolution: 16, seed: 0 };

const G1 = [1, 4, 6, 4, 1].map((v) => v / 16);

/** scipy.ndimage 'mirror' index (d c b | a b c d | c b a). */
function mirror(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  i = ((i % period) + period) % period;
  return i < n ? i : period - i;
}

/** Separable 5×5 binomial blur of one plane (w·h), scaled by `gain`. */
function blur(src: Float32Array, w: number, h: number, gain = 1): Float32Array {
  const tmp = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    let s = 0;
    for (let k = -2; k <= 2; k++) s += G1[k + 2] * src[y * w + mirror(x + k, w)];
    tmp[y * w + x] = s;
  }
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    let s = 0;
    for (let k = -2; k <= 2; k++) s += G1[k + 2] * tmp[mirror(y + k, h) * w + x];
    out[y * w + x] = s * gain;
  }
  return out;
}

function pyrDown(src: Float32Array, w: number, h: number): Float32Array {
  const b = blur(src, w, h);
  const out = new Float32Array((w >> 1) * (h >> 1));
  for (let y = 0; y < h >> 1; y++) for (let x = 0; x < w >> 1; x++) out[y * (w >> 1) + x] = b[2 * y * w + 2 * x];
  return out;
}

function pyrUp(src: Float32Array, w: number, h: number): Float32Array {
  const up = new Float32Array(4 * w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) up[2 * y * 2 * w + 2 * x] = src[y * w + x];
  return blur(up, 2 * w, 2 * h, 4);
}

/**
 * One image's Laplacian pyramid, as planes per level: level l holds 3 planes of (size/2^l)²,
 * finest first; the last level is the low-pass residual.
 */
export function laplacianPyramid(nhwc: Float32Array, index: number, size: number, levels: number): Float32Array[] {
  const planes: Float32Array[] = [];
  for (let c = 0; c < 3; c++) {
    const p = new Float32Array(size * size);
    for (let i = 0; i < size * size; i++) p[i] = nhwc[(index * size * size + i) * 3 + c];
    planes.push(p);
  }
  const out: Float32Array[] = [];
  let cur = planes;
  let s = size;
  for (let l = 0; l < levels; l++) {
    const level = new Float32Array(3 * s * s);
    if (l === levels - 1) {
      cur.forEach((p, c) => level.set(p, c * s * s));
    } else {
      const down = cur.map((p) => pyrDown(p, s, s));
      cur.forEach((p, c) => {
        const up = pyrUp(down[c], s >> 1, s >> 1);
        for (let i = 0; i < s * s; i++) level[c * s * s + i] = p[i] - up[i];
      });
      cur = down;
    }
    out.push(level);
    s >>= 1;
  }
  return out;
}

/**
 * Random neighbourhood descriptors of every image at every level: result[l] is
 * (n·patchesPerImage) × (3·k·k) floats, channel-major within a descriptor (c, dy, dx) like ProGAN.
 */
export function patchDescriptors(nhwc: Float32Array, n: number, opts: SWDOptions = {}, size = 32): { resolutions: number[]; descriptors: Float32Array[] } {
  const o = { ...SWD_DEFAULTS, ...opts };
  const resolutions: number[] = [];
  for (let s = size; s >= o.minResolution; s >>= 1) resolutions.push(s);
  if (resolutions.length === 0) throw new Error(`SWD: images of ${size} px are below the minimum level ${o.minResolution} px`);
  const k = o.patchSize;
  const half = k >> 1;
  const D = 3 * k * k;
  const P = o.patchesPerImage;
  const rng = new Rng(o.seed);
  const descriptors = resolutions.map(() => new Float32Array(n * P * D));
  for (let i = 0; i < n; i++) {
    const pyr = laplacianPyramid(nhwc, i, size, resolutions.length);
    pyr.forEach((level, l) => {
      const s = resolutions[l];
      if (s < k) throw new Error(`SWD: level ${s} px is smaller than the ${k}×${k} neighbourhood`);
      const out = descriptors[l];
      for (let p = 0; p < P; p++) {
        // numpy randint(H, S - H): centres with the whole neighbourhood inside.
        const cx = half + rng.int(s - 2 * half);
        const cy = half + rng.int(s - 2 * half);
        let q = (i * P + p) * D;
        for (let c = 0; c < 3; c++) for (let dy = -half; dy <= half; dy++) for (let dx = -half; dx <= half; dx++) {
          out[q++] = level[c * s * s + (cy + dy) * s + cx + dx];
        }
      }
    });
  }
  return { resolutions, descriptors };
}

/** In place: each colour channel (a third of every descriptor) to zero mean and unit std over the set. */
export function normalizeDescriptors(desc: Float32Array, dim: number): void {
  const count = desc.length / dim;
  const per = dim / 3;
  for (let c = 0; c < 3; c++) {
    let sum = 0;
    let sq = 0;
    for (let r = 0; r < count; r++) {
      const b = r * dim + c * per;
      for (let j = 0; j < per; j++) {
        const v = desc[b + j];
        sum += v;
        sq += v * v;
      }
    }
    const m = sum / (count * per);
    const sd = Math.sqrt(Math.max(0, sq / (count * per) - m * m)) || 1;
    for (let r = 0; r < count; r++) {
      const b = r * dim + c * per;
      for (let j = 0; j < per; j++) desc[b + j] = (desc[b + j] - m) / sd;
    }
  }
}

/** Mean over random directions of the 1-D Wasserstein-1 distance between projected sets (equal counts). */
export function slicedWasserstein(a: Float32Array, b: Float32Array, dim: number, directions: number, repeats: number, rng: Rng): number {
  const count = a.length / dim;
  if (b.length !== a.length) throw new Error(`SWD needs equally many descriptors: ${count} vs ${b.length / dim}`);
  const pa = new Float32Array(count);
  const pb = new Float32Array(count);
  const dir = new Float64Array(dim);
  let total = 0;
  for (let r = 0; r < repeats; r++) {
    let acc = 0;
    for (let d = 0; d < directions; d++) {
      let norm = 0;
      for (let j = 0; j < dim; j++) {
        dir[j] = rng.normal();
        norm += dir[j] * dir[j];
      }
      norm = Math.sqrt(norm);
      for (let j = 0; j < dim; j++) dir[j] /= norm;
      for (let i = 0; i < count; i++) {
        let sa = 0;
        let sb = 0;
        const o = i * dim;
        for (let j = 0; j < dim; j++) {
          sa += a[o + j] * dir[j];
          sb += b[o + j] * dir[j];
        }
        pa[i] = sa;
        pb[i] = sb;
      }
      pa.sort();
      pb.sort();
      let s = 0;
      for (let i = 0; i < count; i++) s += Math.abs(pa[i] - pb[i]);
      acc += s / count;
    }
    total += acc / directions;
  }
  return total / repeats;
}

/**
 * SWD between two sets of n NHWC images (any common value range; the per-set normalisation
 * removes scale). The same seed gives the same neighbourhood positions and directions.
 */
export function swd(real: Float32Array, fake: Float32Array, n: number, opts: SWDOptions = {}, size = 32): SWDResult {
  const o = { ...SWD_DEFAULTS, ...opts };
  if (real.length !== n * size * size * 3 || fake.length !== n * size * size * 3) {
    throw new Error(`SWD: expected two sets of ${n} images of ${size}×${size}×3, got ${real.length / (size * size * 3)} and ${fake.length / (size * size * 3)}`);
  }
  const dim = 3 * o.patchSize * o.patchSize;
  const A = patchDescriptors(real, n, { ...o, seed: o.seed * 3 + 1 }, size);
  const B = patchDescriptors(fake, n, { ...o, seed: o.seed * 3 + 2 }, size);
  const rng = new Rng(o.seed * 3 + 3);
  const perLevel = A.resolutions.map((_, l) => {
    normalizeDescriptors(A.descriptors[l], dim);
    normalizeDescriptors(B.descriptors[l], dim);
    return 1e3 * slicedWasserstein(A.descriptors[l], B.descriptors[l], dim, o.directions, o.repeats, rng);
  });
  return {
    resolutions: A.resolutions, perLevel, average: perLevel.reduce((x, y) => x + y, 0) / perLevel.length,
    images: n, descriptorsPerLevel: n * o.patchesPerImage,
  };
}
