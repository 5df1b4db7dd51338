/**
 * SimpleUNet, the seed's network, in TensorFlow.js ops (no Layers API).
 *
 * Parameters live in one Map keyed by the PyTorch `state_dict` names, so checkpoints move
 * both ways by name. Tensors are NHWC here (tfjs' native layout); each parameter is stored
 * in the layout tfjs ops want, and `layouts.ts` converts to and from PyTorch's at the edges:
 *   conv weight       torch [out, in, kh, kw]  ->  tfjs [kh, kw, in, out]
 *   conv-transpose    torch [in, out, kh, kw]  ->  tfjs [kh, kw, out, in]
 *   linear weight     torch [out, in]          ->  tfjs [in, out]
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from './rng.ts';
import { registerWasmConvTransposeKernel } from './wasm-kernels.ts';
import { registerWasmGroupNormKernels } from './fused/wasm-group-norm.ts';
import { registerWasmCopyKernels } from './fused/wasm-copy.ts';
import { groupNormAct, silu, type GroupNormActOptions } from './group-norm.ts';

export interface UNetConfig {
  /** Channel multiplier: 1 is the seed's 64-128-256-512 network. */
  width: number;
  /** Sinusoidal embedding size; the time MLP is 128 -> 512 -> 512 as in the seed. */
  timeEmbDim: number;
  dropout: number;
  groups: number;
  /**
   * Class conditioning: 0 is the seed's unconditional network. K > 0 adds `class_embedding`
   * (K + 1 rows of 512; row K is "no class"), added to the time vector. It starts at zero, so a
   * conditional network made from an unconditional one computes the same function.
   */
  numClasses: number;
}

export const SEED_CONFIG: UNetConfig = { width: 1, timeEmbDim: 128, dropout: 0.1, groups: 8, numClasses: 0 };

/** The label that means "no class" for a network with `numClasses` classes (classifier-free guidance). */
export const nullLabel = (cfg: Pick<UNetConfig, 'numClasses'>): number => cfg.numClasses;

/** `embedding` is a lookup table, [rows, dim] in both frameworks. */
export type ParamKind = 'conv' | 'convT' | 'linear' | 'vector' | 'embedding';
export interface ParamSpec {
  name: string;
  kind: ParamKind;
  /** Shape as PyTorch stores it. */
  torchShape: number[];
  /** Shape as this model stores it. */
  shape: number[];
  /** PyTorch's default init bound (kaiming-uniform a=√5 gives ±1/√fan_in); null for GroupNorm. */
  fanIn: number | null;
}

export function channels(cfg: UNetConfig): [number, number, number, number] {
  const c = [64, 128, 256, 512].map((b) => b * cfg.width);
  for (const x of c) {
    if (!Number.isInteger(x) || x % cfg.groups !== 0) {
      throw new Error(`width ${cfg.width} gives ${x} channels, not a multiple of ${cfg.groups} (GroupNorm groups)`);
    }
  }
  return c as [number, number, number, number];
}

