/**
 * Forward FLOPs of SimpleUNet, counted analytically layer by layer (no tfjs needed).
 *
 * Counted: convolutions, transposed convolutions, linear layers and the attention matmuls,
 * with a multiply-add as 2 FLOPs. Not counted: biases, GroupNorm, SiLU, softmax, residual adds
 * and concatenations (elementwise work, under 1% of the total at width 1 and memory-bound anyway).
 *
 *   conv k×k, Cin → Cout, output Ho×Wo:    2 · Ho·Wo · k²·Cin · Cout
 *   transposed conv k×k, input Hi×Wi:      2 · Hi·Wi · k²·Cin · Cout   (each input pixel scatters k² taps)
 *   linear Fin → Fout:                     2 · Fin · Fout
 *   attention over N = H·W tokens, C:      2 · N·N·C (Q·Kᵀ)  +  2 · N·N·C (A·V)
 *
 * A training step costs about 3× the forward (the backward pass computes a gradient for both the
 * input and the weights of every layer, each as expensive as the forward); `trainStepFlops` uses that.
 */
import { channels, SEED_CONFIG, type UNetConfig } from './model.ts';

export interface LayerFlops {
  /** PyTorch module name, e.g. "res1.block1.2" or "mid_attn.qk". */
  name: string;
  kind: 'conv' | 'convT' | 'linear' | 'matmul';
  flops: number;
}

/** Every counted layer of one forward pass for ONE image (size × size input), in forward order. */
export function layerFlops(cfg: Partial<UNetConfig> = {}, size = 32): LayerFlops[] {
  const c = { ...SEED_CONFIG, ...cfg };
  const [c1, c2, c3, c4] = channels(c);
  const T = c.timeEmbDim;
  const TH = 4 * T;
  const out: LayerFlops[] = [];
  const conv = (name: string, cin: number, cout: number, k: number, hOut: number) =>
    out.push({ name, kind: 'conv', flops: 2 * hOut * hOut * k * k * cin * cout });
  const convT = (name: string, cin: number, cout: number, k: number, hIn: number) =>
    out.push({ name, kind: 'convT', flops: 2 * hIn * hIn * k * k * cin * cout });
  const linear = (name: string, fin: number, fout: number) => out.push({ name, kind: 'linear', flops: 2 * fin * fout });
  const res = (name: string, cin: number, cout: number, h: number) => {
    conv(`${name}.block1.2`, cin, cout, 3, h);
    linear(`${name}.time_mlp`, TH, cout);
    conv(`${name}.block2.3`, cout, cout, 3, h);
    if (cin !== cout) conv(`${name}.shortcut`, cin, cout, 1, h);
  };
  const s1 = size;
  const s2 = size / 2;
  const s3 = size / 4;
  const s4 = size / 8;
  if (!Number.isInteger(s4)) throw new Error(`image size ${size} is not a multiple of 8`);

  linear('time_mlp.0', T, TH);
  linear('time_mlp.2', TH, TH);
  conv('conv1', 3, c1, 3, s1);
  res('res1', c1, c1, s1);
  conv('down1', c1, c1, 3, s2);
  res('res2', c1, c2, s2);
  conv('down2', c2, c2, 3, s3);
  res('res3', c2, c3, s3);
  conv('down3', c3, c3, 3, s4);
  res('mid1', c3, c4, s4);
  for (const p of ['q', 'k', 'v']) conv(`mid_attn.${p}`, c4, c4, 1, s4);
  const n = s4 * s4;
  out.push({ name: 'mid_attn.qk', kind: 'matmul', flops: 2 * n * n * c4 });
  out.push({ name: 'mid_attn.av', kind: 'matmul', flops: 2 * n * n * c4 });
  conv('mid_attn.proj_out', c4, c4, 1, s4);
  res('mid2', c4, c4, s4);
  convT('up3', c4, c3, 3, s4);
  res('res_up3', 2 * c3, c3, s3);
  convT('up2', c3, c2, 3, s3);
  res('res_up2', 2 * c2, c2, s2);
  convT('up1', c2, c1, 3, s2);
  res('res_up1', 2 * c1, c1, s1);
  conv('output.2', c1, 3, 3, s1);
  return out;
}

/** Forward FLOPs for one image. */
export function forwardFlops(cfg: Partial<UNetConfig> = {}, size = 32): number {
  return layerFlops(cfg, size).reduce((a, l) => a + l.flops, 0);
}

/** Approximate FLOPs of one training step per image: forward + backward ≈ 3 × forward. */
export function trainStepFlops(cfg: Partial<UNetConfig> = {}, size = 32): number {
  return 3 * forwardFlops(cfg, size);
}

/** FLOPs per top-level block (time_mlp, conv1, res1, …), for tables. */
export function blockFlops(cfg: Partial<UNetConfig> = {}, size = 32): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of layerFlops(cfg, size)) {
    const b = l.name.split('.')[0];
    out[b] = (out[b] ?? 0) + l.flops;
  }
  return out;
}
