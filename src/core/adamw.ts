/**
 * The optimizer step of trainer.ts: gradient-norm clipping's norm, then AdamW (PyTorch semantics:
 * decoupled weight decay) and the EMA of the weights, for every parameter.
 *
 * Two paths with the same arithmetic: tfjs ops (every backend, and the reference), or on wasm the
 * fused kernels of fused/wasm-adamw.ts, one pass per parameter tensor instead of ~15 kernels.
 * The update is the same f32 operations in the same order, so both paths give the same bits for
 * the same clipping factor; the norm is summed in another order (test/adamw.test.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ADAMW_EMA, SUM_OF_SQUARES, registerWasmAdamWKernels, type AdamWEmaAttrs } from './fused/wasm-adamw.ts';

export interface AdamWHyper {
  lr: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** EMA decay of this step. */
  emaDecay: number;
  /** 1-based step number (bias correction). */
  step: number;
}

/** One parameter's optimizer state. */
export interface ParamSlot {
  p: tf.Variable;
  m: tf.Variable;
  v: tf.Variable;
  ema: tf.Variable;
  grad: tf.Tensor;
}

let fusedEnabled = true;

/** Turns the fused kernels off (true: on, the default) — for comparisons and benchmarks. */
export function setFusedAdamW(enabled: boolean): void {
  fusedEnabled = enabled;
}

/** Whether the fused kernels run on the current backend (registers them on wasm on first use). */
export function usesFusedAdamW(): boolean {
  if (!fusedEnabled) return false;
  if (tf.getBackend() === 'wasm') registerWasmAdamWKernels();
  return tf.getKernel(ADAMW_EMA, tf.getBackend()) !== undefined;
}

/** ‖g‖ over all tensors: √(Σ Σ g²). Call inside a tidy. */
export function globalNorm(grads: tf.Tensor[]): tf.Scalar {
  if (usesFusedAdamW()) return tf.sqrt(tf.engine().runKernel(SUM_OF_SQUARES, grads as unknown as tf.NamedTensorMap) as tf.Scalar);
  return tf.sqrt(sumAll(grads.map((g) => tf.sum(tf.square(g))))) as tf.Scalar;
}

/**
 * g ← grad·clip, then AdamW on p, m, v and the EMA, assigned in place of the old values.
 * `clip` is the clipping factor (a float32 scalar tensor). Call inside a tidy.
 */
export function adamwEmaStep(slots: ParamSlot[], clip: tf.Tensor, h: AdamWHyper): void {
  const bc1 = 1 - h.beta1 ** h.step;
  const bc2 = 1 - h.beta2 ** h.step;
  const keep = 1 - h.lr * h.weightDecay;
  const stepSize = h.lr / bc1;
  if (usesFusedAdamW()) {
    const attrs: AdamWEmaAttrs = {
      beta1: h.beta1, oneMinusBeta1: 1 - h.beta1, beta2: h.beta2, oneMinusBeta2: 1 - h.beta2, sqrtBc2: Math.sqrt(bc2), eps: h.eps,
      keep, step: stepSize, decay: h.emaDecay, oneMinusDecay: 1 - h.emaDecay,
    };
    for (const s of slots) {
      const [p1, m1, v1, e1] = tf.engine().runKernel(ADAMW_EMA, { p: s.p, m: s.m, v: s.v, ema: s.ema, grad: s.grad, clip }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
      s.m.assign(m1);
      s.v.assign(v1);
      s.p.assign(p1);
      s.ema.assign(e1);
    }
    return;
  }
  for (const s of slots) {
    const g = tf.mul(s.grad, clip);
    const m1 = tf.add(tf.mul(s.m, h.beta1), tf.mul(g, 1 - h.beta1));
    const v1 = tf.add(tf.mul(s.v, h.beta2), tf.mul(tf.square(g), 1 - h.beta2));
    const denom = tf.add(tf.div(tf.sqrt(v1), Math.sqrt(bc2)), h.eps);
    const p1 = tf.sub(tf.mul(s.p, keep), tf.mul(tf.div(m1, denom), stepSize));
    s.m.assign(m1);
    s.v.assign(v1);
    s.p.assign(p1);
    s.ema.assign(tf.add(tf.mul(s.ema, h.emaDecay), tf.mul(p1, 1 - h.emaDecay)));
  }
}

/**
 * Sum of many scalars as a balanced tree of two-input adds. Not tf.addN: its WebGPU kernel binds
 * every input as a storage buffer in one shader, and with more inputs than the device allows
 * (8–10) tfjs 4.22 returns garbage (NaN) instead of failing, which poisoned every weight after
 * the first optimizer step on WebGPU.
 */
export function sumAll(xs: tf.Tensor[]): tf.Tensor {
  if (xs.length === 0) return tf.scalar(0);
  let level = xs;
  while (level.length > 1) {
    const next: tf.Tensor[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? tf.add(level[i], level[i + 1]) : level[i]);
    level = next;
  }
  return level[0];
}
