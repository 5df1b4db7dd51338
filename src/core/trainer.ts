/**
 * The seed's training recipe, one optimizer step per call so a page can pause, resume and
 * report: ε-prediction MSE (or v), AdamW (PyTorch semantics: decoupled weight decay), cosine
 * annealing over the planned run, gradient-norm clipping, random horizontal flips, and an EMA
 * of the weights that sampling uses by default. The whole state (weights, EMA, Adam moments,
 * step, RNG, loss history) round-trips through `state()` / `Trainer.restore`, so a resumed
 * run continues exactly where it stopped.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng, type RngState } from './rng.ts';
import { SimpleUNet, nullLabel } from './model.ts';
import type { Schedule } from './schedule.ts';
import { addNoise, target, type Prediction } from './diffusion.ts';
import { snr } from './schedule.ts';
import { IMAGE_BYTES, toNHWCFloat } from './data/cifar.ts';
import { adamwEmaStep, globalNorm } from './adamw.ts';
import { explainWasmHeapError } from './wasm-heap.ts';

export { sumAll } from './adamw.ts';

export interface TrainConfig {
  lr: number;
  minLr: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  batchSize: number;
  /** Planned length of the run; the cosine schedule spans it. */
  totalSteps: number;
  /** 'cosine' to minLr over totalSteps (the seed's), or 'constant' (the EMA averages; a run can be extended). */
  lrSchedule: 'cosine' | 'constant';
  /** Linear learning-rate warm-up over this many steps (a fresh optimizer on trained weights needs it). */
  warmupSteps: number;
  /** 'uniform' MSE (the seed's) or 'min-snr': per-image weight min(SNR, γ)/SNR (Hang et al. 2023, for ε). */
  lossWeight: 'uniform' | 'min-snr';
  minSnrGamma: number;
  clipNorm: number;
  emaDecay: number;
  flip: boolean;
  prediction: Prediction;
  seed: number;
  /**
   * Class-conditional networks only: the chance that a label is replaced by "no class", so one
   * network learns both p(x | class) and p(x) (classifier-free guidance; Ho & Salimans use 0.1–0.2).
   */
  pUncond: number;
}

/** The seed's recipe (AdamW 1e-4, wd 1e-6, clip 1.0, batch 128) plus an EMA. */
export const SEED_RECIPE: TrainConfig = {
  lr: 1e-4, minLr: 0, weightDecay: 1e-6, beta1: 0.9, beta2: 0.999, eps: 1e-8,
  batchSize: 128, totalSteps: 7820, clipNorm: 1.0, emaDecay: 0.999, flip: true, prediction: 'epsilon', seed: 0, pUncond: 0.1,
  lrSchedule: 'cosine', warmupSteps: 0, lossWeight: 'uniform', minSnrGamma: 5,
};

/**
 * The project's recipe (scripts/torch/train.py --recipe cond, which trains the shipped small model):
 * the seed's optimizer and clipping, a class-conditional network with label dropout 0.1, lr 1e-3 after
 * a 200-step warm-up (the recipe study's clearest win over the seed's 1e-4; docs/study.md), held
 * constant, and min-SNR-5 loss weights. Fine-tuning uses it with a lower lr.
 */
export const PROJECT_RECIPE: TrainConfig = {
  ...SEED_RECIPE, lr: 1e-3, lrSchedule: 'constant', warmupSteps: 200, lossWeight: 'min-snr',
};
export const RECIPES = { seed: SEED_RECIPE, project: PROJECT_RECIPE } as const;
export type RecipeName = keyof typeof RECIPES;

/** Training images as stored by CIFAR-10: N × 3072 bytes, R, G and B planes of 32×32. */
export interface ImageSet {
  images: Uint8Array;
  count: number;
  /** Class of each image (0–9), or UNLABELLED (e.g. a reader's own pictures): trained as "no class". */
  labels?: Uint8Array;
}

export const UNLABELLED = 255;

export interface StepResult {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  imagesSeen: number;
}

/** Everything needed to resume; tensors as plain arrays (tfjs layout), keyed by parameter name. */
export interface TrainerState {
  config: TrainConfig;
  step: number;
  imagesSeen: number;
  rng: RngState;
  losses: number[];
  wallTimeS: number;
  weights: Map<string, Float32Array>;
  ema: Map<string, Float32Array>;
  adamM: Map<string, Float32Array>;
  adamV: Map<string, Float32Array>;
}

export function cosineLr(cfg: TrainConfig, step: number): number {
  const p = Math.min(step, cfg.totalSteps) / cfg.totalSteps;
  return cfg.minLr + ((cfg.lr - cfg.minLr) * (1 + Math.cos(Math.PI * p))) / 2;
}

