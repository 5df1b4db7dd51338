/** The fused GroupNorm module (wasm/fused-norm.ts, built into fused-norm.wasm.ts); see wasm-module.ts. */
import { FUSED_NORM_WASM } from './fused-norm.wasm.ts';
import { instantiateOn } from './wasm-module.ts';

export interface FusedNormExports {
  groupNormForward(x: number, shift: number, gamma: number, beta: number, y: number, stats: number, scratch: number,
    B: number, HW: number, C: number, G: number, silu: number, eps: number): void;
  groupNormBackward(x: number, shift: number, gamma: number, beta: number, stats: number, dy: number,
    dx: number, dgamma: number, dbeta: number, dshift: number, scratch: number, B: number, HW: number, C: number, G: number, silu: number): void;
}

/** The module's exports over this memory (instantiated once per memory). */
export const fusedNormOn = (memory: WebAssembly.Memory): FusedNormExports => instantiateOn<FusedNormExports>(FUSED_NORM_WASM, memory);

