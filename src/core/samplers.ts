/**
 * Samplers behind one interface, shaped like diffusers' schedulers:
 *   sampler.setTimesteps(steps); for (const t of sampler.timesteps) x = sampler.step(model(x, t), t, x, rng).prevSample
 * Every step also hands out x̂₀ (the current guess of the clean image) so a page can animate both.
 * Coefficients are computed in float64 from the Schedule and applied as float32 scalars.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Schedule } from './schedule.ts';
import { splitPrediction, type Prediction } from './diffusion.ts';
import type { Rng } from './rng.ts';
import { stridedTimesteps, type SamplerName } from './sampling-defaults.ts';

export interface SamplerOptions {
  prediction?: Prediction;
  /** DDIM's η: 0 is deterministic, 1 matches DDPM's variance. */
  eta?: number;
  /** Clip x̂₀ to [−1, 1] before using it (DDPM, DDIM and DPM-Solver++ default on; the seed's loop never clips). */
  clipX0?: boolean;
}

export interface StepOutput {
  prevSample: tf.Tensor4D;
  predOriginalSample: tf.Tensor4D;
}

export interface Sampler {
  readonly name: SamplerName;
  /** Noise levels visited, from noisiest; valid after setTimesteps. */
  timesteps: readonly number[];
  /** A number of steps (the seed's spacing), or the levels themselves (a resolved SamplingSetting's). */
  setTimesteps(steps: number | readonly number[]): void;
  /** One reverse step from x at timestep t, given the network's output at (x, t). */
  step(modelOutput: tf.Tensor4D, t: number, x: tf.Tensor4D, rng: Rng): StepOutput;
  /** Frees state a multistep method keeps between steps. */
  reset(): void;
}

abstract class BaseSampler implements Sampler {
  abstract readonly name: SamplerName;
  timesteps: readonly number[] = [];
  protected prediction: Prediction;
  protected clip: boolean;
  /** Index of the next step of this run: the sampler keeps its place instead of looking t up. */
  private cursor = 0;

  constructor(protected schedule: Schedule, opts: SamplerOptions, clipDefault: boolean) {
    this.prediction = opts.prediction ?? 'epsilon';
    this.clip = opts.clipX0 ?? clipDefault;
  }

  setTimesteps(steps: number | readonly number[]): void {
    this.reset();
    this.timesteps = typeof steps === 'number' ? stridedTimesteps(this.schedule.T, steps) : [...steps];
    if (this.timesteps.some((t) => !Number.isInteger(t) || t < 0 || t >= this.schedule.T)) throw new Error(`timesteps must be integers in 0..${this.schedule.T - 1}`);
    this.cursor = 0;
  }

  reset(): void {}

  abstract step(modelOutput: tf.Tensor4D, t: number, x: tf.Tensor4D, rng: Rng): StepOutput;

  protected alphaBar(t: number): number {
    return t < 0 ? 1 : this.schedule.alphasCumprod[t];
  }

  /** Takes this run's next step, from t: returns the level it lands on, −1 (a clean image) after the last. */
  protected advance(t: number): number {
    const i = this.cursor;
    if (this.timesteps[i] !== t) throw new Error(`step ${i + 1} of this run is at t = ${this.timesteps[i] ?? 'none (the run is over)'}, not ${t}: call setTimesteps, then step through its timesteps in order`);
    this.cursor++;
    return i + 1 < this.timesteps.length ? this.timesteps[i + 1] : -1;
  }

  /** (ε̂, x̂₀), with x̂₀ clipped (and ε̂ made consistent with it) when clipping is on. */
  protected predict(out: tf.Tensor4D, x: tf.Tensor4D, ab: number): { eps: tf.Tensor4D; x0: tf.Tensor4D } {
    const { eps, x0 } = splitPrediction(this.prediction, out, x, ab);
    if (!this.clip) return { eps: eps as tf.Tensor4D, x0: x0 as tf.Tensor4D };
    const x0c = tf.clipByValue(x0, -1, 1);
    const epsc = tf.div(tf.sub(x, tf.mul(x0c, Math.sqrt(ab))), Math.sqrt(1 - ab));
    return { eps: epsc as tf.Tensor4D, x0: x0c as tf.Tensor4D };
  }
}

