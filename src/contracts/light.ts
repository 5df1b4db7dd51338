/**
 * The contract between the explainer demos and the light worker (src/workers/light.worker.ts):
 * plain-JS core functions (schedules, forward noising, time embedding, decoding a reader's image,
 * the CIFAR-10 gallery, a shipped model's loss curve). No worker code here, so a page may import
 * these values.
 */
import type { ScheduleKind } from '../core/schedule.ts';
import type { TrainingRecord } from '../core/weights/format.ts';

/** Largest file decodeImage accepts. */
export const MAX_IMAGE_FILE_BYTES = 20 * 1024 * 1024;

export interface ScheduleCurves {
  beta: Float32Array;
  alphaBar: Float32Array;
  snr: Float32Array;
}

export type GalleryResult =
  | {
      available: true;
      count: number;
      /** count × 3072 CHW bytes (CIFAR layout), for `noise`. */
      images: Uint8Array;
      /** The same images as RGBA (count × 4096 bytes), for drawing. */
      rgba: Uint8ClampedArray;
      labels: Uint8Array;
      classes: string[];
      source: string;
    }
  | { available: false; message: string };

export type LossCurveResult =
  | {
      available: true;
      /** Per-step losses (every `stride`-th when the run was long), their moving average, and two x axes. */
      loss: Float32Array;
      smooth: Float32Array;
      images: Float64Array;
      epochs: Float64Array;
      steps: number;
      stride: number;
      window: number;
      batchSize: number;
      training: TrainingRecord | null;
      weightsKind: string | null;
      width: number | null;
    }
  | { available: false; message: string };

export type SchedulesResult = { T: number } & Record<ScheduleKind, ScheduleCurves>;

export interface NoiseArgs {
  /** One 32×32 image: CHW bytes (CIFAR layout, 3072) or RGBA bytes (4096). */
  image: ArrayLike<number>;
  t: number;
  seed: number;
  strip?: number[];
  schedule?: ScheduleKind;
}

export interface NoiseResult {
  t: number;
  alphaBar: number;
  signalWeight: number;
  noiseWeight: number;
  /** RGBA of x_t and of ε, and of x_t at every strip step, one image after another. */
  xt: Uint8ClampedArray;
  noise: Uint8ClampedArray;
  strip: Uint8ClampedArray;
  stripSteps: number[];
  stripAlphaBar: number[];
}

export interface TimeEmbeddingResult {
  dim: number;
  steps: number[];
  rows: number;
  /** rows × dim values, row-major. */
  values: Float32Array;
  freqs: number[];
}

export interface DecodedImage {
  /** CHW bytes (CIFAR layout) and RGBA of the 32×32 result, and the original size. */
  chw: Uint8Array;
  rgba: Uint8ClampedArray;
  width: number;
  height: number;
}

export type LightTasks = {
  /** β_t, ᾱ_t and SNR_t of the linear (the seed's) and cosine schedules. */
  schedules(): SchedulesResult;
  /** Forward diffusion of one 32×32 image at t (and at the strip's steps), with ε from `seed`. */
  noise(a: NoiseArgs): NoiseResult;
  /** The sinusoidal time embedding for t = 0, step, 2·step, … < T. */
  timeEmbedding(a?: { dim?: number; T?: number; step?: number }): TimeEmbeddingResult;
  /** A reader's own image, validated, centre-cropped and downscaled to 32×32. */
  decodeImage(a: { file: Blob; name?: string }): Promise<DecodedImage>;
  /** A shipped model's training loss; `dir` is its weights folder. */
  lossCurve(a: { dir: string; maxPoints?: number }): Promise<LossCurveResult>;
  /** The CIFAR-10 gallery the build copied into the site, from the data manifest at `manifest`. */
  gallery(a: { manifest: string }): Promise<GalleryResult>;
};
