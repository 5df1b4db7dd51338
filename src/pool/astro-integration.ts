/**
 * Astro integration for the worker pool.
 *
 *   // astro.config.mjs
 *   import { workerPool } from './src/pool/astro-integration.ts';
 *   export default defineConfig({ integrations: [workerPool({ crossOriginIsolation: true })] });
 *
 * - `vite.worker.format = 'es'`: module workers (`new Worker(new URL('./x.worker.ts',
 *   import.meta.url), { type: 'module' })`) are bundled as ES modules, which allows
 *   code-splitting and dynamic `import()` inside workers in `astro build` (Vite's default
 *   'iife' rejects code-splitting builds).
 * - `crossOriginIsolation: true` sends COOP/COEP on `astro dev` and `astro preview`, for
 *   everything (pages, assets and worker scripts: a worker under COEP needs the header too),
 *   so `SharedArrayBuffer`/wasm threads work and the pool can cancel synchronous loops through
 *   a shared flag. Static hosting must send the same two headers itself.
 */
import type { AstroIntegration } from 'astro';

export interface WorkerPoolIntegrationOptions {
  /** Add `Cross-Origin-Opener-Policy: same-origin` + `Cross-Origin-Embedder-Policy: require-corp`. */
  crossOriginIsolation?: boolean;
}

export const CROSS_ORIGIN_ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
} as const;

export function workerPool(options: WorkerPoolIntegrationOptions = {}): AstroIntegration {
  return {
    name: 'worker-pool',
    hooks: {
      'astro:config:setup': ({ updateConfig }) => {
        const headers = options.crossOriginIsolation ? { ...CROSS_ORIGIN_ISOLATION_HEADERS } : undefined;
        updateConfig({
          // Astro applies server.headers to rendered pages (dev) and to the static preview server.
          ...(headers ? { server: { headers } } : {}),
          vite: {
            worker: { format: 'es' },
            // Vite serves modules, assets and worker scripts in dev: they need the headers too.
            ...(headers ? { server: { headers }, preview: { headers } } : {}),
          },
        });
      },
    },
  };
}

export default workerPool;
