/**
 * The sampling loop shared by the page's worker, the CLI and the tests.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from './rng.ts';
import { makeSampler } from './samplers.ts';
import type { SamplingSetting } from './sampling-defaults.ts';
import type { Prediction } from './diffusion.ts';
import type { Schedule } from './schedule.ts';

/** Anything that maps (x_t NHWC, t [B]) to the network output. */
export type Denoiser = (x: tf.Tensor4D, t: tf.Tensor1D) => tf.Tensor4D;

export interface StepInfo {
  /** 0-based index of the step just taken, and the total. */
  index: number;
  total: number;
  t: number;
  /** Valid only during the callback; read them (e.g. `await x.data()`) before returning. */
  x: tf.Tensor4D;
  x0: tf.Tensor4D;
}

export interface GenerateOptions {
  /** What to run, from resolveSampling (checked against this schedule there). */
  setting: SamplingSetting;
  /** What the network predicts (the weights say; default ε). */
  prediction?: Prediction;
  n: number;
  seed: number;
  size?: number;
  /** Starting noise, NHWC float32 (n·size·size·3 values); drawn from `seed` when absent. */
  initNoise?: Float32Array;
  signal?: AbortSignal;
  onStep?: (info: StepInfo) => void | Promise<void>;
}

export class AbortError extends Error {
  override name = 'AbortError';
  constructor(message = 'generation cancelled') {
    super(message);
  }
}

/** The seeded starting noise x_T for `n` images, NHWC. The same on every backend. */
export function initialNoise(seed: number, n: number, size = 32): Float32Array {
  return new Rng(seed).normals(n * size * size * 3);
}

/** Runs the whole reverse process; resolves to x_0 [n, size, size, 3] (caller disposes). */
export async function generate(denoise: Denoiser, schedule: Schedule, opts: GenerateOptions): Promise<tf.Tensor4D> {
  const size = opts.size ?? 32;
  const { setting } = opts;
  const sampler = makeSampler(setting.sampler, schedule, { eta: setting.eta, clipX0: setting.clipX0, prediction: opts.prediction });
  sampler.setTimesteps(setting.timesteps);
  // Noise for the stochastic samplers comes after the starting noise in the same stream.
  const rng = new Rng(opts.seed);
  const noise = opts.initNoise ?? rng.normals(opts.n * size * size * 3);
  if (opts.initNoise) {
    if (opts.initNoise.length !== opts.n * size * size * 3) throw new Error(`initNoise has ${opts.initNoise.length} values, expected ${opts.n * size * size * 3}`);
  }
  let x = tf.tensor4d(noise, [opts.n, size, size, 3]);
  try {
    const total = sampler.timesteps.length;
    for (let i = 0; i < total; i++) {
      if (opts.signal?.aborted) throw new AbortError();
      const t = sampler.timesteps[i];
      const tt = tf.fill([opts.n], t, 'int32') as tf.Tensor1D;
      const out = denoise(x, tt);
      tt.dispose();
      const { prevSample, predOriginalSample } = sampler.step(out, t, x, rng);
      out.dispose();
      x.dispose();
      x = prevSample;
      try {
        if (opts.onStep) await opts.onStep({ index: i, total, t, x, x0: predOriginalSample });
      } finally {
        predOriginalSample.dispose();
      }
      if (opts.signal) await new Promise((r) => setTimeout(r, 0)); // let a cancel message in
    }
    if (opts.signal?.aborted) throw new AbortError();
    return x;
  } catch (e) {
    x.dispose();
    throw e;
  } finally {
    sampler.reset();
  }
}
