/**
 * The fused GroupNorm module (wasm/fused-norm.ts, built into fused-norm.wasm.ts), instantiated
 * against the heap of tfjs' wasm backend, so its kernels read and write tensors where they lie.
 *
 * The module imports that WebAssembly.Memory and has no data segments, no globals and no
 * stack (test/fused-wasm.test.ts inspects the bytes), so it cannot clobber what emscripten keeps
 * there; it only touches the buffers whose addresses it is given. tfjs' single-threaded build
 * exports its memory (Module.asm.memory); the threaded build creates a shared one
 * (Module.wasmMemory), which needs the variant whose import is declared shared.
 */
import { FUSED_NORM_WASM_PLAIN, FUSED_NORM_WASM_SHARED } from './fused-norm.wasm.ts';

export interface FusedNormExports {
  groupNormForward(x: number, shift: number, gamma: number, beta: number, y: number, stats: number, scratch: number,
    B: number, HW: number, C: number, G: number, silu: number, eps: number): void;
  groupNormBackward(x: number, shift: number, gamma: number, beta: number, stats: number, dy: number,
    dx: number, dgamma: number, dbeta: number, dshift: number, scratch: number, B: number, HW: number, C: number, G: number, silu: number): void;
}

/** The parts of tfjs' emscripten Module this needs. */
export interface EmscriptenHeap {
  HEAPU8: Uint8Array;
  asm?: { memory?: WebAssembly.Memory };
  wasmMemory?: WebAssembly.Memory;
  _malloc(bytes: number): number;
}

function bytes(base64: string): Uint8Array<ArrayBuffer> {
  const s = atob(base64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** The backend's memory: the one whose buffer HEAPU8 views (null when it cannot be found). */
export function heapMemory(heap: EmscriptenHeap): WebAssembly.Memory | null {
  for (const m of [heap.wasmMemory, heap.asm?.memory]) if (m && m.buffer === heap.HEAPU8.buffer) return m;
  return null;
}

export function isSharedMemory(memory: WebAssembly.Memory): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
}

const instances = new WeakMap<WebAssembly.Memory, FusedNormExports>();

/**
 * The module's exports over this memory; synchronous (the module is ~3 kB, under the browsers'
 * limit for synchronous compilation). Throws when the engine lacks SIMD or the memory does not fit.
 */
export function fusedNormOn(memory: WebAssembly.Memory): FusedNormExports {
  let e = instances.get(memory);
  if (!e) {
    const module = new WebAssembly.Module(bytes(isSharedMemory(memory) ? FUSED_NORM_WASM_SHARED : FUSED_NORM_WASM_PLAIN));
    e = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as FusedNormExports;
    instances.set(memory, e);
  }
  return e;
}

/** The module's raw bytes (for inspection). */
export function fusedNormBytes(variant: 'plain' | 'shared'): Uint8Array<ArrayBuffer> {
  return bytes(variant === 'plain' ? FUSED_NORM_WASM_PLAIN : FUSED_NORM_WASM_SHARED);
}