/** The learning rate of 0-based step `step`: warm-up, then cosine or constant (train.py's lr_at). */
export function learningRate(cfg: TrainConfig, step: number): number {
  if (cfg.warmupSteps > 0 && step < cfg.warmupSteps) return (cfg.lr * (step + 1)) / cfg.warmupSteps;
  return cfg.lrSchedule === 'constant' ? cfg.lr : cosineLr(cfg, step);
}

export class Trainer {
  readonly config: TrainConfig;
  step = 0;
  imagesSeen = 0;
  losses: number[] = [];
  wallTimeS = 0;
  private rng: Rng;
  private ema = new Map<string, tf.Variable>();
  private m = new Map<string, tf.Variable>();
  private v = new Map<string, tf.Variable>();

  constructor(readonly model: SimpleUNet, readonly schedule: Schedule, private data: ImageSet, config: Partial<TrainConfig> = {}, state?: TrainerState) {
    this.config = { ...SEED_RECIPE, ...(state?.config ?? {}), ...config };
    if (data.count < 1) throw new Error('training needs at least one image');
    if (data.images.length < data.count * IMAGE_BYTES) throw new Error(`image set holds ${data.images.length} bytes, expected ${data.count * IMAGE_BYTES}`);
    this.rng = new Rng(this.config.seed);
    // tf.variable shares its initial tensor's data and leaves that tensor alive: dispose it, or
    // every Trainer leaks three copies of the model (the initial EMA and both zeroed moments).
    const own = (t: tf.Tensor) => {
      const v = tf.variable(t, false);
      t.dispose();
      return v;
    };
    for (const [name, p] of model.params) {
      this.ema.set(name, own(p.clone()));
      this.m.set(name, own(tf.zerosLike(p)));
      this.v.set(name, own(tf.zerosLike(p)));
    }
    if (state) this.load(state);
  }

  static restore(model: SimpleUNet, schedule: Schedule, data: ImageSet, state: TrainerState, overrides: Partial<TrainConfig> = {}): Trainer {
    return new Trainer(model, schedule, data, overrides, state);
  }

  /** min(SNR_t, γ) / SNR_t per image: ε-MSE weights that stop easy low-noise steps dominating. */
  private minSnrWeights(ts: number[]): Float32Array {
    this.snrTable ??= snr(this.schedule);
    const g = this.config.minSnrGamma;
    return Float32Array.from(ts, (t) => Math.min(this.snrTable![t], g) / this.snrTable![t]);
  }
  private snrTable: Float64Array | null = null;

  /** The EMA weights, for sampling (tensors owned by the trainer). */
  get emaParams(): Map<string, tf.Tensor> {
    return this.ema;
  }

  /** Swaps the training set (e.g. the reader's own images) without touching the optimizer. */
  setData(data: ImageSet): void {
    if (data.count < 1) throw new Error('training needs at least one image');
    this.data = data;
  }

  /** Which images (and flips) the step'th batch uses: a fresh permutation per epoch, fixed by the seed. */
  private batchIndices(step: number): number[] {
    const B = this.config.batchSize;
    const N = this.data.count;
    const out: number[] = [];
    let epoch = -1;
    let perm: Uint32Array | null = null;
    for (let k = 0; k < B; k++) {
      const i = step * B + k;
      const e = Math.floor(i / N);
      if (e !== epoch) {
        epoch = e;
        perm = permutation(N, this.config.seed * 1_000_003 + e);
      }
      out.push(perm![i % N]);
    }
    return out;
  }

