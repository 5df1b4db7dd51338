/**
 * A compact CIFAR-10 classifier in TensorFlow.js ops (no Layers API), trained by the project
 * itself (`diffusion classifier-train`) so the KID metric needs no downloaded network.
 *
 *   input [B, 32, 32, 3] in [-1, 1] → per-channel standardisation (CIFAR-10 train mean/std)
 *   stage k (k = 1..3, channels c_k): conv3×3 → BatchNorm → ReLU → conv3×3 → BatchNorm → ReLU → max-pool 2
 *     (32 → 16 → 8 → 4 px; the second conv of a stage is skipped when `double` is false)
 *   flatten the 4×4 map (or global average pool, head 'gap') → dense(hidden) → ReLU  ← KID's features
 *   → dense(10) logits
 *
 * BatchNorm keeps running statistics (momentum 0.1, PyTorch's convention) used at inference.
 * Parameters live in one Map by name; `running_mean` / `running_var` are stored with them.
 * The weights travel in the project's tfjs layout (manifest + float16 shards) under their own
 * format name, so the diffusion loader refuses them with a clear message.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../rng.ts';
import { decodeWeights, encodeWeights, type NamedArray, type WeightsManifest } from '../weights/format.ts';

export interface ClassifierConfig {
  /** Channels of the three stages. */
  channels: [number, number, number];
  /** Two convolutions per stage (true) or one. */
  double: boolean;
  /** Width of the penultimate (feature) layer. */
  hidden: number;
  /** What feeds the feature layer: the flattened 4×4 map (default) or its global average ('gap'). */
  head?: 'flatten' | 'gap';
}

export const CLASSIFIER_CONFIG: ClassifierConfig = { channels: [32, 64, 128], double: false, hidden: 256, head: 'flatten' };

/**
 * Input standardisation (R, G, B, in [0, 1] units): the constants torchvision examples use for
 * CIFAR-10. Part of the network (the shipped weights were trained with them); the measured
 * pixel statistics are in image-stats.ts.
 */
export const CIFAR_MEAN = [0.4914, 0.4822, 0.4465] as const;
export const CIFAR_STD = [0.2470, 0.2435, 0.2616] as const;

export const CLASSIFIER_FORMAT = 'cifar-classifier-weights';

export interface ClassifierParamSpec {
  name: string;
  shape: number[];
  /** Learned by the optimizer (false for BatchNorm running statistics). */
  trainable: boolean;
  init: 'he' | 'zeros' | 'ones' | 'dense';
  fanIn: number;
}

function convNames(cfg: ClassifierConfig): { name: string; cin: number; cout: number }[] {
  const out: { name: string; cin: number; cout: number }[] = [];
  let cin = 3;
  cfg.channels.forEach((c, i) => {
    out.push({ name: `stage${i + 1}.conv1`, cin, cout: c });
    if (cfg.double) out.push({ name: `stage${i + 1}.conv2`, cin: c, cout: c });
    cin = c;
  });
  return out;
}

export function classifierSpecs(cfg: ClassifierConfig = CLASSIFIER_CONFIG): ClassifierParamSpec[] {
  const specs: ClassifierParamSpec[] = [];
  for (const { name, cin, cout } of convNames(cfg)) {
    specs.push({ name: `${name}.weight`, shape: [3, 3, cin, cout], trainable: true, init: 'he', fanIn: 9 * cin });
    specs.push({ name: `${name}.bn.weight`, shape: [cout], trainable: true, init: 'ones', fanIn: 0 });
    specs.push({ name: `${name}.bn.bias`, shape: [cout], trainable: true, init: 'zeros', fanIn: 0 });
    specs.push({ name: `${name}.bn.running_mean`, shape: [cout], trainable: false, init: 'zeros', fanIn: 0 });
    specs.push({ name: `${name}.bn.running_var`, shape: [cout], trainable: false, init: 'ones', fanIn: 0 });
  }
  const c3 = cfg.channels[2] * (cfg.head === 'gap' ? 1 : 16);
  specs.push({ name: 'fc1.weight', shape: [c3, cfg.hidden], trainable: true, init: 'he', fanIn: c3 });
  specs.push({ name: 'fc1.bias', shape: [cfg.hidden], trainable: true, init: 'zeros', fanIn: c3 });
  specs.push({ name: 'fc2.weight', shape: [cfg.hidden, 10], trainable: true, init: 'dense', fanIn: cfg.hidden });
  specs.push({ name: 'fc2.bias', shape: [10], trainable: true, init: 'zeros', fanIn: cfg.hidden });
  return specs;
}