/** Every parameter in PyTorch state_dict order, with both layouts. */
export function paramSpecs(cfg: UNetConfig = SEED_CONFIG): ParamSpec[] {
  const specs: ParamSpec[] = [];
  const T = cfg.timeEmbDim;
  const TH = T * 4;
  const conv = (name: string, cin: number, cout: number, k: number) => {
    specs.push({ name: `${name}.weight`, kind: 'conv', torchShape: [cout, cin, k, k], shape: [k, k, cin, cout], fanIn: cin * k * k });
    specs.push({ name: `${name}.bias`, kind: 'vector', torchShape: [cout], shape: [cout], fanIn: cin * k * k });
  };
  const convT = (name: string, cin: number, cout: number, k: number) => {
    // PyTorch computes ConvTranspose fan-in from weight.size(1) (= out channels).
    specs.push({ name: `${name}.weight`, kind: 'convT', torchShape: [cin, cout, k, k], shape: [k, k, cout, cin], fanIn: cout * k * k });
    specs.push({ name: `${name}.bias`, kind: 'vector', torchShape: [cout], shape: [cout], fanIn: cout * k * k });
  };
  const linear = (name: string, fin: number, fout: number) => {
    specs.push({ name: `${name}.weight`, kind: 'linear', torchShape: [fout, fin], shape: [fin, fout], fanIn: fin });
    specs.push({ name: `${name}.bias`, kind: 'vector', torchShape: [fout], shape: [fout], fanIn: fin });
  };
  const norm = (name: string, c: number) => {
    specs.push({ name: `${name}.weight`, kind: 'vector', torchShape: [c], shape: [c], fanIn: null });
    specs.push({ name: `${name}.bias`, kind: 'vector', torchShape: [c], shape: [c], fanIn: null });
  };
  const res = (name: string, cin: number, cout: number) => {
    linear(`${name}.time_mlp`, TH, cout);
    norm(`${name}.block1.0`, cin);
    conv(`${name}.block1.2`, cin, cout, 3);
    norm(`${name}.block2.0`, cout);
    conv(`${name}.block2.3`, cout, cout, 3);
    if (cin !== cout) conv(`${name}.shortcut`, cin, cout, 1);
  };
  const [c1, c2, c3, c4] = channels(cfg);
  linear('time_mlp.0', T, TH);
  linear('time_mlp.2', TH, TH);
  if (cfg.numClasses > 0) {
    const rows = cfg.numClasses + 1;
    specs.push({ name: 'class_embedding.weight', kind: 'embedding', torchShape: [rows, TH], shape: [rows, TH], fanIn: null });
  }
  conv('conv1', 3, c1, 3);
  res('res1', c1, c1);
  conv('down1', c1, c1, 3);
  res('res2', c1, c2);
  conv('down2', c2, c2, 3);
  res('res3', c2, c3);
  conv('down3', c3, c3, 3);
  res('mid1', c3, c4);
  norm('mid_attn.group_norm', c4);
  for (const p of ['q', 'k', 'v', 'proj_out']) conv(`mid_attn.${p}`, c4, c4, 1);
  res('mid2', c4, c4);
  convT('up3', c4, c3, 3);
  res('res_up3', 2 * c3, c3);
  convT('up2', c3, c2, 3);
  res('res_up2', 2 * c2, c2);
  convT('up1', c2, c1, 3);
  res('res_up1', 2 * c1, c1);
  norm('output.0', c1);
  conv('output.2', c1, 3, 3);
  return specs;
}

export function countParams(cfg: UNetConfig = SEED_CONFIG): number {
  return paramSpecs(cfg).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}

/** Fresh weights drawn like PyTorch's defaults (uniform ±1/√fan_in; GroupNorm 1 and 0). */
export function initParams(cfg: UNetConfig, seed = 0): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  for (const s of paramSpecs(cfg)) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const a = new Float32Array(n);
    if (s.kind === 'embedding') {
      // zeros: conditioning starts as a no-op (see UNetConfig.numClasses)
    } else if (s.fanIn === null) {
      a.fill(s.name.endsWith('.weight') ? 1 : 0);
    } else {
      const bound = 1 / Math.sqrt(s.fanIn);
      for (let i = 0; i < n; i++) a[i] = (rng.uniform() * 2 - 1) * bound;
    }
    out.set(s.name, a);
  }
  return out;
}

export interface ForwardOptions {
  /** Dropout on (training). Off by default: sampling runs the network in eval mode. */
  training?: boolean;
  /** Seed for this call's dropout masks, so a training step is reproducible. */
  dropoutSeed?: number;
  /** Class labels [B] int32 for a conditional network (numClasses = "no class"); absent = no class. */
  labels?: tf.Tensor1D;
  /** Called with each top-level block's name and output shape, in order (for diagrams). */
  trace?: (block: string, shape: number[]) => void;
}

/** Top-level blocks in forward order, as PyTorch names the modules. */
export const BLOCKS = ['time_mlp', 'conv1', 'res1', 'down1', 'res2', 'down2', 'res3', 'down3', 'mid1', 'mid_attn', 'mid2',
  'up3', 'res_up3', 'up2', 'res_up2', 'up1', 'res_up1', 'output'] as const;

/** Parameters per top-level block. */
export function blockParams(cfg: UNetConfig = SEED_CONFIG): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of paramSpecs(cfg)) {
    const b = s.name.split('.')[0];
    out[b] = (out[b] ?? 0) + s.shape.reduce((a, c) => a * c, 1);
  }
  return out;
}

/** The network: parameters plus a pure forward function over them. */
export class SimpleUNet {
  readonly config: UNetConfig;
  readonly specs: ParamSpec[];
  readonly params = new Map<string, tf.Variable>();

  constructor(config: Partial<UNetConfig> = {}, weights?: Map<string, Float32Array>, seed = 0) {
    this.config = { ...SEED_CONFIG, ...config };
    this.specs = paramSpecs(this.config);
    const values = weights ?? initParams(this.config, seed);
    for (const s of this.specs) {
      const v = values.get(s.name);
      if (!v) throw new Error(`missing parameter ${s.name}`);
      // The variable shares the initial tensor's data; dispose the initial handle or it leaks.
      const init = tf.tensor(v, s.shape, 'float32');
      this.params.set(s.name, tf.variable(init, true, `${s.name}#${variableSerial++}`));
      init.dispose();
    }
  }

  get numParams(): number {
    return countParams(this.config);
  }

