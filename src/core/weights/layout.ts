/**
 * PyTorch ⇄ tfjs parameter layouts (see model.ts). Names are identical on both sides; only the
 * axis order of conv, transposed-conv and linear weights differs.
 */
import type { ParamSpec } from '../model.ts';

/** Row-major transpose of `src` (shape `shape`) by `perm`. */
export function permute(src: Float32Array, shape: number[], perm: number[]): Float32Array {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]);
  const inStrides = new Array<number>(rank);
  inStrides[rank - 1] = 1;
  for (let i = rank - 2; i >= 0; i--) inStrides[i] = inStrides[i + 1] * shape[i + 1];
  const stridesOut = perm.map((p) => inStrides[p]); // input stride for each output axis
  const out = new Float32Array(src.length);
  const idx = new Array<number>(rank).fill(0);
  let off = 0;
  for (let o = 0; o < out.length; o++) {
    out[o] = src[off];
    for (let a = rank - 1; a >= 0; a--) {
      idx[a]++;
      off += stridesOut[a];
      if (idx[a] < outShape[a]) break;
      off -= stridesOut[a] * outShape[a];
      idx[a] = 0;
    }
  }
  return out;
}

// torch → tfjs permutations, per kind
const TO_TFJS: Record<ParamSpec['kind'], number[] | null> = {
  conv: [2, 3, 1, 0], // [out, in, kh, kw] → [kh, kw, in, out]
  convT: [2, 3, 1, 0], // [in, out, kh, kw] → [kh, kw, out, in]
  linear: [1, 0], // [out, in] → [in, out]
  vector: null,
  embedding: null,
};
const TO_TORCH: Record<ParamSpec['kind'], number[] | null> = {
  conv: [3, 2, 0, 1], // [kh, kw, in, out] → [out, in, kh, kw]
  convT: [3, 2, 0, 1], // [kh, kw, out, in] → [in, out, kh, kw]
  linear: [1, 0],
  vector: null,
  embedding: null,
};

export function torchToTfjs(spec: ParamSpec, data: Float32Array): Float32Array {
  const p = TO_TFJS[spec.kind];
  return p ? permute(data, spec.torchShape, p) : data;
}

export function tfjsToTorch(spec: ParamSpec, data: Float32Array): Float32Array {
  const p = TO_TORCH[spec.kind];
  return p ? permute(data, spec.shape, p) : data;
}