/** He-normal convolutions and hidden layer, uniform ±1/√fan_in output layer, BN at 1/0. */
export function initClassifierParams(cfg: ClassifierConfig = CLASSIFIER_CONFIG, seed = 0): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  for (const s of classifierSpecs(cfg)) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const a = new Float32Array(n);
    if (s.init === 'ones') a.fill(1);
    else if (s.init === 'he') {
      const std = Math.sqrt(2 / s.fanIn);
      for (let i = 0; i < n; i++) a[i] = rng.normal() * std;
    } else if (s.init === 'dense') {
      const b = 1 / Math.sqrt(s.fanIn);
      for (let i = 0; i < n; i++) a[i] = (rng.uniform() * 2 - 1) * b;
    }
    out.set(s.name, a);
  }
  return out;
}

export interface ClassifierOutput {
  logits: tf.Tensor2D;
  /** Penultimate activations [B, hidden]. */
  features: tf.Tensor2D;
  /** Training mode only: each BatchNorm's batch mean and (unbiased) variance, by layer name. */
  batchStats?: Map<string, { mean: tf.Tensor1D; variance: tf.Tensor1D }>;
}

export class CifarClassifier {
  readonly config: ClassifierConfig;
  readonly specs: ClassifierParamSpec[];
  readonly params = new Map<string, tf.Variable>();

  constructor(config: Partial<ClassifierConfig> = {}, weights?: Map<string, Float32Array>, seed = 0) {
    this.config = { ...CLASSIFIER_CONFIG, ...config };
    this.specs = classifierSpecs(this.config);
    const values = weights ?? initClassifierParams(this.config, seed);
    for (const s of this.specs) {
      const v = values.get(s.name);
      if (!v) throw new Error(`classifier: missing parameter ${s.name}`);
      if (v.length !== s.shape.reduce((a, b) => a * b, 1)) throw new Error(`classifier: ${s.name} has ${v.length} values, expected shape [${s.shape}]`);
      // The variable shares the initial tensor's data; dispose the initial handle or it leaks.
      const init = tf.tensor(v, s.shape, 'float32');
      this.params.set(s.name, tf.variable(init, s.trainable, `cls.${s.name}#${serial++}`));
      init.dispose();
    }
  }

  get numParams(): number {
    return this.specs.filter((s) => s.trainable).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  }

  trainableVariables(): tf.Variable[] {
    return this.specs.filter((s) => s.trainable).map((s) => this.params.get(s.name)!);
  }

