// AssemblyScript source of a strided row copy for tfjs' wasm backend (src/core/fused/wasm-copy.ts):
// Slice, Concat and SplitV of 4-byte tensors as rows of contiguous elements. tfjs 4.22 runs them
// as a JavaScript loop with a subarray per row or a generic strided walk, ~1 GB/s on the U-Net's
// skip connections (3–11 ms per call at width 0.25, batch 32). Built by `npm run build:wasm`; like
// fused-norm.ts it imports the backend's memory and owns nothing in it.

/** rows × len 4-byte elements from src (rows srcStride elements apart) to dst (dstStride apart). */
export function copyRows(src: usize, srcStride: i32, dst: usize, dstStride: i32, rows: i32, len: i32): void {
  const sStep = <usize>srcStride << 2;
  const dStep = <usize>dstStride << 2;
  const bytes = <usize>len << 2;
  const vec = bytes & ~(<usize>15);
  for (let r = 0; r < rows; r++) {
    let o: usize = 0;
    for (; o < vec; o += 16) v128.store(dst + o, v128.load(src + o));
    for (; o < bytes; o += 4) store<u32>(dst + o, load<u32>(src + o));
    src += sStep;
    dst += dStep;
  }
}
