/**
 * Kernels tfjs 4.22's wasm backend lacks for training, registered from kernels it has.
 *
 * Conv2DBackpropFilter: the filter gradient of a convolution is itself a convolution.
 *   dW[kh, kw, ci, co] = Σ_{b,y,x} X[b, y·s + kh − pad, x·s + kw − pad, ci] · dY[b, y, x, co]
 * Swap the roles of batch and channels (X → [Ci, H, W, B], dY → [Ho, Wo, B, Co] as a filter)
 * and this is a forward convolution with dilation s and the forward padding, whose output
 * is [Ci, KH, KW, Co]; a transpose gives [KH, KW, Ci, Co]. XNNPACK then does the heavy work.
 *
 * Conv2DBackpropInput (the input gradient of every convolution, and the forward pass of
 * conv2dTranspose, i.e. the U-Net's up-sampling layers): tfjs 4.22's wasm kernel is a plain loop,
 * not XNNPACK, and runs ~10× slower per FLOP than Conv2D (it took 39% of a full-width forward).
 * It is replaced by forward convolutions, split by output phase (sub-pixel decomposition):
 *   dX[b, y, x, ci] = Σ dY[b, oy, ox, co] · W[ky, kx, ci, co]   over y = oy·s + ky − pad
 * For output rows y ≡ r (mod s) only taps ky ≡ r + pad (mod s) contribute, so each of the s×s
 * phases is a stride-1 convolution of dY with a flipped, subsampled filter [⌈·⌉, ⌈·⌉, Co, Ci],
 * and the phases interleave into dX. Same FLOPs as the direct form; stride 1 is a single
 * convolution with the flipped filter. NCHW goes to tfjs' own kernel.
 *
 * BatchMatMul with a transposed operand (every linear layer's gradients: dW = xᵀ·dY, dX = dY·Wᵀ):
 * tfjs 4.22's wasm kernel sends only the plain unbatched product to XNNPACK; with transposeA or
 * transposeB it runs a naive loop, 5–30× slower (a 32×512 by 512×512 product: 10–19 ms instead
 * of 2). Unbatched, the operand is transposed first (a copy, ~0.1 ms) and the plain product runs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { directConvFilterGrad } from './fused/wasm-conv-filter-grad.ts';

type Info = tf.TensorInfo;
interface ConvAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

let registered = false;

/**
 * Idempotent; call after the wasm backend is registered. Adds Conv2DBackpropFilter (missing in
 * wasm) and replaces Conv2DBackpropInput (see `registerWasmConvTransposeKernel`).
 */
export function registerWasmTrainingKernels(): void {
  if (!registered) {
    registered = true;
    if (!tf.getKernel('Conv2DBackpropFilter', 'wasm')) {
      tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc });
    }
    const mm = tf.getKernel('BatchMatMul', 'wasm');
    if (mm) {
      originalMatMul = mm;
      tf.unregisterKernel('BatchMatMul', 'wasm');
      tf.registerKernel({ kernelName: 'BatchMatMul', backendName: 'wasm', kernelFunc: batchMatMul as unknown as tf.KernelFunc });
    }
  }
  registerWasmConvTransposeKernel();
}

let originalMatMul: tf.KernelConfig | null = null;
let plainMatMul = true;

/** Turns the transpose-first BatchMatMul off (tfjs' own kernel runs) — for comparisons and tests. */
export function setTransposeFirstMatMul(enabled: boolean): void {
  plainMatMul = enabled;
}

interface MatMulArgs { inputs: { a: Info; b: Info }; backend: { disposeData(id: object): void }; attrs: { transposeA: boolean; transposeB: boolean } }

function batchMatMul(args: MatMulArgs): Info {
  const original = originalMatMul!.kernelFunc as unknown as (a: MatMulArgs) => Info;
  const { inputs: { a, b }, backend, attrs } = args;
  const unbatched = (t: Info) => t.shape.slice(0, -2).every((d) => d === 1);
  if (!plainMatMul || !(attrs.transposeA || attrs.transposeB) || !unbatched(a) || !unbatched(b) || a.dtype !== 'float32' || b.dtype !== 'float32') return original(args);
  const transpose = kernel('Transpose');
  const flip = (t: Info) => transpose({ inputs: { x: t }, backend, attrs: { perm: [...t.shape.keys()].map((i, _, all) => (i < all.length - 2 ? i : 2 * all.length - 3 - i)) } });
  const a2 = attrs.transposeA ? flip(a) : a;
  const b2 = attrs.transposeB ? flip(b) : b;
  const out = original({ inputs: { a: a2, b: b2 }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } });
  for (const t of [a2, b2]) if (t !== a && t !== b) backend.disposeData(t.dataId);
  return out;
}

let originalBackpropInput: tf.KernelConfig | null = null;

/**
 * Replaces wasm's Conv2DBackpropInput (conv2dTranspose, and every convolution's input gradient)
 * with XNNPACK convolutions. Idempotent; useful for inference too (the U-Net's up-sampling).
 */
