/**
 * GroupNorm (PyTorch's nn.GroupNorm over NHWC, eps 1e-5), optionally with a per-(image, channel)
 * shift added to its input and a SiLU after it: the pattern of every SimpleUNet block.
 *
 * `groupNormAct` runs the fused wasm kernels (fused/wasm-group-norm.ts) when they are registered
 * for the current backend and the shape suits them (channels a multiple of 4), else the op path
 * (`referenceGroupNormAct`: groupNormOp plus tfjs ops), which is what webgl, webgpu and cpu run
 * and what test/fused-group-norm.test.ts holds the fused kernels to.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GROUP_NORM_ACT, GROUP_NORM_ACT_GRAD, type GroupNormActAttrs } from './fused/wasm-group-norm.ts';

export const GN_EPS = 1e-5;

/**
 * GroupNorm with a hand-written gradient. tfjs' autodiff through tf.moments builds ~20 small
 * kernels per call for the backward pass; the closed form below needs about half. Values are
 * the same formula.
 *   x̂ = (x − μ)·r,  r = 1/√(σ² + ε),  y = γ·x̂ + β
 *   ∂x = r·(g − mean(g) − x̂·mean(g·x̂)),  g = γ·∂y,  means over each group's H·W·C/G values
 */
export function groupNormOp(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, groups: number): tf.Tensor4D {
  const [b, hh, ww, c] = x.shape;
  const shape5: [number, number, number, number, number] = [b, hh, ww, groups, c / groups];
  const f = tf.customGrad(((xIn: tf.Tensor, gIn: tf.Tensor, bIn: tf.Tensor, save: tf.GradSaveFunc) => {
    const r5 = tf.reshape(xIn, shape5);
    const { mean, variance } = tf.moments(r5, [1, 2, 4], true);
    const rstd = tf.rsqrt(tf.add(variance, GN_EPS));
    const xhat = tf.reshape(tf.mul(tf.sub(r5, mean), rstd), [b, hh, ww, c]);
    save([xhat, rstd, gIn]);
    return {
      value: tf.add(tf.mul(xhat, gIn), bIn),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, rs, gm] = saved;
        const dGamma = tf.sum(tf.mul(dy, xh), [0, 1, 2]);
        const dBeta = tf.sum(dy, [0, 1, 2]);
        const g5 = tf.reshape(tf.mul(dy, gm), shape5);
        const xh5 = tf.reshape(xh, shape5);
        const m1 = tf.mean(g5, [1, 2, 4], true);
        const m2 = tf.mean(tf.mul(g5, xh5), [1, 2, 4], true);
        const dx = tf.mul(tf.sub(tf.sub(g5, m1), tf.mul(xh5, m2)), rs);
        return [tf.reshape(dx, [b, hh, ww, c]), dGamma, dBeta];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x, gamma, beta) as tf.Tensor4D;
}

export interface GroupNormActOptions {
  /** [B, C], added to x before the statistics (the time/class embedding plus a conv bias). */
  shift?: tf.Tensor2D;
  /** Apply SiLU (x·σ(x)) to the normalised output. */
  silu?: boolean;
}

export const silu = (h: tf.Tensor): tf.Tensor => tf.mul(h, tf.sigmoid(h));

/** The op path: what every backend without the fused kernels runs, and the fused kernels' reference. */
export function referenceGroupNormAct(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, groups: number, opts: GroupNormActOptions = {}): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, , , c] = x.shape;
    const input = opts.shift ? tf.add(x, tf.reshape(opts.shift, [b, 1, 1, c])) as tf.Tensor4D : x;
    const y = groupNormOp(input, gamma, beta, groups);
    return (opts.silu ? silu(y) : y) as tf.Tensor4D;
  });
}

let fusedEnabled = true;

/** Turns the fused kernels off (true: on, the default) — for comparisons and benchmarks. */
export function setFusedGroupNorm(enabled: boolean): void {
  fusedEnabled = enabled;
}

/** Whether `groupNormAct` would run the fused kernels for this input now. */
export function usesFusedGroupNorm(x: tf.Tensor, groups: number): boolean {
  const c = x.shape[x.rank - 1];
  return fusedEnabled && x.rank === 4 && x.dtype === 'float32' && c % 4 === 0 && c % groups === 0
    && tf.getKernel(GROUP_NORM_ACT, tf.getBackend()) !== undefined;
}

export function groupNormAct(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, groups: number, opts: GroupNormActOptions = {}): tf.Tensor4D {
  if (!usesFusedGroupNorm(x, groups)) return referenceGroupNormAct(x, gamma, beta, groups, opts);
  const attrs: GroupNormActAttrs = { groups, silu: Boolean(opts.silu), eps: GN_EPS };
  const engine = tf.engine();
  const f = tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [xIn, gIn, bIn, sIn] = args as tf.Tensor[];
    const inputs: tf.NamedTensorMap = sIn ? { x: xIn, gamma: gIn, beta: bIn, shift: sIn } : { x: xIn, gamma: gIn, beta: bIn };
    const [y, stats] = engine.runKernel(GROUP_NORM_ACT, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    // Saved: the input and its statistics; the backward kernel recomputes x̂ and the activation.
    save(sIn ? [xIn, gIn, bIn, stats, sIn] : [xIn, gIn, bIn, stats]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, gs, bs, st, ss] = saved;
        const gradInputs: tf.NamedTensorMap = { x: xs, gamma: gs, beta: bs, stats: st, dy };
        if (ss) gradInputs.shift = ss;
        return engine.runKernel(GROUP_NORM_ACT_GRAD, gradInputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return (opts.shift ? f(x, gamma, beta, opts.shift) : f(x, gamma, beta)) as tf.Tensor4D;
}
