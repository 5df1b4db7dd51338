/**
 * The optimizer step as tfjs kernels on the wasm backend (wasm/adamw.ts): `AdamWEma` updates one
 * parameter, its two Adam moments and its EMA copy in one pass (the op path in adamw.ts runs ~15
 * kernels per parameter tensor, ~1,900 per step at 125 tensors), and `SumOfSquares` gives the
 * squared gradient norm of many tensors in one kernel (instead of two per tensor and a tree of
 * adds). Both return new tensors rather than writing in place: variables then change dataId, as
 * with the op path, so nothing keyed on a weight's dataId (e.g. wasm-kernels.ts' phase-filter
 * cache) can see stale values.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ADAMW_WASM } from './adamw.wasm.ts';
import { addressOf as at, heapMemory, instantiateOn, type WasmBackendLike } from './wasm-module.ts';

export const ADAMW_EMA = 'AdamWEma';
export const SUM_OF_SQUARES = 'SumOfSquares';

/** f32 scalars of one step, computed in JS exactly as the op path computes its scalar operands. */
export interface AdamWEmaAttrs {
  beta1: number;
  oneMinusBeta1: number;
  beta2: number;
  oneMinusBeta2: number;
  sqrtBc2: number;
  eps: number;
  /** 1 − lr·weightDecay */
  keep: number;
  /** lr / bc1 */
  step: number;
  decay: number;
  oneMinusDecay: number;
}

interface AdamWExports {
  adamwEma(p: number, m: number, v: number, e: number, grad: number, clip: number, pOut: number, mOut: number, vOut: number, eOut: number, n: number,
    beta1: number, oneMinusBeta1: number, beta2: number, oneMinusBeta2: number, sqrtBc2: number, eps: number,
    keep: number, step: number, decay: number, oneMinusDecay: number): void;
  addSquares(x: number, n: number, acc: number, first: number): void;
}

type Info = tf.TensorInfo;

const modules = new WeakMap<object, AdamWExports>();
const kernelsOf = (backend: WasmBackendLike) => modules.get(backend.wasm)!;

function adamwEma(args: { inputs: { p: Info; m: Info; v: Info; ema: Info; grad: Info; clip: Info }; backend: WasmBackendLike; attrs: AdamWEmaAttrs }): Info[] {
  const { inputs: { p, m, v, ema, grad, clip }, backend, attrs: a } = args;
  for (const t of [p, m, v, ema, grad, clip]) if (t.dtype !== 'float32') throw new Error(`${ADAMW_EMA}: float32 only, got ${t.dtype}`);
  const outs = [p, m, v, ema].map((t) => backend.makeOutput(t.shape, 'float32'));
  const o = (i: number) => at(backend, outs[i]);
  kernelsOf(backend).adamwEma(at(backend, p), at(backend, m), at(backend, v), at(backend, ema), at(backend, grad), at(backend, clip),
    o(0), o(1), o(2), o(3), tf.util.sizeFromShape(p.shape),
    a.beta1, a.oneMinusBeta1, a.beta2, a.oneMinusBeta2, a.sqrtBc2, a.eps, a.keep, a.step, a.decay, a.oneMinusDecay);
  return outs;
}

function sumOfSquares(args: { inputs: Info[]; backend: WasmBackendLike }): Info {
  const { inputs, backend } = args;
  const out = backend.makeOutput([], 'float32');
  const acc = at(backend, out);
  const k = kernelsOf(backend);
  k.addSquares(0, 0, acc, 1); // 0 with no inputs
  for (const t of Object.values(inputs)) {
    if (t.dtype !== 'float32') throw new Error(`${SUM_OF_SQUARES}: float32 only, got ${t.dtype}`);
    k.addSquares(at(backend, t), tf.util.sizeFromShape(t.shape), acc, 0);
  }
  return out;
}

let registered = false;

/**
 * Registers both kernels on 'wasm' (call with wasm current) when the module instantiates on its
 * heap; otherwise leaves them out and the trainer runs the op path. Idempotent; returns whether
 * they are registered.
 */
export function registerWasmAdamWKernels(): boolean {
  if (registered) return true;
  if (tf.getBackend() !== 'wasm') return false;
  const backend = tf.backend() as unknown as WasmBackendLike;
  const memory = backend.wasm ? heapMemory(backend.wasm) : null;
  if (!memory) return false;
  try {
    modules.set(backend.wasm, instantiateOn<AdamWExports>(ADAMW_WASM, memory));
  } catch {
    return false;
  }
  tf.registerKernel({ kernelName: ADAMW_EMA, backendName: 'wasm', kernelFunc: adamwEma as unknown as tf.KernelFunc });
  tf.registerKernel({ kernelName: SUM_OF_SQUARES, backendName: 'wasm', kernelFunc: sumOfSquares as unknown as tf.KernelFunc });
  registered = true;
  return true;
}