  /** Replaces every parameter's value (shapes must match). */
  assign(values: Map<string, Float32Array | tf.Tensor>): void {
    for (const s of this.specs) {
      const v = values.get(s.name);
      if (!v) throw new Error(`missing parameter ${s.name}`);
      const t = v instanceof tf.Tensor ? v : tf.tensor(v, s.shape, 'float32');
      this.params.get(s.name)!.assign(t as tf.Tensor);
      if (!(v instanceof tf.Tensor)) t.dispose();
    }
  }

  /** Current values as plain arrays (tfjs layout). */
  async read(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const [name, v] of this.params) out.set(name, (await v.data()) as Float32Array);
    return out;
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
  }

  /**
   * x: [B, 32, 32, 3] NHWC in [-1, 1]-ish; t: [B] timesteps (0..T-1). Returns [B, 32, 32, 3].
   * `p` lets a caller run the same graph over other tensors (e.g. the EMA copy).
   */
  forward(x: tf.Tensor4D, t: tf.Tensor1D, opts: ForwardOptions = {}, p: ParamLookup = this.params): tf.Tensor4D {
    // On wasm, conv2dTranspose (the up-sampling) runs ~10× faster as XNNPACK convolutions
    // (wasm-kernels.ts), GroupNorm + SiLU as one fused kernel and the skip connections' concat
    // and crops as row copies (fused/); all idempotent.
    if (tf.getBackend() === 'wasm') {
      registerWasmConvTransposeKernel();
      registerWasmGroupNormKernels();
      registerWasmCopyKernels();
    }
    return tf.tidy(() => unetForward(this.config, p, x, t, opts));
  }
}

let variableSerial = 0;

export type ParamLookup = { get(name: string): tf.Tensor | undefined };

function param(p: ParamLookup, name: string): tf.Tensor {
  const v = p.get(name);
  if (!v) throw new Error(`missing parameter ${name}`);
  return v;
}

/** Sinusoidal embedding: freqs exp(-i·ln(10000)/(half-1)), output [sin, cos]. */
export function timeEmbedding(t: tf.Tensor1D, dim: number): tf.Tensor2D {
  return tf.tidy(() => {
    const half = dim / 2;
    const scale = Math.log(10000) / (half - 1);
    const freqs = tf.exp(tf.mul(tf.range(0, half, 1, 'float32'), -scale));
    const args = tf.mul(tf.reshape(tf.cast(t, 'float32'), [-1, 1]), tf.reshape(freqs, [1, half]));
    return tf.concat([tf.sin(args), tf.cos(args)], 1) as tf.Tensor2D;
  });
}

/** The same embedding in plain JS (no tfjs), rows t × dim columns; lives in plain.ts so the light worker can use it without tfjs. */
export { timeEmbeddingValues } from './plain.ts';

