/**
 * The light worker: plain-JS core functions for the explainer demos (schedules, forward
 * noising, the time embedding, decoding a reader's own image, the CIFAR-10 gallery). No tfjs
 * is loaded here, so a slider answers at once and never waits behind a generation.
 * All the math is in src/core; this file only moves bytes between layouts.
 */
import { exposeTasks, transfer } from '../pool/expose.ts';
import { makeSchedule, snr, type Schedule, type ScheduleKind } from '../core/schedule.ts';
import { Rng } from '../core/rng.ts';
import { addNoiseValues, movingAverage, timeEmbeddingFreqs, timeEmbeddingValues } from '../core/plain.ts';
import { MANIFEST_FILE, type WeightsManifest } from '../core/weights/format.ts';
import { MAX_IMAGE_FILE_BYTES, type GalleryResult, type LightTasks, type LossCurveResult, type ScheduleCurves } from '../contracts/light.ts';
import { IMAGE_BYTES, IMAGE_SIZE, PLANE_BYTES, toNHWCFloat } from '../core/data/cifar.ts';
import { chwToRGBA, nhwcToRGBA, rgbaToCHW } from '../core/rgba.ts';
import { loadDataSubset } from './services/site-data.ts';
import { assetUrl, fetchJson } from './services/assets.ts';

const RGBA_BYTES = PLANE_BYTES * 4;
/** Largest decoded image (pixels) decodeImage keeps working on. */
const MAX_IMAGE_PIXELS = 64 * 1024 * 1024;

const schedules = new Map<ScheduleKind, Schedule>();
function schedule(kind: ScheduleKind): Schedule {
  let s = schedules.get(kind);
  if (!s) {
    s = makeSchedule({ kind });
    schedules.set(kind, s);
  }
  return s;
}

/** CHW bytes (3072) or RGBA bytes (4096, 32×32) → CHW bytes. */
function toCHW(image: ArrayLike<number>): Uint8Array {
  if (image.length === IMAGE_BYTES) return Uint8Array.from(image);
  if (image.length === RGBA_BYTES) return rgbaToCHW(image);
  throw new Error(
    `noise: image must be ${IMAGE_BYTES} CHW bytes (CIFAR layout) or ${RGBA_BYTES} RGBA bytes (32×32), got ${image.length}`,
  );
}

function checkStep(t: number, T: number, what: string): number {
  if (!Number.isInteger(t) || t < 0 || t >= T) throw new Error(`${what}: t must be an integer in [0, ${T - 1}], got ${t}`);
  return t;
}

// --- the gallery (CIFAR-10 test images copied into the site at build time) ---------------

/** One load per manifest URL (the page asks again each time the demo opens). */
const galleries = new Map<string, Promise<GalleryResult>>();

async function loadGallery(manifest: string): Promise<GalleryResult> {
  const g = await loadDataSubset(manifest, 'gallery');
  if (!g.ok) return { available: false, message: `${g.message} You can still drop in an image of your own.` };
  return { available: true, count: g.count, images: g.images, rgba: chwToRGBA(g.images, 0, g.count), labels: g.labels, classes: g.manifest.classes, source: g.manifest.source };
}

// --- a reader's own image ------------------------------------------------------------------

/** Draws `src` into a w×h canvas with high-quality smoothing on white (transparent areas turn white). */
function draw(src: CanvasImageSource, sx: number, sy: number, sw: number, sh: number, w: number, h: number): OffscreenCanvas {
  const c = new OffscreenCanvas(w, h);
  const g = c.getContext('2d');
  if (!g) throw new Error('decodeImage: no 2D canvas context in this worker');
  g.imageSmoothingEnabled = true;
  g.imageSmoothingQuality = 'high';
  g.fillStyle = '#fff';
  g.fillRect(0, 0, w, h);
  g.drawImage(src, sx, sy, sw, sh, 0, 0, w, h);
  return c;
}

function humanBytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / (1024 * 1024)).toFixed(1)} MB` : n >= 1024 ? `${(n / 1024).toFixed(0)} kB` : `${n} bytes`;
}

// --- a shipped model's loss curve ------------------------------------------------------------

/** CIFAR-10's training set, for epochs when a record does not say. */
const CIFAR_TRAIN_IMAGES = 50_000;

async function loadLossCurve(dir: string, maxPoints: number): Promise<LossCurveResult> {
  const base = assetUrl(dir.endsWith('/') ? dir : `${dir}/`);
  let manifest: WeightsManifest;
  try {
    manifest = (await fetchJson(new URL(MANIFEST_FILE, base), { what: 'the weights manifest' })) as WeightsManifest;
  } catch (e) {
    return { available: false, message: `This build has no trained weights at ${base.pathname} (${(e as Error).message}), so there is no loss curve to show.` };
  }
  const training = manifest.training ?? null;
  const lossUrl = new URL(training?.lossCurve ?? 'loss.json', base);
  let body: { batchSize?: number; losses?: unknown };
  try {
    body = (await fetchJson(lossUrl, { what: 'the loss curve' })) as typeof body;
  } catch {
    return { available: false, message: `These weights ship without a loss curve (${lossUrl.pathname} is missing).` };
  }
  const raw = Array.isArray(body.losses) ? body.losses.filter((v): v is number => typeof v === 'number' && Number.isFinite(v)) : [];
  if (raw.length === 0) return { available: false, message: `${lossUrl.pathname} holds no losses.` };
  const batchSize = body.batchSize ?? training?.batchSize ?? 128;
  const n = raw.length;
  const window = Math.max(5, Math.round(n / 60));
  const smoothAll = movingAverage(raw, window);
  const perEpoch = training && training.epochs > 0 && training.imagesSeen > 0 ? training.imagesSeen / training.epochs : CIFAR_TRAIN_IMAGES;
  const stride = Math.max(1, Math.ceil(n / maxPoints));
  const m = Math.ceil(n / stride);
  const loss = new Float32Array(m);
  const smooth = new Float32Array(m);
  const images = new Float64Array(m);
  const epochs = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    const i = k * stride;
    loss[k] = raw[i];
    smooth[k] = smoothAll[i];
    images[k] = (i + 1) * batchSize;
    epochs[k] = images[k] / perEpoch;
  }
  return {
    available: true, loss, smooth, images, epochs, steps: n, stride, window, batchSize, training,
    weightsKind: manifest.weightsKind ?? null, width: manifest.modelConfig?.width ?? null,
  };
}

const tasks: LightTasks = {
  /** β_t, ᾱ_t and SNR_t = ᾱ/(1−ᾱ) of the linear (the seed's) and cosine schedules, T = 1000. */
  schedules() {
    const out = {} as Record<ScheduleKind, ScheduleCurves>;
    const buffers: ArrayBuffer[] = [];
    for (const kind of ['linear', 'cosine'] as const) {
      const s = schedule(kind);
      const c: ScheduleCurves = {
        beta: Float32Array.from(s.betas),
        alphaBar: Float32Array.from(s.alphasCumprod),
        snr: Float32Array.from(snr(s)),
      };
      out[kind] = c;
      buffers.push(c.beta.buffer as ArrayBuffer, c.alphaBar.buffer as ArrayBuffer, c.snr.buffer as ArrayBuffer);
    }
    return transfer({ T: schedule('linear').T, ...out }, buffers);
  },

  /**
   * Forward diffusion of one 32×32 image: x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε with ε from `seed`
   * (the same ε for every t, so the strip shows one noise growing). Returns x_t and ε as RGBA
   * (ε drawn with the image's mapping, [-1, 1] → [0, 255], clipped) and a strip of x_t at the
   * `strip` steps, one RGBA image after another.
   */
  noise(a) {
    const s = schedule(a.schedule ?? 'linear');
    const t = checkStep(a.t, s.T, 'noise');
    const stripSteps = (a.strip ?? []).map((ti) => checkStep(ti, s.T, 'noise strip'));
    const x0 = toNHWCFloat(toCHW(a.image), [0]);
    const eps = new Rng(a.seed).normals(x0.length);
    const main = addNoiseValues(s, x0, eps, t);
    const strip = new Uint8ClampedArray(stripSteps.length * RGBA_BYTES);
    stripSteps.forEach((ti, i) => nhwcToRGBA(addNoiseValues(s, x0, eps, ti).xt, strip, i * RGBA_BYTES));
    const xt = nhwcToRGBA(main.xt);
    const noise = nhwcToRGBA(eps);
    return transfer(
      {
        t,
        alphaBar: main.alphaBar,
        signalWeight: main.signalWeight,
        noiseWeight: main.noiseWeight,
        xt,
        noise,
        strip,
        stripSteps,
        stripAlphaBar: stripSteps.map((ti) => s.alphasCumprod[ti]),
      },
      [xt.buffer, noise.buffer, strip.buffer],
    );
  },

  /** The sinusoidal time embedding for t = 0, step, 2·step, … < T: `rows` × `dim` values, row-major. */
  timeEmbedding(a = {}) {
    const dim = a.dim ?? 128;
    const T = a.T ?? 1000;
    const step = a.step ?? 1;
    if (!Number.isInteger(T) || T < 1) throw new Error(`timeEmbedding: T must be a positive integer, got ${T}`);
    if (!Number.isInteger(step) || step < 1) throw new Error(`timeEmbedding: step must be a positive integer, got ${step}`);
    const steps: number[] = [];
    for (let t = 0; t < T; t += step) steps.push(t);
    const values = timeEmbeddingValues(steps, dim);
    const freqs = Array.from(timeEmbeddingFreqs(dim));
    return transfer({ dim, steps, rows: steps.length, values, freqs }, [values.buffer]);
  },

  /**
   * Validates and converts a reader's own image: decoded here (createImageBitmap), centre
   * crop to a square, downscaled to 32×32 by repeated halving (each step a high-quality
   * resample, so a big photo does not alias). Returns CHW bytes (CIFAR layout) and RGBA.
   */
  async decodeImage(a) {
    const f = a.file;
    const name = a.name ?? ((f as File).name || 'the file');
    if (!(f instanceof Blob)) throw new Error('decodeImage: expected a file');
    if (f.size === 0) throw new Error(`${name} is empty (0 bytes).`);
    if (f.size > MAX_IMAGE_FILE_BYTES) {
      throw new Error(`${name} is ${humanBytes(f.size)}; the limit is ${humanBytes(MAX_IMAGE_FILE_BYTES)}. Try a smaller image.`);
    }
    if (f.type && !f.type.startsWith('image/')) {
      throw new Error(`${name} is not an image (its type is ${f.type}). Choose a PNG, JPEG, WebP or GIF file.`);
    }
    let bmp: ImageBitmap;
    try {
      bmp = await createImageBitmap(f);
    } catch {
      throw new Error(`${name} could not be decoded as an image (unsupported format or a damaged file). Choose a PNG, JPEG, WebP or GIF file.`);
    }
    try {
      const { width, height } = bmp;
      if (width === 0 || height === 0) throw new Error(`${name} has no pixels (${width}×${height}).`);
      if (width * height > MAX_IMAGE_PIXELS) {
        throw new Error(`${name} is ${width}×${height} pixels; the limit is ${MAX_IMAGE_PIXELS / (1024 * 1024)} megapixels.`);
      }
      const side = Math.min(width, height);
      const sx = Math.floor((width - side) / 2);
      const sy = Math.floor((height - side) / 2);
      let size = side;
      let src: CanvasImageSource = bmp;
      let first = true;
      while (size > IMAGE_SIZE * 2) {
        const next = Math.max(IMAGE_SIZE, Math.floor(size / 2));
        src = first ? draw(src, sx, sy, side, side, next, next) : draw(src, 0, 0, size, size, next, next);
        first = false;
        size = next;
      }
      const final = first ? draw(src, sx, sy, side, side, IMAGE_SIZE, IMAGE_SIZE) : draw(src, 0, 0, size, size, IMAGE_SIZE, IMAGE_SIZE);
      const px = final.getContext('2d')!.getImageData(0, 0, IMAGE_SIZE, IMAGE_SIZE).data;
      const chw = toCHW(px);
      const rgba = chwToRGBA(chw);
      return transfer({ chw, rgba, width, height }, [chw.buffer, rgba.buffer]);
    } finally {
      bmp.close();
    }
  },

  /**
   * A shipped model's training loss: `dir` is its weights folder (weights.json + the loss file
   * its training record names). Smoothed with the core's centred moving average; at most
   * `maxPoints` points come back (every stride-th step of a longer run).
   */
  async lossCurve(a) {
    const r = await loadLossCurve(a.dir, a.maxPoints ?? 20_000);
    return r.available
      ? transfer(r, [r.loss.buffer, r.smooth.buffer, r.images.buffer, r.epochs.buffer] as ArrayBuffer[])
      : r;
  },

  /** The CIFAR-10 gallery the build copied into the site (64 test images), or why there is none. */
  async gallery(a) {
    let g = galleries.get(a.manifest);
    if (!g) {
      g = loadGallery(a.manifest).catch((e) => {
        galleries.delete(a.manifest); // let a later call retry
        throw e;
      });
      galleries.set(a.manifest, g);
    }
    return g; // structured-cloned to the page (not transferred), so the cache stays intact
  },
};

exposeTasks(tasks);
