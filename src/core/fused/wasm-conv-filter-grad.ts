/**
 * Conv2DBackpropFilter on the wasm backend as one direct SIMD kernel (wasm/conv-filter-grad.ts)
 * instead of wasm-kernels.ts' emulation (two transposes, an XNNPACK convolution whose weights are
 * the whole output gradient, packed anew every call, a slice and a transpose), which ran the
 * filter gradients at about 10 GFLOP/s, a third of a training step at width 0.25.
 * `directConvFilterGrad` returns null for what the kernels do not cover (NCHW, dilation, channels
 * multiples of neither 8 out nor 8 in, non-float32) and where the emulation may be faster (more
 * than 2 threads, where XNNPACK's convolution runs on all of them; measured: the direct kernel
 * at 1 and 2 threads, 30–40 GFLOP/s against 5–20), and the caller falls back to the emulation.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CONV_FILTER_GRAD_WASM } from './conv-filter-grad.wasm.ts';
import { addressOf, heapMemory, instantiateOn, type WasmBackendLike } from './wasm-module.ts';

interface ConvFilterGradExports {
  convFilterGrad(x: number, dy: number, dw: number, B: number, H: number, W: number, Ci: number, Ho: number, Wo: number, Co: number,
    KH: number, KW: number, sh: number, sw: number, pt: number, pl: number, chunk: number, narrow: number): void;
}

type Info = tf.TensorInfo;

export interface FilterGradAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  dilations?: [number, number] | number;
  filterShape: [number, number, number, number];
}

/** Images per pass: as many as keep x and dY of one pass within ~256 kB (L2), at least one. */
const CHUNK_BYTES = 256 * 1024;

/** Above this many wasm threads the emulation runs (see the top). */
const MAX_THREADS = 2;

let disabled = false;

/** Turns the direct kernel off (the emulation runs instead) — for comparisons and tests. */
export function setDirectConvFilterGrad(enabled: boolean): void {
  disabled = !enabled;
}

const modules = new WeakMap<object, ConvFilterGradExports | null>();

function exportsFor(backend: WasmBackendLike): ConvFilterGradExports | null {
  let e = modules.get(backend.wasm);
  if (e === undefined) {
    const memory = heapMemory(backend.wasm);
    try {
      e = memory ? instantiateOn<ConvFilterGradExports>(CONV_FILTER_GRAD_WASM, memory) : null;
    } catch {
      e = null; // no wasm SIMD in this engine: the emulation runs
    }
    modules.set(backend.wasm, e);
  }
  return e;
}

/** The filter gradient by the direct kernel, or null when it does not apply. */
export function directConvFilterGrad(x: Info, dy: Info, backend: WasmBackendLike, attrs: FilterGradAttrs): Info | null {
  if (disabled || attrs.dataFormat === 'NCHW' || x.dtype !== 'float32' || dy.dtype !== 'float32') return null;
  const [kh, kw, ci, co] = attrs.filterShape;
  if (co % 8 !== 0 && ci % 8 !== 0) return null;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], attrs.filterShape, attrs.strides, attrs.dilations ?? 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1) return null;
  const [B, H, W] = x.shape;
  const [, Ho, Wo] = dy.shape;
  if (info.outHeight !== Ho || info.outWidth !== Wo || info.inChannels !== ci) return null;
  const k = exportsFor(backend);
  if (!k || (backend.wasm.tfjs?.getThreadsCount() ?? 1) > MAX_THREADS) return null;
  const dw = backend.makeOutput([kh, kw, ci, co], 'float32');
  const at = (t: Info) => addressOf(backend, t);
  const chunk = Math.max(1, Math.floor(CHUNK_BYTES / (4 * (H * W * ci + Ho * Wo * co))));
  k.convFilterGrad(at(x), at(dy), at(dw), B, H, W, ci, Ho, Wo, co, kh, kw, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left, chunk, co % 8 === 0 ? 0 : 1);
  return dw;
}