  /** One optimizer step on one batch. */
  async trainStep(): Promise<StepResult> {
    const started = performance.now();
    const cfg = this.config;
    const B = cfg.batchSize;
    const idx = this.batchIndices(this.step);
    const flips = idx.map(() => cfg.flip && this.rng.uniform() < 0.5);
    const ts = idx.map(() => this.rng.int(this.schedule.T));
    const noiseArr = this.rng.normals(B * 32 * 32 * 3);
    const dropoutSeed = this.rng.nextU32();
    // Labels only for a conditional network, so an unconditional run draws the same numbers as before.
    const K = this.model.config.numClasses;
    const labels = K > 0 ? idx.map((i) => {
      const l = this.data.labels?.[i] ?? UNLABELLED;
      const drop = this.rng.uniform() < cfg.pUncond;
      return drop || l >= K ? nullLabel(this.model.config) : l;
    }) : null;
    const lr = learningRate(cfg, this.step);
    const lossWeights = cfg.lossWeight === 'min-snr' ? this.minSnrWeights(ts) : null;
    const stepNo = this.step + 1;

    const x0 = tf.tensor4d(toNHWCFloat(this.data.images, idx, flips), [B, 32, 32, 3]);
    const noise = tf.tensor4d(noiseArr, [B, 32, 32, 3]);
    const tt = tf.tensor1d(ts, 'int32');
    const yy = labels ? tf.tensor1d(labels, 'int32') : undefined;
    const vars = [...this.model.params.values()];
    const names = [...this.model.params.keys()];

    const { lossT, normT } = withHeapExplained(() => tf.tidy(() => {
      const xt = addNoise(this.schedule, x0, noise, ts);
      const y = target(this.schedule, cfg.prediction, x0, noise, ts);
      const { value, grads } = tf.variableGrads(
        () => {
          const sq = tf.squaredDifference(this.model.forward(xt, tt, { training: true, dropoutSeed, labels: yy }), y);
          if (!lossWeights) return tf.mean(sq) as tf.Scalar;
          return tf.mean(tf.mul(tf.mean(sq, [1, 2, 3]), lossWeights)) as tf.Scalar; // weighted mean over images
        }, vars);
      // clip_grad_norm_: scale all gradients by min(1, max_norm / (‖g‖ + 1e-6)).
      const norm = globalNorm(vars.map((v) => grads[v.name]));
      const scale = tf.minimum(1, tf.div(cfg.clipNorm, tf.add(norm, 1e-6)));
      const decay = Math.min(cfg.emaDecay, (1 + stepNo) / (10 + stepNo));
      const slots = names.map((name) => {
        const p = this.model.params.get(name)!;
        return { p, m: this.m.get(name)!, v: this.v.get(name)!, ema: this.ema.get(name)!, grad: grads[p.name] };
      });
      adamwEmaStep(slots, scale, { lr, weightDecay: cfg.weightDecay, beta1: cfg.beta1, beta2: cfg.beta2, eps: cfg.eps, emaDecay: decay, step: stepNo });
      return { lossT: tf.keep(value), normT: tf.keep(norm) };
    }));
    x0.dispose();
    noise.dispose();
    tt.dispose();
    yy?.dispose();
    const [loss] = await lossT.data();
    const [gradNorm] = await normT.data();
    lossT.dispose();
    normT.dispose();
    if (!Number.isFinite(loss)) throw new Error(`training diverged at step ${stepNo}: loss is ${loss}`);
    if (!Number.isFinite(gradNorm)) throw new Error(`training diverged at step ${stepNo}: the gradient norm is ${gradNorm} (the weights were updated with it)`);

    this.step = stepNo;
    this.imagesSeen += B;
    this.losses.push(loss);
    this.wallTimeS += (performance.now() - started) / 1000;
    return { step: this.step, loss, lr, gradNorm, imagesSeen: this.imagesSeen };
  }

  async state(): Promise<TrainerState> {
    const read = async (m: Map<string, tf.Tensor>) => {
      const out = new Map<string, Float32Array>();
      for (const [k, t] of m) out.set(k, (await t.data()) as Float32Array);
      return out;
    };
    return {
      config: { ...this.config }, step: this.step, imagesSeen: this.imagesSeen, rng: this.rng.getState(),
      losses: [...this.losses], wallTimeS: this.wallTimeS,
      weights: await this.model.read(), ema: await read(this.ema), adamM: await read(this.m), adamV: await read(this.v),
    };
  }

  private load(s: TrainerState): void {
    this.model.assign(s.weights);
    const assign = (dst: Map<string, tf.Variable>, src: Map<string, Float32Array>, what: string) => {
      for (const [name, v] of dst) {
        const a = src.get(name);
        if (!a || a.length !== v.size) throw new Error(`checkpoint ${what} is missing or has the wrong size for ${name}`);
        const t = tf.tensor(a, v.shape);
        v.assign(t);
        t.dispose();
      }
    };
    assign(this.ema, s.ema, 'EMA');
    assign(this.m, s.adamM, 'Adam first moment');
    assign(this.v, s.adamV, 'Adam second moment');
    this.step = s.step;
    this.imagesSeen = s.imagesSeen;
    this.losses = [...s.losses];
    this.wallTimeS = s.wallTimeS;
    this.rng.setState(s.rng);
  }

  dispose(): void {
    for (const m of [this.ema, this.m, this.v]) {
      for (const v of m.values()) v.dispose();
      m.clear();
    }
  }
}

/** Runs f; a wasm heap exhausted on the way is reported as such, not as "memory access out of bounds". */
function withHeapExplained<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw explainWasmHeapError(e);
  }
}

/** Fisher–Yates with its own seeded stream, so epoch e's order depends only on (seed, e). */
function permutation(n: number, seed: number): Uint32Array {
  const r = new Rng(seed);
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = r.int(i + 1);
    const tmp = p[i];
    p[i] = p[j];
    p[j] = tmp;
  }
  return p;
}
