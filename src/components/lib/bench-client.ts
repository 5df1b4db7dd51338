/**
 * Page side of the unlisted /bench/ page: runs one benchmark case in a FRESH worker (a backend
 * and its thread count are fixed per worker), then measures the page's memory if the browser can
 * (performance.measureUserAgentSpecificMemory, cross-origin isolated pages only). Exposed as
 * `window.__bench.run(args)` for `npm run bench` (Playwright) and used by the page's form.
 */
import { createPool } from '../../pool/pool.ts';
import type { BenchArgs, BenchResult, BenchTasks } from '../../contracts/bench.ts';

export type { BenchArgs, BenchResult };

export interface PageResult extends BenchResult {
  uaMemoryBytes: number | null;
  uaMemoryNote: string;
}

interface UAMemory {
  measureUserAgentSpecificMemory?: () => Promise<{ bytes: number }>;
}

async function uaMemory(): Promise<{ bytes: number | null; note: string }> {
  const perf = performance as Performance & UAMemory;
  if (typeof perf.measureUserAgentSpecificMemory !== 'function') return { bytes: null, note: 'measureUserAgentSpecificMemory is not available' };
  if (!globalThis.crossOriginIsolated) return { bytes: null, note: 'page not cross-origin isolated' };
  try {
    const r = await Promise.race([
      perf.measureUserAgentSpecificMemory(),
      new Promise<null>((res) => setTimeout(() => res(null), 15_000)),
    ]);
    return r ? { bytes: r.bytes, note: 'measureUserAgentSpecificMemory' } : { bytes: null, note: 'measureUserAgentSpecificMemory timed out' };
  } catch (e) {
    return { bytes: null, note: `measureUserAgentSpecificMemory failed: ${(e as Error).message}` };
  }
}

export async function runBench(args: BenchArgs, onProgress?: (s: string) => void, timeoutMs = 300_000): Promise<PageResult> {
  const pool = createPool<BenchTasks>({
    create: () => new Worker(new URL('../../workers/bench.worker.ts', import.meta.url), { type: 'module', name: 'bench' }),
    size: 1, name: 'bench', readyTimeoutMs: 60_000,
  });
  try {
    const r = await pool.run('run', args, {
      timeoutMs,
      onProgress: (p) => {
        console.log(`[bench] ${p}`); // the Playwright driver echoes these
        onProgress?.(p);
      },
    });
    // The worker is still alive (idle, weights disposed): its wasm heap / GPU buffers count.
    const mem = await uaMemory();
    return { ...r, uaMemoryBytes: mem.bytes, uaMemoryNote: mem.note };
  } finally {
    await pool.dispose();
  }
}

declare global {
  interface Window {
    __bench?: { run: typeof runBench; ready: true };
  }
}

export function installBenchGlobal(): void {
  window.__bench = { run: runBench, ready: true };
}
