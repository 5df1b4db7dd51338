/**
 * Slice, Concat and SplitV on the wasm backend as strided row copies (wasm/copy.ts) for 4-byte
 * dtypes: tfjs 4.22 does Concat as a JavaScript loop with a subarray per row and SplitV as one
 * generic Slice per part, 3–11 ms each on the U-Net's skip connections at width 0.25 and batch
 * 32 (the concatenations, their gradients, and the transposed convolutions' crops). A copy gives
 * the same bits, so nothing downstream changes. Other dtypes and shapes go to tfjs' kernels.
 */
import * as tf from '@tensorflow/tfjs-core';
import { COPY_WASM } from './copy.wasm.ts';
import { addressOf, heapMemory, instantiateOn, type WasmBackendLike } from './wasm-module.ts';

interface CopyExports {
  copyRows(src: number, srcStride: number, dst: number, dstStride: number, rows: number, len: number): void;
}

type Info = tf.TensorInfo;
type Kernel = (args: { inputs: unknown; backend: WasmBackendLike; attrs: Record<string, unknown> }) => Info | Info[];

let enabled = true;

/** Turns the row copies off (tfjs' kernels run) — for comparisons and tests. */
export function setWasmRowCopies(on: boolean): void {
  enabled = on;
}

const modules = new WeakMap<object, CopyExports>();
const originals = new Map<string, Kernel>();
const FOUR_BYTES = new Set(['float32', 'int32']);

/**
 * A slice (rank ≤ 4) as at most two outer loops around copyRows: trailing dimensions taken whole
 * merge into the one before them.
 */
function sliceRows(k: CopyExports, src: number, dst: number, shape: number[], begin: number[], size: number[]): void {
  const s = [...shape];
  const b = [...begin];
  const z = [...size];
  for (let i = s.length - 1; i > 0; i--) {
    if (z[i] !== s[i]) continue;
    z[i - 1] *= s[i];
    b[i - 1] *= s[i];
    s[i - 1] *= s[i];
    s.splice(i, 1);
    b.splice(i, 1);
    z.splice(i, 1);
  }
  while (s.length < 4) [s, b, z].forEach((a, j) => a.unshift(j === 1 ? 0 : 1));
  const [, s1, s2, s3] = s;
  for (let i0 = 0; i0 < z[0]; i0++) {
    for (let i1 = 0; i1 < z[1]; i1++) {
      const from = src + 4 * ((((b[0] + i0) * s1 + b[1] + i1) * s2 + b[2]) * s3 + b[3]);
      const to = dst + 4 * ((i0 * z[1] + i1) * z[2] * z[3]);
      k.copyRows(from, s3, to, z[3], z[2], z[3]);
    }
  }
}

function slice(args: { inputs: { x: Info }; backend: WasmBackendLike; attrs: { begin: number | number[]; size: number | number[] } }): Info {
  const { inputs: { x }, backend, attrs } = args;
  const k = modules.get(backend.wasm);
  if (!enabled || !k || !FOUR_BYTES.has(x.dtype) || x.shape.length > 4) return originals.get('Slice')!(args as never) as Info;
  const [begin, size] = tf.slice_util.parseSliceParams(x as tf.Tensor, attrs.begin, attrs.size);
  const out = backend.makeOutput(size, x.dtype as 'float32');
  if (tf.util.sizeFromShape(size) > 0) sliceRows(k, addressOf(backend, x), addressOf(backend, out), x.shape, begin, size);
  return out;
}

/** Concat and SplitV: along `axis`, each part is a block of `inner` elements in every one of `outer` rows. */
function blocks(shapes: number[][], axis: number) {
  const outer = tf.util.sizeFromShape(shapes[0].slice(0, axis));
  const inner = shapes.map((s) => tf.util.sizeFromShape(s.slice(axis)));
  return { outer, inner, total: inner.reduce((a, c) => a + c, 0) };
}

function concat(args: { inputs: Info[]; backend: WasmBackendLike; attrs: { axis: number | number[] } }): Info {
  const { inputs, backend, attrs } = args;
  const k = modules.get(backend.wasm);
  const parts = Object.values(inputs).filter((t) => tf.util.sizeFromShape(t.shape) > 0);
  if (!enabled || !k || parts.length < 2 || !parts.every((t) => FOUR_BYTES.has(t.dtype) && t.dtype === parts[0].dtype)) return originals.get('Concat')!(args as never) as Info;
  const axis = tf.util.parseAxisParam(attrs.axis, parts[0].shape)[0];
  const out = backend.makeOutput(tf.backend_util.computeOutShape(parts.map((t) => t.shape), axis), parts[0].dtype as 'float32');
  const { outer, inner, total } = blocks(parts.map((t) => t.shape), axis);
  let offset = 0;
  parts.forEach((t, i) => {
    k.copyRows(addressOf(backend, t), inner[i], addressOf(backend, out) + 4 * offset, total, outer, inner[i]);
    offset += inner[i];
  });
  return out;
}

function splitV(args: { inputs: { x: Info }; backend: WasmBackendLike; attrs: { numOrSizeSplits: number | number[]; axis: number } }): Info[] {
  const { inputs: { x }, backend, attrs } = args;
  const k = modules.get(backend.wasm);
  if (!enabled || !k || !FOUR_BYTES.has(x.dtype)) return originals.get('SplitV')!(args as never) as Info[];
  const axis = tf.util.parseAxisParam(attrs.axis, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, attrs.numOrSizeSplits, axis);
  const shapes = sizes.map((n) => x.shape.map((d, j) => (j === axis ? n : d)));
  const { outer, inner, total } = blocks(shapes, axis);
  let offset = 0;
  return shapes.map((shape, i) => {
    const out = backend.makeOutput(shape, x.dtype as 'float32');
    if (inner[i] > 0) k.copyRows(addressOf(backend, x) + 4 * offset, total, addressOf(backend, out), inner[i], outer, inner[i]);
    offset += inner[i];
    return out;
  });
}

const KERNELS: Record<string, Kernel> = { Slice: slice as Kernel, Concat: concat as Kernel, SplitV: splitV as Kernel };

/**
 * Puts the row-copy kernels in front of wasm's own (call with wasm current; idempotent). Without
 * the module (no wasm SIMD) tfjs' kernels stay.
 */
export function registerWasmCopyKernels(): void {
  if (originals.size || tf.getBackend() !== 'wasm') return;
  const backend = tf.backend() as unknown as WasmBackendLike;
  const memory = backend.wasm ? heapMemory(backend.wasm) : null;
  if (!memory) return;
  try {
    modules.set(backend.wasm, instantiateOn<CopyExports>(COPY_WASM, memory));
  } catch {
    return;
  }
  for (const [name, f] of Object.entries(KERNELS)) {
    const k = tf.getKernel(name, 'wasm');
    if (!k) continue;
    originals.set(name, k.kernelFunc as unknown as Kernel);
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ ...k, kernelFunc: f as unknown as tf.KernelFunc });
  }
}