export function registerWasmConvTransposeKernel(): void {
  if (originalBackpropInput) return;
  const k = tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (!k) return;
  originalBackpropInput = k;
  tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
  tf.registerKernel({ kernelName: 'Conv2DBackpropInput', backendName: 'wasm', kernelFunc: conv2DBackpropInput as unknown as tf.KernelFunc });
}

function kernel(name: string) {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`wasm backend has no '${name}' kernel`);
  return k.kernelFunc as (args: { inputs: Record<string, Info>; backend: unknown; attrs?: Record<string, unknown> }) => Info;
}

function conv2DBackpropFilter(args: { inputs: { x: Info; dy: Info }; backend: { disposeData(id: object): void }; attrs: ConvAttrs }): Info {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  // The direct SIMD kernel where it applies (fused/wasm-conv-filter-grad.ts), else the emulation below.
  const direct = directConvFilterGrad(x, dy, backend as unknown as Parameters<typeof directConvFilterGrad>[2], attrs);
  if (direct) return direct;
  if (attrs.dataFormat === 'NCHW') throw new Error('Conv2DBackpropFilter (wasm): only NHWC is supported');
  const [kh, kw, ci, co] = attrs.filterShape;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
  const { top, bottom, left, right } = info.padInfo;
  const transpose = kernel('Transpose');
  const conv = kernel('Conv2D');
  const slice = kernel('Slice');

  const xT = transpose({ inputs: { x }, backend, attrs: { perm: [3, 1, 2, 0] } }); // [Ci, H, W, B]
  const dyT = transpose({ inputs: { x: dy }, backend, attrs: { perm: [1, 2, 0, 3] } }); // [Ho, Wo, B, Co]
  const raw = conv({
    inputs: { x: xT, filter: dyT }, backend,
    attrs: { strides: [1, 1], pad: [[0, 0], [top, bottom], [left, right], [0, 0]], dataFormat: 'NHWC', dilations: [info.strideHeight, info.strideWidth] },
  }); // [Ci, ≥KH, ≥KW, Co]: rows past KH come from padding the forward pass never reached
  const cut = raw.shape[1] === kh && raw.shape[2] === kw ? raw
    : slice({ inputs: { x: raw }, backend, attrs: { begin: [0, 0, 0, 0], size: [ci, kh, kw, co] } });
  const out = transpose({ inputs: { x: cut }, backend, attrs: { perm: [1, 2, 0, 3] } }); // [KH, KW, Ci, Co]
  for (const t of new Set([xT, dyT, raw, cut])) backend.disposeData(t.dataId);
  return out;
}

interface BackpropInputAttrs {
  strides: [number, number] | number;
  pad: ConvAttrs['pad'];
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
}

interface WasmBackendLike {
  disposeData(id: object, force?: boolean): void;
  dataIdMap: { has(id: object): boolean };
  readSync(id: object): unknown;
  makeOutput(shape: number[], dtype: 'float32', memoryOffset?: number, values?: Float32Array): Info;
}

/**
 * Phase filters by the filter tensor they came from (its dataId, which no other tensor ever
 * reuses) and the geometry. Backend-level data, not engine tensors (tf.memory() does not count
 * them). An entry lives until its source filter is disposed; every call sweeps dead entries, so
 * training (new weights each step) holds at most one step's worth.
 */
const phaseCache = new Map<object, Map<string, Info>>();

function sweepPhaseCache(backend: WasmBackendLike): void {
  for (const [id, m] of phaseCache) {
    if (backend.dataIdMap.has(id)) continue;
    for (const f of m.values()) backend.disposeData(f.dataId, true);
    phaseCache.delete(id);
  }
}

