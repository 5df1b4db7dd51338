/**
 * The backend a worker runs tfjs on, as the page asks for it and as the worker reports it.
 * Shared by every tfjs worker's contract; no tfjs here (see src/workers/services/backend.ts for the choosing).
 */
export type BackendChoice = 'auto' | 'webgpu' | 'webgl' | 'wasm';
export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'webgpu', 'webgl', 'wasm'];

export interface BackendInfo {
  backend: BackendName;
  /** Short text for the UI, e.g. "wasm (2 threads)" or "WebGPU (NVIDIA ampere)". */
  label: string;
  /** Why this backend: the automatic choice, the reader's, or a fallback (and from what). */
  reason: string;
  /** What the reader asked for. */
  requested: BackendChoice;
  /** True when the requested backend could not be used. */
  fallback: boolean;
  /** GPU adapter / renderer description, when there is one. */
  adapter?: string;
  /** True when that GPU is a CPU emulation (SwiftShader, llvmpipe, WebGPU fallback adapter). */
  software?: boolean;
  /** wasm threads in use. */
  threads?: number;
  /** What the wasm backend detected (SIMD, multithreading); fusedGroupNorm: the fused GroupNorm + SiLU kernels run (src/core/fused/), false = tfjs ops. */
  wasmFeatures?: { simd: boolean; threads: boolean; fusedGroupNorm: boolean };
}