function unetForward(cfg: UNetConfig, p: ParamLookup, x: tf.Tensor4D, t: tf.Tensor1D, opts: ForwardOptions): tf.Tensor4D {
  let dropoutCalls = 0;
  const linear = (h: tf.Tensor2D, name: string) =>
    tf.add(tf.matMul(h, param(p, `${name}.weight`) as tf.Tensor2D), param(p, `${name}.bias`)) as tf.Tensor2D;

  /** `bias` false: the caller adds it (folded into the next GroupNorm's shift). */
  const conv = (h: tf.Tensor4D, name: string, stride: 1 | 2 = 1, bias = true): tf.Tensor4D => {
    const w = param(p, `${name}.weight`) as tf.Tensor4D;
    const k = w.shape[0];
    // PyTorch pads 1 on every side for k=3; TF 'same' would pad stride-2 convs only at the
    // bottom/right and shift the sampling grid by one pixel, so the padding is explicit.
    const pad: 'valid' | [[0, 0], [number, number], [number, number], [0, 0]] =
      k === 1 ? 'valid' : [[0, 0], [1, 1], [1, 1], [0, 0]];
    // With its bias: one FusedConv2D (the backends add it in the convolution's output loop).
    return bias ? tf.fused.conv2d({ x: h, filter: w, strides: stride, pad, bias: param(p, `${name}.bias`) }) : tf.conv2d(h, w, stride, pad);
  };

  // ConvTranspose2d(k=3, s=2, padding=1, output_padding=1): the 'valid' transpose gives
  // 2n+1 rows; PyTorch's output is rows 1..2n of it.
  const convT = (h: tf.Tensor4D, name: string): tf.Tensor4D => {
    const w = param(p, `${name}.weight`) as tf.Tensor4D;
    const [b, hh, ww] = h.shape;
    const cout = w.shape[2];
    const full = tf.conv2dTranspose(h, w, [b, 2 * hh + 1, 2 * ww + 1, cout], 2, 'valid');
    return tf.add(tf.slice(full, [0, 1, 1, 0], [b, 2 * hh, 2 * ww, cout]), param(p, `${name}.bias`)) as tf.Tensor4D;
  };

  const groupNorm = (h: tf.Tensor4D, name: string, o: GroupNormActOptions = {}): tf.Tensor4D =>
    groupNormAct(h, param(p, `${name}.weight`) as tf.Tensor1D, param(p, `${name}.bias`) as tf.Tensor1D, cfg.groups, o);

  const dropout = (h: tf.Tensor4D): tf.Tensor4D => {
    if (!opts.training || cfg.dropout === 0) return h;
    const seed = (opts.dropoutSeed ?? 0) * 7919 + dropoutCalls++;
    return tf.dropout(h, cfg.dropout, undefined, seed) as tf.Tensor4D;
  };

  const res = (h: tf.Tensor4D, temb: tf.Tensor2D, name: string): tf.Tensor4D => {
    const y = conv(groupNorm(h, `${name}.block1.0`, { silu: true }), `${name}.block1.2`, 1, false);
    // The conv's bias and the time projection are both per (image, channel): added as one [B, C]
    // shift inside the GroupNorm rather than as two passes over the activation.
    const shift = tf.add(linear(temb, `${name}.time_mlp`), param(p, `${name}.block1.2.bias`)) as tf.Tensor2D;
    const z = conv(dropout(groupNorm(y, `${name}.block2.0`, { shift, silu: true })), `${name}.block2.3`);
    const skip = p.get(`${name}.shortcut.weight`) ? conv(h, `${name}.shortcut`) : h;
    return tf.add(z, skip);
  };

  const attention = (h: tf.Tensor4D, name: string): tf.Tensor4D => {
    const [b, hh, ww, c] = h.shape;
    const n = groupNorm(h, `${name}.group_norm`);
    const tokens = (pname: string) => tf.reshape(conv(n, `${name}.${pname}`), [b, hh * ww, c]) as tf.Tensor3D;
    const q = tokens('q');
    const k = tokens('k');
    const v = tokens('v');
    const attn = tf.softmax(tf.mul(tf.matMul(q, k, false, true), c ** -0.5), -1) as tf.Tensor3D;
    const o = tf.reshape(tf.matMul(attn, v), [b, hh, ww, c]) as tf.Tensor4D;
    return tf.add(h, conv(o, `${name}.proj_out`));
  };

  const mark = <T extends tf.Tensor>(block: string, y: T): T => {
    opts.trace?.(block, y.shape);
    return y;
  };
  let temb = timeEmbedding(t, cfg.timeEmbDim);
  temb = mark('time_mlp', linear(silu(linear(temb, 'time_mlp.0')) as tf.Tensor2D, 'time_mlp.2'));
  // Class conditioning: the label's row of class_embedding joins the time vector every block reads.
  if (cfg.numClasses > 0) {
    const rows = cfg.numClasses + 1;
    const labels = opts.labels ?? tf.fill([x.shape[0]], nullLabel(cfg), 'int32');
    // A one-hot matmul rather than tf.gather: its gradient needs no scatter kernel (wasm has none).
    const onehot = tf.cast(tf.oneHot(tf.cast(labels, 'int32') as tf.Tensor1D, rows), 'float32') as tf.Tensor2D;
    temb = tf.add(temb, tf.matMul(onehot, param(p, 'class_embedding.weight') as tf.Tensor2D));
  } else if (opts.labels) {
    throw new Error('this network is unconditional: it takes no class label');
  }

  const x1 = mark('res1', res(mark('conv1', conv(x, 'conv1')), temb, 'res1'));
  const x2 = mark('res2', res(mark('down1', conv(x1, 'down1', 2)), temb, 'res2'));
  const x3 = mark('res3', res(mark('down2', conv(x2, 'down2', 2)), temb, 'res3'));
  let m = mark('mid1', res(mark('down3', conv(x3, 'down3', 2)), temb, 'mid1'));
  m = mark('mid_attn', attention(m, 'mid_attn'));
  m = mark('mid2', res(m, temb, 'mid2'));

  let u = mark('res_up3', res(tf.concat([mark('up3', convT(m, 'up3')), x3], 3), temb, 'res_up3'));
  u = mark('res_up2', res(tf.concat([mark('up2', convT(u, 'up2')), x2], 3), temb, 'res_up2'));
  u = mark('res_up1', res(tf.concat([mark('up1', convT(u, 'up1')), x1], 3), temb, 'res_up1'));
  return mark('output', conv(groupNorm(u, 'output.0', { silu: true }), 'output.2'));
}
