/**
 * Instantiating this project's AssemblyScript modules (wasm/*.ts, built by `npm run build:wasm` into
 * src/core/fused/*.wasm.ts) against the heap of tfjs' wasm backend, so their kernels read and write
 * tensors where they lie.
 *
 * Each module imports that WebAssembly.Memory and has no data segments, no globals and no stack
 * (test/fused-wasm.test.ts inspects the bytes), so it cannot clobber what emscripten keeps there;
 * it only touches the buffers whose addresses it is given. tfjs' single-threaded build exports its
 * memory (Module.asm.memory); the threaded build creates a shared one (Module.wasmMemory), which
 * needs the variant whose import is declared shared.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';

/** A module as built: base64 of the variant importing a plain memory and of the one importing a shared one. */
export interface WasmModuleSource {
  plain: string;
  shared: string;
}

/** The parts of tfjs' emscripten Module this needs. */
export interface EmscriptenHeap {
  HEAPU8: Uint8Array;
  asm?: { memory?: WebAssembly.Memory };
  wasmMemory?: WebAssembly.Memory;
  _malloc(bytes: number): number;
}

/** The parts of tfjs' wasm backend the kernels here use. */
export interface WasmBackendLike {
  wasm: EmscriptenHeap & { _free(ptr: number): void; tfjs?: { getThreadsCount(): number } };
  dataIdMap: { get(id: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
}

/** Where a tensor's data lies on the heap (0 for none: the kernels read 0 as "absent"). */
export const addressOf = (backend: WasmBackendLike, t: TensorInfo | undefined): number => (t ? backend.dataIdMap.get(t.dataId).memoryOffset : 0);

export function wasmBytes(base64: string): Uint8Array<ArrayBuffer> {
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

const instances = new WeakMap<WasmModuleSource, WeakMap<WebAssembly.Memory, unknown>>();

/**
 * The module's exports over this memory, instantiated once per memory; synchronous (the modules are
 * a few kB, under the browsers' limit for synchronous compilation). Throws when the engine lacks
 * SIMD or the memory does not fit.
 */
export function instantiateOn<T>(source: WasmModuleSource, memory: WebAssembly.Memory): T {
  let perMemory = instances.get(source);
  if (!perMemory) instances.set(source, (perMemory = new WeakMap()));
  let e = perMemory.get(memory) as T | undefined;
  if (!e) {
    const module = new WebAssembly.Module(wasmBytes(isSharedMemory(memory) ? source.shared : source.plain));
    e = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as T;
    perMemory.set(memory, e);
  }
  return e;
}