  /**
   * x: [B, 32, 32, 3] in [-1, 1]. Not tidied: call inside tf.tidy (or dispose the outputs).
   * Training mode normalises with the batch's statistics and returns them (kept tensors the
   * caller disposes, e.g. through updateRunningStats). The convolution, BatchNorm and max-pool
   * there carry hand-written gradients built from forward kernels (tfjs' wasm backend computes
   * Conv2DBackpropInput, channel sums and MaxPoolGrad naively, ~5x slower than XNNPACK convs).
   */
  apply(x: tf.Tensor4D, training = false): ClassifierOutput {
    const p = (name: string) => this.params.get(name)!;
    const stats = training ? new Map<string, { mean: tf.Tensor1D; variance: tf.Tensor1D }>() : undefined;
    // [-1, 1] → [0, 1] → standardised.
    const mean = tf.tensor1d(CIFAR_MEAN.map((m) => 2 * m - 1));
    const std = tf.tensor1d(CIFAR_STD.map((s) => 2 * s));
    let h: tf.Tensor4D = tf.div(tf.sub(x, mean), std);
    convNames(this.config).forEach(({ name }, i) => {
      const w = p(`${name}.weight`) as tf.Tensor4D;
      const gamma = p(`${name}.bn.weight`) as tf.Tensor1D;
      const beta = p(`${name}.bn.bias`) as tf.Tensor1D;
      if (training) {
        h = conv3x3Train(h, w, i === 0);
        const { y, mean: m, variance: v } = batchNormTrain(h, gamma, beta);
        stats!.set(name, { mean: m, variance: v });
        h = tf.relu(y);
      } else {
        h = tf.conv2d(h, w, 1, 'same');
        const inv = tf.rsqrt(tf.add(p(`${name}.bn.running_var`), 1e-5));
        h = tf.relu(tf.add(tf.mul(tf.sub(h, p(`${name}.bn.running_mean`)), tf.mul(inv, gamma)), beta)) as tf.Tensor4D;
      }
      const stageEnd = this.config.double ? name.endsWith('conv2') : true;
      if (stageEnd) h = training ? maxPool2Train(h) : tf.maxPool(h, 2, 2, 'valid');
    });
    const pooled = (this.config.head === 'gap' ? tf.mean(h, [1, 2]) : tf.reshape(h, [h.shape[0], -1])) as tf.Tensor2D;
    const features = tf.relu(tf.add(tf.matMul(pooled, p('fc1.weight') as tf.Tensor2D), p('fc1.bias'))) as tf.Tensor2D;
    const logits = tf.add(tf.matMul(features, p('fc2.weight') as tf.Tensor2D), p('fc2.bias')) as tf.Tensor2D;
    return { logits, features, batchStats: stats };
  }

  /** BatchNorm running statistics ← (1 − momentum)·running + momentum·batch; disposes `stats`. */
  updateRunningStats(stats: Map<string, { mean: tf.Tensor1D; variance: tf.Tensor1D }>, momentum = 0.1): void {
    tf.tidy(() => {
      for (const [name, s] of stats) {
        const rm = this.params.get(`${name}.bn.running_mean`)!;
        const rv = this.params.get(`${name}.bn.running_var`)!;
        rm.assign(tf.add(tf.mul(rm, 1 - momentum), tf.mul(s.mean, momentum)));
        rv.assign(tf.add(tf.mul(rv, 1 - momentum), tf.mul(s.variance, momentum)));
      }
    });
    for (const s of stats.values()) {
      s.mean.dispose();
      s.variance.dispose();
    }
  }

  /** Features and logits for many images, in batches (x: NHWC floats in [-1, 1]). */
  async embed(nhwc: Float32Array, n: number, batch = 250, onBatch?: (done: number) => void): Promise<{ features: Float32Array; logits: Float32Array }> {
    const H = this.config.hidden;
    const features = new Float32Array(n * H);
    const logits = new Float32Array(n * 10);
    for (let i = 0; i < n; i += batch) {
      const b = Math.min(batch, n - i);
      const [f, l] = tf.tidy(() => {
        const x = tf.tensor4d(nhwc.subarray(i * 3072, (i + b) * 3072), [b, 32, 32, 3]);
        const o = this.apply(x, false);
        return [o.features, o.logits];
      });
      features.set((await f.data()) as Float32Array, i * H);
      logits.set((await l.data()) as Float32Array, i * 10);
      f.dispose();
      l.dispose();
      onBatch?.(i + b);
    }
    return { features, logits };
  }

  async read(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const [name, v] of this.params) out.set(name, (await v.data()) as Float32Array);
    return out;
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
  }
}

let serial = 0;

/** Fraction of rows whose arg-max logit equals the label. */
export function accuracy(logits: Float32Array, labels: ArrayLike<number>): number {
  let right = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let k = 1; k < 10; k++) if (logits[i * 10 + k] > logits[i * 10 + best]) best = k;
    if (best === labels[i]) right++;
  }
  return right / labels.length;
}

export interface ClassifierRecord {
  /** Top-1 accuracy on the 10,000 CIFAR-10 test images. */
  testAccuracy: number;
  testImages: number;
  epochs: number;
  steps: number;
  batchSize: number;
  wallTimeS: number;
  hardware: string;
  command: string;
  recipe: Record<string, unknown>;
}

export interface ClassifierManifest extends Omit<WeightsManifest, 'format' | 'modelConfig' | 'schedule' | 'prediction'> {
  format: typeof CLASSIFIER_FORMAT;
  classifierConfig: ClassifierConfig;
  featureLayer: string;
  record: ClassifierRecord;
}

