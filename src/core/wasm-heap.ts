/**
 * tfjs' wasm backend runs in 32-bit WebAssembly: its heap grows to at most 4 GiB − 64 KiB. A step
 * that needs more (e.g. training width 1 at batch 128: ~6 GB of live tensors) makes malloc return
 * 0 deep inside a kernel, which surfaces as "memory access out of bounds" or a TypeError from
 * tfjs' bookkeeping. These helpers say so in words.
 */
import * as tf from '@tensorflow/tfjs-core';

/** emscripten's getHeapMax() in tfjs-backend-wasm 4.22. */
export const WASM_HEAP_MAX = 4294901760;

/** The wasm backend's heap size in bytes, or null on another backend. */
export function wasmHeapBytes(): number | null {
  if (tf.getBackend() !== 'wasm') return null;
  const heap = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8;
  return heap ? heap.length : null;
}

const GiB = 2 ** 30;

/**
 * The error to report for `e`: when the wasm heap is at its limit and `e` is what an exhausted
 * heap throws, an Error that says so (the original as its cause); else `e` itself. After it the
 * backend is unusable: emscripten has aborted, so the process should start afresh.
 */
export function explainWasmHeapError(e: unknown): unknown {
  const heap = wasmHeapBytes();
  if (heap === null || heap < WASM_HEAP_MAX - 64 * 2 ** 20) return e;
  const msg = e instanceof Error ? e.message : String(e);
  if (!(e instanceof WebAssembly.RuntimeError) && !/memory access out of bounds|Aborted|Cannot read properties of undefined/.test(msg)) return e;
  return new Error(`out of wasm memory: this needs more than the ${(WASM_HEAP_MAX / GiB).toFixed(0)} GiB a 32-bit wasm heap can hold `
    + `(${(tf.memory().numBytes / GiB).toFixed(1)} GiB of tensors were live); use a smaller batch (${msg})`, { cause: e });
}

/**
 * Bytes a call at `batch` would hold at its peak, from one measured at a smaller batch of the
 * same kind and width (tensors scale with the batch; weights and optimizer state do not, so
 * this overestimates a little).
 */
export const projectedPeakBytes = (measured: { batch: number; peakBytes: number }, batch: number): number => (measured.peakBytes * batch) / measured.batch;

/**
 * Projected peaks above this do not fit: at the failure above the heap was full with 2.4 GiB of
 * tensors live (fragmentation, XNNPACK's workspaces and packed weights take the rest).
 */
export const WASM_PEAK_LIMIT = 2.25 * GiB;
