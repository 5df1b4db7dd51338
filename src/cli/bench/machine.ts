/** What the benchmark ran on, and a rough theoretical FLOP peak for context. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { MachineInfo } from './types.ts';

export function machineInfo(): MachineInfo {
  let text = '';
  try {
    text = fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    /* not Linux */
  }
  const field = (name: string) => [...text.matchAll(new RegExp(`^${name}\\s*:\\s*(.*)$`, 'gm'))].map((m) => m[1].trim());
  const flags = new Set((field('flags')[0] ?? '').split(/\s+/));
  const cores = os.cpus().length || 1;
  const mhzList = field('cpu MHz').map(Number).filter((x) => x > 0);
  const mhz = mhzList.length ? Math.max(...mhzList) : (os.cpus()[0]?.speed ?? 0);
  const lanes = flags.has('avx512f') ? 16 : flags.has('avx2') || flags.has('avx') ? 8 : 4;
  const fma = flags.has('fma') ? 2 : 1;
  const simd = flags.has('avx512f') ? 'AVX-512' : flags.has('avx2') ? 'AVX2' : flags.has('avx') ? 'AVX' : 'SSE';
  const ghz = mhz / 1000;
  // 2 vector FP pipes per core is typical of current x86 (Zen, Skylake+); wasm SIMD is 128-bit
  // (4 lanes) and tfjs 4.22 has no relaxed-SIMD FMA, so a multiply and an add are 2 instructions.
  const native = cores * ghz * lanes * fma * 2;
  const wasm = cores * ghz * 4 * 2;
  return {
    cpuModel: field('model name')[0] ?? os.cpus()[0]?.model ?? 'unknown',
    cores,
    mhz,
    simd: `${simd}${flags.has('fma') ? '+FMA' : ''}`,
    peak: {
      nativeGflops: native,
      wasmGflops: wasm,
      formula: `${cores} cores × ${ghz.toFixed(2)} GHz × ${lanes} fp32 lanes (${simd}) × ${fma} (FMA) × 2 pipes = ${native.toFixed(0)} GFLOP/s native; `
        + `wasm SIMD128: ${cores} × ${ghz.toFixed(2)} × 4 lanes × 2 pipes (no FMA) = ${wasm.toFixed(0)} GFLOP/s (all cores; ${(wasm / cores).toFixed(0)} per thread)`,
    },
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    load: os.loadavg().map((x) => Math.round(x * 100) / 100),
    torch: null,
    chromium: null,
  };
}
