/**
 * Kernels tfjs 4.22's wasm backend lacks for training, registered from kernels it has.
 *
 * Conv2DBackpropFilter: the filter gradient of a convolution is itself a convolution.
 *   dW[kh, kw, ci, co] = Σ_{b,y,x} X[b, y·s + kh − pad, x·s + kw − pad, ci] · dY[b, y, x, co]
 * Swap the roles of batch and channels (X → [Ci, H, W, B], dY → [Ho, Wo, B, Co] as a filter)
 * and this is a forward convolution with dilation s and the forward padding, whose output
 * is [Ci, KH, KW, Co]; a transpose gives [KH, KW, Ci, Co]. XNNPACK then does the heavy work.
 */
import * as tf from '@tensorflow/tfjs-core';

type Info = tf.TensorInfo;
interface ConvAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

let registered = false;

/** Idempotent; call after the wasm backend is registered (it is a no-op for kernels wasm already has). */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  registered = true;
  if (!tf.getKernel('Conv2DBackpropFilter', 'wasm')) {
    tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc });
  }
}

function kernel(name: string) {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`wasm backend has no '${name}' kernel`);
  return k.kernelFunc as (args: { inputs: Record<string, Info>; backend: unknown; attrs?: Record<string, unknown> }) => Info;
}

function conv2DBackpropFilter(args: { inputs: { x: Info; dy: Info }; backend: { disposeData(id: object): void }; attrs: ConvAttrs }): Info {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
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
