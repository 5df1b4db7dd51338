/**
 * tfjs kernels on the wasm backend for GroupNorm with its affine, an optional per-(image, channel)
 * shift added first (the time/class embedding, folded with the preceding convolution's bias) and
 * an optional SiLU after: one pass forward (GroupNormAct) and one backward (GroupNormActGrad),
 * in place of the ~15 small tfjs kernels per call forward and ~30 backward of the op path.
 * The arithmetic is the AssemblyScript module's (fused-norm-module.ts); these functions only
 * allocate outputs on the tfjs heap and pass addresses.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedNormOn, type FusedNormExports } from './fused-norm-module.ts';
import { addressOf, heapMemory, type WasmBackendLike } from './wasm-module.ts';

export const GROUP_NORM_ACT = 'GroupNormAct';
export const GROUP_NORM_ACT_GRAD = 'GroupNormActGrad';

export interface GroupNormActAttrs {
  groups: number;
  silu: boolean;
  eps: number;
}

type Info = tf.TensorInfo;

/** Per heap: the module over it and a scratch buffer (8 floats per channel) that is reused. */
interface HeapState { exports: FusedNormExports; scratch: number; scratchFloats: number }
const heaps = new WeakMap<object, HeapState>();

function heapState(backend: WasmBackendLike): HeapState {
  let s = heaps.get(backend.wasm);
  if (!s) {
    const memory = heapMemory(backend.wasm);
    if (!memory) throw new Error('GroupNormAct: cannot find the wasm backend\'s memory');
    s = { exports: fusedNormOn(memory), scratch: 0, scratchFloats: 0 };
    heaps.set(backend.wasm, s);
  }
  return s;
}

function scratch(backend: WasmBackendLike, s: HeapState, floats: number): number {
  if (s.scratchFloats < floats) {
    if (s.scratch) backend.wasm._free(s.scratch);
    s.scratch = backend.wasm._malloc(floats * 4) >>> 0;
    s.scratchFloats = floats;
  }
  return s.scratch;
}

function groupNormAct(args: { inputs: { x: Info; gamma: Info; beta: Info; shift?: Info }; backend: WasmBackendLike; attrs: GroupNormActAttrs }): Info[] {
  const { inputs: { x, gamma, beta, shift }, backend, attrs } = args;
  const [B, H, W, C] = x.shape;
  const s = heapState(backend);
  const y = backend.makeOutput(x.shape, 'float32');
  const stats = backend.makeOutput([B, attrs.groups, 2], 'float32');
  const tmp = scratch(backend, s, 4 * C);
  const a = (t?: Info) => addressOf(backend, t);
  s.exports.groupNormForward(a(x), a(shift), a(gamma), a(beta), a(y), a(stats), tmp, B, H * W, C, attrs.groups, attrs.silu ? 1 : 0, attrs.eps);
  return [y, stats];
}

function groupNormActGrad(args: { inputs: { x: Info; gamma: Info; beta: Info; stats: Info; dy: Info; shift?: Info }; backend: WasmBackendLike; attrs: GroupNormActAttrs }): Info[] {
  const { inputs: { x, gamma, beta, stats, dy, shift }, backend, attrs } = args;
  const [B, H, W, C] = x.shape;
  const s = heapState(backend);
  const dx = backend.makeOutput(x.shape, 'float32');
  const dgamma = backend.makeOutput([C], 'float32');
  const dbeta = backend.makeOutput([C], 'float32');
  const dshift = shift ? backend.makeOutput([B, C], 'float32') : undefined;
  const tmp = scratch(backend, s, 8 * C);
  const a = (t?: Info) => addressOf(backend, t);
  s.exports.groupNormBackward(a(x), a(shift), a(gamma), a(beta), a(stats), a(dy), a(dx), a(dgamma), a(dbeta), a(dshift), tmp,
    B, H * W, C, attrs.groups, attrs.silu ? 1 : 0);
  return dshift ? [dx, dgamma, dbeta, dshift] : [dx, dgamma, dbeta];
}

let registered = false;

/**
 * Registers both kernels on 'wasm' once the module has instantiated against the heap of the
 * running wasm backend (call it with wasm current); leaves them unregistered (callers then use
 * the op path) when it cannot, e.g. on an engine without wasm SIMD. Idempotent. Returns whether
 * they are registered.
 */
export function registerWasmGroupNormKernels(): boolean {
  if (registered) return true;
  if (tf.getBackend() !== 'wasm') return false;
  const backend = tf.backend() as unknown as WasmBackendLike;
  if (!backend.wasm) return false;
  try {
    heapState(backend);
  } catch {
    return false;
  }
  tf.registerKernel({ kernelName: GROUP_NORM_ACT, backendName: 'wasm', kernelFunc: groupNormAct as unknown as tf.KernelFunc });
  tf.registerKernel({ kernelName: GROUP_NORM_ACT_GRAD, backendName: 'wasm', kernelFunc: groupNormActGrad as unknown as tf.KernelFunc });
  registered = true;
  return true;
}
