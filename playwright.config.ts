/**
 * E2E tests against the BUILT site served statically (scripts/serve.mjs), twice: at the root
 * (dist/) and under a sub-path (dist-sub/, built with SITE_BASE=/sub/). `npm run test:e2e`
 * expects both builds to exist (scripts/test-all.sh makes them).
 *
 * Browser: the system Chromium when present (CHROMIUM_PATH overrides), else Playwright's own.
 * --enable-unsafe-webgpu gives a SwiftShader (CPU) WebGPU adapter in headless Chromium, also
 * inside workers: slow (~3 s per full-width forward), so tests use the small model and few steps.
 */
import { defineConfig } from '@playwright/test';
import fs from 'node:fs';

const systemChromium = process.env.CHROMIUM_PATH ?? (fs.existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined);
export const PORT = 4400;
export const SUB_PORT = 4401;

export default defineConfig({
  testDir: 'e2e',
  timeout: 180_000,
  expect: { timeout: 60_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list'], ['json', { outputFile: 'test-results/e2e.json' }]],
  use: {
    baseURL: `http://localhost:${PORT}/`,
    viewport: { width: 1280, height: 900 },
    launchOptions: {
      executablePath: systemChromium,
      args: ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    },
  },
  webServer: [
    { command: `node scripts/serve.mjs dist --port ${PORT}`, url: `http://localhost:${PORT}/`, reuseExistingServer: !process.env.CI, timeout: 30_000 },
    { command: `node scripts/serve.mjs dist-sub --port ${SUB_PORT} --base /sub/`, url: `http://localhost:${SUB_PORT}/sub/`, reuseExistingServer: !process.env.CI, timeout: 30_000 },
  ],
});