export function encodeClassifier(values: Map<string, Float32Array>, cfg: ClassifierConfig, record: ClassifierRecord, dtype: 'float16' | 'float32' = 'float16'): { manifest: ClassifierManifest; shards: Uint8Array[] } {
  const tensors: NamedArray[] = classifierSpecs(cfg).map((s) => {
    const data = values.get(s.name);
    if (!data) throw new Error(`classifier: missing parameter ${s.name}`);
    return { name: s.name, shape: s.shape, data };
  });
  // encodeWeights only uses the meta to fill the manifest; the classifier's fields replace them.
  const { manifest, shards } = encodeWeights(tensors, {} as never, { dtype });
  const { format: _f, ...rest } = manifest as WeightsManifest & Record<string, unknown>;
  return {
    manifest: { format: CLASSIFIER_FORMAT, ...rest, classifierConfig: cfg, featureLayer: `fc1 (ReLU, ${cfg.hidden}-d)`, record } as ClassifierManifest,
    shards,
  };
}

export function decodeClassifier(json: unknown, shards: Uint8Array[], source = 'classifier manifest'): { config: ClassifierConfig; weights: Map<string, Float32Array>; manifest: ClassifierManifest } {
  const m = json as Partial<ClassifierManifest>;
  if (!m || typeof m !== 'object' || m.format !== CLASSIFIER_FORMAT) {
    throw new Error(`${source} is not a ${CLASSIFIER_FORMAT} manifest (format ${JSON.stringify(m?.format)})`);
  }
  if (!m.classifierConfig || !Array.isArray(m.weightsManifest)) throw new Error(`${source}: no classifierConfig or weightsManifest`);
  const decoded = decodeWeights(m as unknown as WeightsManifest, shards);
  const config: ClassifierConfig = { head: 'gap', ...m.classifierConfig }; // files without `head` predate the flatten head
  const weights = new Map<string, Float32Array>();
  for (const s of classifierSpecs(config)) {
    const w = decoded.get(s.name);
    if (!w || w.shape.join() !== s.shape.join()) throw new Error(`${source}: ${s.name} is missing or has shape [${w?.shape}] instead of [${s.shape}]`);
    weights.set(s.name, w.data);
  }
  return { config, weights, manifest: m as ClassifierManifest };
}

type GradFunc = Parameters<typeof tf.customGrad>[0];
/** tf.customGrad's callback type is variadic; this states the concrete one. */
function asGradFunc(f: (...args: never[]) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[] }): GradFunc {
  return f as unknown as GradFunc;
}

/**
 * Per-channel sum over [B, H, W] as a global average pool (XNNPACK) plus a small [B, C] sum:
 * tfjs' wasm Sum transposes first, and a [1, N]·[N, C] matMul re-packs its operand every call.
 */
function channelSum(x: tf.Tensor4D): tf.Tensor1D {
  const [b, hh, ww, c] = x.shape;
  return tf.mul(tf.sum(tf.reshape(tf.avgPool(x, [hh, ww], [hh, ww], 'valid'), [b, c]), 0), hh * ww) as tf.Tensor1D;
}

/** 3×3 stride-1 'same' convolution whose input gradient is a forward convolution with the flipped kernel. */
function conv3x3Train(x: tf.Tensor4D, w: tf.Tensor4D, first: boolean): tf.Tensor4D {
  const f = tf.customGrad(asGradFunc((xi: tf.Tensor, wi: tf.Tensor, save: tf.GradSaveFunc) => {
    save([xi, wi]);
    return {
      value: tf.conv2d(xi as tf.Tensor4D, wi as tf.Tensor4D, 1, 'same'),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
        // The first layer's input is data: its gradient is never used.
        const dx = first ? tf.zerosLike(xs) : tf.conv2d(dy as tf.Tensor4D, tf.transpose(tf.reverse(ws, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D, 1, 'same');
        const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x: xs, dy }, {
          strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape: ws.shape,
        } as unknown as tf.NamedAttrMap) as tf.Tensor;
        return [dx, dw];
      },
    };
  }));
  return f(x, w) as tf.Tensor4D;
}

