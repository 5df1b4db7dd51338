// @ts-check
import { defineConfig, passthroughImageService } from 'astro/config';
import mdx from '@astrojs/mdx';
import remarkMath from 'remark-math';
import rehypeKatex from 'rehype-katex';
import { workerPool } from './src/pool/astro-integration.ts';
import rehypeBaseLinks from './src/markdown/rehype-base-links.mjs';

// SITE_BASE deploys the static site under a sub-path (e.g. SITE_BASE=/diffusion/ npm run build).
const base = process.env.SITE_BASE ?? '/';

export default defineConfig({
  base,
  outDir: process.env.SITE_OUT_DIR ?? './dist',
  trailingSlash: 'ignore',
  output: 'static',
  // No image optimisation: the article's figures are canvases and committed PNGs; this keeps
  // sharp (a native download) out of the build.
  image: { service: passthroughImageService() },
  integrations: [mdx(), workerPool({ crossOriginIsolation: true })],
  markdown: {
    remarkPlugins: [remarkMath],
    rehypePlugins: [rehypeKatex, [rehypeBaseLinks, { base }]],
    shikiConfig: { themes: { light: 'github-light-high-contrast', dark: 'github-dark-high-contrast' } },
  },
  vite: {
    // Quiet builds: warnings and errors only (Vite would list every chunk of every worker bundle);
    // BUILD_VERBOSE=1 brings the lists back.
    logLevel: process.env.BUILD_VERBOSE ? 'info' : 'warn',
    build: { chunkSizeWarningLimit: 2000 },
    optimizeDeps: { exclude: ['@tensorflow/tfjs-backend-wasm'] },
  },
});