function gaussian(rng: Rng, shape: [number, number, number, number]): tf.Tensor4D {
  return tf.tensor4d(rng.normals(shape[0] * shape[1] * shape[2] * shape[3]), shape);
}

/** Ancestral DDPM (Ho et al. 2020); with fewer steps it uses the posterior between visited levels. */
export class DDPMSampler extends BaseSampler {
  readonly name = 'ddpm' as const;
  constructor(schedule: Schedule, opts: SamplerOptions = {}) {
    super(schedule, opts, true);
  }
  step(out: tf.Tensor4D, t: number, x: tf.Tensor4D, rng: Rng): StepOutput {
    const p = this.advance(t);
    const ab = this.alphaBar(t);
    const abPrev = this.alphaBar(p);
    const beta = 1 - ab / abPrev;
    const c0 = (Math.sqrt(abPrev) * beta) / (1 - ab);
    const ct = (Math.sqrt(1 - beta) * (1 - abPrev)) / (1 - ab);
    const variance = ((1 - abPrev) / (1 - ab)) * beta;
    const z = p >= 0 ? gaussian(rng, x.shape) : null;
    return tf.tidy(() => {
      const { x0 } = this.predict(out, x, ab);
      let prev = tf.add(tf.mul(x0, c0), tf.mul(x, ct));
      if (z) prev = tf.add(prev, tf.mul(z, Math.sqrt(variance)));
      z?.dispose();
      return { prevSample: prev as tf.Tensor4D, predOriginalSample: x0 };
    });
  }
}

/**
 * The seed's sampling loop, kept as its article writes it: t = 999, 979, …, 19, and at each
 * t the ONE-step DDPM posterior mean for t → t−1 (ᾱ_prev = ᾱ_{t−1}), no noise, no clipping.
 *
 * What is wrong with it: the update only removes one step's worth of noise (β_t is ~0.02 at
 * most), but the loop then jumps 20 steps and tells the network the sample is at t−20. The
 * sample keeps far more noise than the network is told, so its predictions drift, and after
 * 50 calls the image still holds most of its starting noise, smoothed into coloured blotches:
 * the "abstract patterns" the write-up reports. DDIM (or the multi-step posterior in
 * DDPMSampler) jumps between the visited levels correctly with the same weights.
 */
export class SeedLoopSampler extends BaseSampler {
  readonly name = 'seed' as const;
  constructor(schedule: Schedule, opts: SamplerOptions = {}) {
    super(schedule, { ...opts, clipX0: false }, false);
  }
  step(out: tf.Tensor4D, t: number, x: tf.Tensor4D): StepOutput {
    const s = this.schedule;
    const ab = s.alphasCumprod[t];
    const abPrev = t > 0 ? s.alphasCumprod[t - 1] : 1;
    const c0 = (Math.sqrt(abPrev) * s.betas[t]) / (1 - ab);
    const ct = (Math.sqrt(s.alphas[t]) * (1 - abPrev)) / (1 - ab);
    return tf.tidy(() => {
      const { x0 } = this.predict(out, x, ab);
      return { prevSample: tf.add(tf.mul(x0, c0), tf.mul(x, ct)) as tf.Tensor4D, predOriginalSample: x0 };
    });
  }
}