/** Training-mode BatchNorm over [B, H, W]; also returns the batch mean and unbiased variance (kept). */
function batchNormTrain(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D): { y: tf.Tensor4D; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const [b, hh, ww] = x.shape;
  const n = b * hh * ww;
  let mean: tf.Tensor1D | null = null;
  let variance: tf.Tensor1D | null = null;
  const f = tf.customGrad(asGradFunc((xi: tf.Tensor, g: tf.Tensor, be: tf.Tensor, save: tf.GradSaveFunc) => {
    const mu = tf.div(channelSum(xi as tf.Tensor4D), n);
    const xc = tf.sub(xi, mu) as tf.Tensor4D;
    const v = tf.div(channelSum(tf.square(xc)), n);
    const inv = tf.rsqrt(tf.add(v, 1e-5));
    const xhat = tf.mul(xc, inv) as tf.Tensor4D;
    mean = tf.keep(mu as tf.Tensor1D);
    variance = tf.keep(tf.mul(v, n / Math.max(1, n - 1)) as tf.Tensor1D);
    save([xhat, inv, g]);
    return {
      value: tf.add(tf.mul(xhat, g), be),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, iv, gs] = saved as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D];
        const dbeta = channelSum(dy as tf.Tensor4D);
        const dgamma = channelSum(tf.mul(dy, xh));
        const dx = tf.mul(tf.mul(iv, tf.div(gs, n)), tf.sub(tf.sub(tf.mul(dy, n), dbeta), tf.mul(xh, dgamma)));
        return [dx, dgamma, dbeta];
      },
    };
  }));
  const y = f(x, gamma, beta) as tf.Tensor4D;
  return { y, mean: mean!, variance: variance! };
}

/** 2×2 max-pool whose gradient routes dy to the maxima through a nearest-neighbour upsample. */
function maxPool2Train(x: tf.Tensor4D): tf.Tensor4D {
  const f = tf.customGrad(asGradFunc((xi: tf.Tensor, save: tf.GradSaveFunc) => {
    const y = tf.maxPool(xi as tf.Tensor4D, 2, 2, 'valid');
    save([xi, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ys] = saved as [tf.Tensor4D, tf.Tensor4D];
        const size: [number, number] = [xs.shape[1], xs.shape[2]];
        const up = (t: tf.Tensor4D) => tf.image.resizeNearestNeighbor(t, size);
        return tf.mul(tf.cast(tf.equal(xs, up(ys)), 'float32'), up(dy as tf.Tensor4D));
      },
    };
  }));
  return f(x) as tf.Tensor4D;
}

/**
 * Gathers CHW CIFAR bytes into NHWC floats in [-1, 1] with the classic augmentation: a random
 * crop of the image zero-padded by `pad` pixels (black, as torchvision's RandomCrop(32, 4)
 * pads before normalising) and a random horizontal flip. Draws from `rng` in a fixed order.
 */
export function augmentBatch(images: Uint8Array, indices: ArrayLike<number>, rng: Rng, pad = 4, flip = true): Float32Array {
  const n = indices.length;
  const out = new Float32Array(n * 3072).fill(-1);
  for (let k = 0; k < n; k++) {
    const src = indices[k] * 3072;
    const dx = pad > 0 ? rng.int(2 * pad + 1) - pad : 0;
    const dy = pad > 0 ? rng.int(2 * pad + 1) - pad : 0;
    const mirror = flip && rng.uniform() < 0.5;
    const dst = k * 3072;
    for (let y = 0; y < 32; y++) {
      const sy = y + dy;
      if (sy < 0 || sy >= 32) continue;
      for (let x = 0; x < 32; x++) {
        const xx = x + dx;
        if (xx < 0 || xx >= 32) continue;
        const sx = mirror ? 31 - xx : xx;
        const p = sy * 32 + sx;
        const o = dst + (y * 32 + x) * 3;
        out[o] = images[src + p] / 127.5 - 1;
        out[o + 1] = images[src + 1024 + p] / 127.5 - 1;
        out[o + 2] = images[src + 2048 + p] / 127.5 - 1;
      }
    }
  }
  return out;
}