function conv2DBackpropInput(args: { inputs: { dy: Info; filter: Info }; backend: WasmBackendLike; attrs: BackpropInputAttrs }): Info {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  const fallback = () => (originalBackpropInput!.kernelFunc as unknown as (a: typeof args) => Info)(args);
  if (attrs.dataFormat === 'NCHW') return fallback();
  const [B, H, W, ci] = attrs.inputShape;
  const [kh, kw, , co] = filter.shape as [number, number, number, number];
  if (dy.dtype !== 'float32' || filter.dtype !== 'float32') return fallback();
  const info = tf.backend_util.computeConv2DInfo(
    attrs.inputShape, filter.shape as [number, number, number, number], attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
  const sh = info.strideHeight;
  const sw = info.strideWidth;
  const [, Ho, Wo] = dy.shape;
  if (info.outHeight !== Ho || info.outWidth !== Wo || info.dilationHeight !== 1 || info.dilationWidth !== 1) return fallback();

  const transpose = kernel('Transpose');
  const slice = kernel('Slice');
  const conv = kernel('Conv2D');
  const reshape = kernel('Reshape');
  const concat = kernel('Concat');
  const fill = kernel('Fill');
  const temps: Info[] = [];
  const keep = (t: Info) => (temps.push(t), t);
  // The phase filters are gathered in JS (a single pass over W): wasm's generic StridedSlice and
  // Reverse kernels were slower than the convolutions themselves. They are cached per filter
  // (see phaseFilter), so sampling with fixed weights reuses them and XNNPACK's packed operators.
  sweepPhaseCache(backend);
  let w: Float32Array | null = null;
  const geometry = `${attrs.inputShape.join(',')}|${sh},${sw}|${info.padInfo.top},${info.padInfo.left}`;
  let cached = phaseCache.get(filter.dataId);
  if (!cached) phaseCache.set(filter.dataId, (cached = new Map()));
  const phaseFilter = (key: string, make: (w: Float32Array) => Info): Info => {
    const k = `${geometry}|${key}`;
    let f = cached.get(k);
    if (!f) {
      w ??= backend.readSync(filter.dataId) as Float32Array;
      f = make(w);
      cached.set(k, f);
    }
    return f;
  };

  // Every phase computes n = ⌈H/s⌉ rows (the last may fall past H: cut at the end).
  // Per axis and phase r: first tap k0 ≡ r + pad (mod s), tap count M, and which dY rows the
  // phase reads (lo .. hi).
  const nH = Math.ceil(H / sh);
  const nW = Math.ceil(W / sw);
  const phase = (r: number, s: number, k: number, pad: number, n: number) => {
    const k0 = (((r + pad) % s) + s) % s;
    const M = k0 < k ? Math.ceil((k - k0) / s) : 0;
    const lo = (r + pad - k0) / s - (M - 1);
    return { M, k0, lo, hi: lo + n + M - 2 };
  };
  const phases: Info[] = [];
  for (let r = 0; r < sh; r++) {
    const py = phase(r, sh, kh, info.padInfo.top, nH);
    for (let q = 0; q < sw; q++) {
      const px = phase(q, sw, kw, info.padInfo.left, nW);
      if (py.M === 0 || px.M === 0) {
        phases.push(keep(fill({ backend, attrs: { shape: [B, nH, nW, ci], value: 0, dtype: 'float32' } } as never)));
        continue;
      }
      // Wp[a, b, o, i] = W[k0y + s·(My−1−a), k0x + s·(Mx−1−b), i, o]: flipped, subsampled, Co → Ci.
      const f = phaseFilter(`${r},${q}`, (w) => {
        const wp = new Float32Array(py.M * px.M * co * ci);
        for (let a = 0; a < py.M; a++) {
          for (let b = 0; b < px.M; b++) {
            const src = ((py.k0 + sh * (py.M - 1 - a)) * kw + (px.k0 + sw * (px.M - 1 - b))) * ci * co;
            const dst = (a * px.M + b) * co * ci;
            for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) wp[dst + o * ci + i] = w[src + i * co + o];
          }
        }
        return backend.makeOutput([py.M, px.M, co, ci], 'float32', undefined, wp);
      });
      // dY rows lo..hi (columns likewise), zero-padded where they fall outside it.
      const [y0, y1] = [Math.max(py.lo, 0), Math.min(py.hi, Ho - 1)];
      const [x0, x1] = [Math.max(px.lo, 0), Math.min(px.hi, Wo - 1)];
      if (y1 < y0 || x1 < x0) {
        phases.push(keep(fill({ backend, attrs: { shape: [B, nH, nW, ci], value: 0, dtype: 'float32' } } as never)));
        continue;
      }
      const src = y0 === 0 && x0 === 0 && y1 === Ho - 1 && x1 === Wo - 1 ? dy
        : keep(slice({ inputs: { x: dy }, backend, attrs: { begin: [0, y0, x0, 0], size: [B, y1 - y0 + 1, x1 - x0 + 1, co] } }));
      phases.push(keep(conv({
        inputs: { x: src, filter: f }, backend,
        attrs: { strides: [1, 1], pad: [[0, 0], [y0 - py.lo, py.hi - y1], [x0 - px.lo, px.hi - x1], [0, 0]], dataFormat: 'NHWC', dilations: [1, 1] },
      })));
    }
  }
  let full: Info;
  if (phases.length === 1) {
    full = phases[0];
  } else {
    // Phases (r, q) side by side in channels → [B, n, m, sh, sw, Ci] → [B, n, sh, m, sw, Ci] → [B, n·sh, m·sw, Ci].
    const cat = keep(concat({ inputs: phases as unknown as Record<string, Info>, backend, attrs: { axis: 3 } }));
    const six = keep(reshape({ inputs: { x: cat }, backend, attrs: { shape: [B, nH, nW, sh, sw, ci] } }));
    const inter = keep(transpose({ inputs: { x: six }, backend, attrs: { perm: [0, 1, 3, 2, 4, 5] } }));
    full = keep(reshape({ inputs: { x: inter }, backend, attrs: { shape: [B, nH * sh, nW * sw, ci] } }));
  }
  let result: Info;
  if (nH * sh === H && nW * sw === W) {
    result = full;
    const i = temps.indexOf(full);
    if (i >= 0) temps.splice(i, 1);
  } else {
    result = slice({ inputs: { x: full }, backend, attrs: { begin: [0, 0, 0, 0], size: [B, H, W, ci] } });
  }
  for (const t of new Set(temps)) backend.disposeData(t.dataId);
  return result;
}