/** DDIM (Song et al. 2021) with η; the last step lands on ᾱ = 1. */
export class DDIMSampler extends BaseSampler {
  readonly name = 'ddim' as const;
  private eta: number;
  constructor(schedule: Schedule, opts: SamplerOptions = {}) {
    super(schedule, opts, true);
    this.eta = opts.eta ?? 0;
    if (!(this.eta >= 0 && this.eta <= 1)) throw new Error(`DDIM eta must be in [0, 1], got ${opts.eta}`);
  }
  step(out: tf.Tensor4D, t: number, x: tf.Tensor4D, rng: Rng): StepOutput {
    const ab = this.alphaBar(t);
    const p = this.advance(t);
    const abPrev = this.alphaBar(p);
    const sigma = this.eta * Math.sqrt((1 - abPrev) / (1 - ab)) * Math.sqrt(1 - ab / abPrev);
    const dirCoef = Math.sqrt(Math.max(0, 1 - abPrev - sigma * sigma));
    const z = sigma > 0 ? gaussian(rng, x.shape) : null;
    return tf.tidy(() => {
      const { eps, x0 } = this.predict(out, x, ab);
      let prev = tf.add(tf.mul(x0, Math.sqrt(abPrev)), tf.mul(eps, dirCoef));
      if (z) prev = tf.add(prev, tf.mul(z, sigma));
      z?.dispose();
      return { prevSample: prev as tf.Tensor4D, predOriginalSample: x0 };
    });
  }
}

/**
 * DPM-Solver++(2M) (Lu et al. 2022), data-prediction form, multistep second order, first
 * order on the first and last steps. λ = log(α/σ) with α = √ᾱ, σ = √(1−ᾱ).
 * x̂₀ is clipped to [−1, 1] by default (the static form of the paper's thresholding for pixel
 * models): unclipped, a partly trained network's poor x̂₀ at high noise is carried forward by the
 * second-order extrapolation and the outputs blow up (the model card's Limitations give the numbers).
 */
export class DPMSolverPP2MSampler extends BaseSampler {
  readonly name = 'dpmpp2m' as const;
  private prevX0: tf.Tensor4D | null = null;
  private prevH = 0;
  constructor(schedule: Schedule, opts: SamplerOptions = {}) {
    super(schedule, opts, true);
  }
  override reset(): void {
    this.prevX0?.dispose();
    this.prevX0 = null;
    this.prevH = 0;
  }
  step(out: tf.Tensor4D, t: number, x: tf.Tensor4D): StepOutput {
    const ab = this.alphaBar(t);
    const p = this.advance(t);
    const abNext = this.alphaBar(p);
    const sigS = Math.sqrt(1 - ab);
    const aNext = Math.sqrt(abNext);
    const sigNext = Math.sqrt(1 - abNext);
    const lamS = Math.log(Math.sqrt(ab) / sigS);
    const result = tf.tidy(() => {
      const { x0 } = this.predict(out, x, ab);
      if (p < 0) return { prevSample: x0.clone(), predOriginalSample: x0 }; // σ = 0: x̂₀ is the answer
      const h = Math.log(aNext / sigNext) - lamS;
      let d: tf.Tensor = x0;
      if (this.prevX0) {
        const r = this.prevH / h;
        d = tf.sub(tf.mul(x0, 1 + 1 / (2 * r)), tf.mul(this.prevX0, 1 / (2 * r)));
      }
      const prev = tf.sub(tf.mul(x, sigNext / sigS), tf.mul(d, aNext * (Math.exp(-h) - 1)));
      this.prevH = h;
      return { prevSample: prev as tf.Tensor4D, predOriginalSample: x0 };
    });
    this.prevX0?.dispose();
    this.prevX0 = tf.keep(result.predOriginalSample.clone());
    return result;
  }
}

export function makeSampler(name: SamplerName, schedule: Schedule, opts: SamplerOptions = {}): Sampler {
  switch (name) {
    case 'ddpm': return new DDPMSampler(schedule, opts);
    case 'seed': return new SeedLoopSampler(schedule, opts);
    case 'ddim': return new DDIMSampler(schedule, opts);
    case 'dpmpp2m': return new DPMSolverPP2MSampler(schedule, opts);
    default: throw new Error(`unknown sampler '${name as string}' (use ddpm, seed, ddim or dpmpp2m)`);
  }
}
