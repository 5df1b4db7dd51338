/**
 * The training lab on the built site: a few optimizer steps of the smallest network (width
 * 0.125, batch 8 / 4) on wasm and on WebGPU (SwiftShader in headless Chromium), both forced
 * through the lab's backend menu. Checks: the loss is finite and shown; pause keeps the exact
 * step and resume continues from it (no reset); a failed checkpoint save (storage quota) is
 * reported; a reload offers the saved checkpoint; the downloaded .zip loads in the CLI and gives
 * the same DDIM output as the page for one fixed starting noise; own images are validated; the
 * lab works under a sub-path; no console errors. Screenshots (idle, training, paused) go to /tmp.
 */
import { test, expect, type Page, type Locator } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { collectConsoleErrors } from './helpers.ts';
import { writeNpy, readNpy, nchwToNhwc, nhwcToNchw } from '../src/cli/npy.ts';
import { SUB_PORT } from '../playwright.config.ts';

const SHOTS = process.env.E2E_SHOTS ?? '/tmp';
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

async function openLab(page: Page, url = './'): Promise<Locator> {
  await page.goto(url);
  const lab = page.locator('training-lab');
  await lab.scrollIntoViewIfNeeded();
  await expect(lab.locator('[data-backend-label]')).not.toHaveText(/not started|starting/, { timeout: 90_000 });
  // Record every step the lab shows, to check that a resume never goes back.
  await lab.evaluate((el) => {
    const w = window as unknown as { __steps: number[] };
    w.__steps = [];
    new MutationObserver(() => {
      const s = Number((el as HTMLElement).dataset.step);
      if (Number.isFinite(s) && w.__steps.at(-1) !== s) w.__steps.push(s);
    }).observe(el, { attributes: true, attributeFilter: ['data-step'] });
  });
  return lab;
}

async function configure(lab: Locator, o: { backend: 'wasm' | 'webgpu'; batch: number; steps: number; sampleEvery: number }) {
  await lab.locator('select[name=backend]').selectOption(o.backend);
  await expect(lab.locator('[data-backend-label]')).toContainText(o.backend === 'wasm' ? 'wasm' : 'WebGPU', { timeout: 120_000 });
  // These runs test the trainer from scratch on the smallest network; fine-tuning has its own test.
  await lab.locator('select[name=init]').selectOption('scratch');
  await lab.locator('select[name=width]').selectOption('0.125');
  await lab.locator('select[name=batch]').selectOption(String(o.batch));
  await lab.locator('input[name=steps]').fill(String(o.steps));
  await lab.locator('input[name=sampleEvery]').fill(String(o.sampleEvery));
}

const step = (lab: Locator) => lab.evaluate((el) => Number((el as HTMLElement).dataset.step ?? 0));
const steps = (page: Page) => page.evaluate(() => (window as unknown as { __steps: number[] }).__steps.slice());

async function waitStep(lab: Locator, atLeast: number, timeout = 150_000) {
  await expect.poll(() => step(lab), { timeout, intervals: [250] }).toBeGreaterThanOrEqual(atLeast);
}

/** Pause, then check the lab stopped at one exact step and says so. */
async function pause(lab: Locator, timeout = 120_000): Promise<number> {
  await lab.locator('[data-action=pause]').click({ timeout: 20_000 });
  await expect(lab).toHaveAttribute('data-state', 'paused', { timeout });
  const at = await step(lab);
  await expect(lab.locator('[data-status]')).toContainText(`Paused at step ${at}`);
  // Every place that shows the step agrees (the line under the progress bar once lagged by one).
  await expect(lab.locator('[data-step-text]')).toHaveText(new RegExp(`^step ${at} of \\d+`));
  await expect(lab.locator('[data-stat=step]')).toContainText(`${at.toLocaleString('en-US')} /`);
  return at;
}

/** Resume and check the run continues from exactly `at` (never below it) to at least at + 1. */
async function resumeFrom(page: Page, lab: Locator, at: number, timeout = 150_000) {
  const before = (await steps(page)).length;
  await lab.locator('[data-action=resume]').click();
  await waitStep(lab, at + 1, timeout);
  const after = (await steps(page)).slice(before);
  expect(Math.min(...after), `steps shown after resuming at ${at}: ${after.join(', ')}`).toBeGreaterThanOrEqual(at);
  expect(after, 'the first optimizer step after resuming').toContain(at + 1);
}

function writeNoise(file: string, n: number, seed: number): Float32Array {
  // A fixed, seeded Gaussian-ish noise (sum of uniforms), NCHW [n, 3, 32, 32].
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const data = new Float32Array(n * 3 * 32 * 32);
  for (let i = 0; i < data.length; i++) data[i] = u() + u() + u() + u() - 2;
  writeNpy(file, { shape: [n, 3, 32, 32], data });
  return data;
}

/** Downloads the weights, runs `diffusion sample` on them and compares with the page's DDIM from the same noise. */
async function compareWithCli(page: Page, lab: Locator, tag: string) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `lab-${tag}-`));
  const [download] = await Promise.all([page.waitForEvent('download'), lab.locator('[data-action=download]').click()]);
  expect(download.suggestedFilename()).toMatch(/^simple-unet-lab-w0\.125-step\d+\.zip$/);
  const zip = path.join(tmp, download.suggestedFilename());
  await download.saveAs(zip);
  await expect(lab.locator('[data-out-status]')).toContainText('Downloaded');

  const n = 2;
  const ddimSteps = 4;
  const noiseFile = path.join(tmp, 'noise.npy');
  const nchw = writeNoise(noiseFile, n, 7);
  const nhwc = Array.from(nchwToNhwc(nchw, n, 3, 32, 32));
  const pageOut = await lab.evaluate(async (el, a) => {
    const lab = el as HTMLElement & { debugSample(noise: Float32Array, n: number, steps: number): Promise<Float32Array> };
    return Array.from(await lab.debugSample(new Float32Array(a.nhwc), a.n, a.steps));
  }, { nhwc, n, steps: ddimSteps });
  const outNpy = path.join(tmp, 'cli.npy');
  execFileSync(process.execPath, [path.join(ROOT, 'bin/diffusion.mjs'), 'sample', '--weights', zip, '--init-noise', noiseFile, '--out-npy', outNpy,
    '--out', path.join(tmp, 'cli.png'), '--sampler', 'ddim', '--steps', String(ddimSteps), '--eta', '0', '--backend', 'wasm'], { cwd: ROOT, stdio: 'pipe' });
  const cli = readNpy(outNpy);
  expect(cli.shape).toEqual([n, 3, 32, 32]);
  const pageNchw = nhwcToNchw(new Float32Array(pageOut), n, 32, 32, 3);
  let maxDiff = 0;
  for (let i = 0; i < pageNchw.length; i++) maxDiff = Math.max(maxDiff, Math.abs(pageNchw[i] - cli.data[i]));
  console.log(`[${tag}] page vs CLI DDIM (${ddimSteps} steps, ${n} images): max |diff| = ${maxDiff.toExponential(2)}`);
  expect(pageOut.every(Number.isFinite)).toBe(true);
  // Same backend (wasm): the same kernels, so the same numbers. Across backends (WebGPU in the
  // page, wasm in the CLI) float32 sums differ in order, and DDIM's first step from t = 999
  // divides by sqrt(ᾱ_999) ≈ 0.0064, so an ε difference of 1e-5 becomes ~2e-3 in the output.
  // The same amplification makes any real weight difference (one Adam step is ~1e-4 per weight) show far above that.
  expect(maxDiff).toBeLessThan(tag === 'wasm' ? 1e-4 : 1e-2);
  fs.rmSync(tmp, { recursive: true, force: true });
}

test.describe('training lab', () => {
  test.describe.configure({ mode: 'serial' });

  test('wasm: trains, pauses and resumes at the same step, reports a full storage, reloads, matches the CLI', async ({ page }) => {
    test.setTimeout(600_000);
    const errors = collectConsoleErrors(page);
    const lab = await openLab(page);
    await page.screenshot({ path: `${SHOTS}/training-lab-idle-page.png` });
    await lab.screenshot({ path: `${SHOTS}/training-lab-idle.png` });
    await configure(lab, { backend: 'wasm', batch: 8, steps: 60, sampleEvery: 3 });
    await expect(lab.locator('[data-slow-notice]')).toContainText('CPU');

    // The next checkpoint save will fail as if the storage quota were full (a test hook; set
    // before starting, since the worker runs one task at a time and training occupies it).
    await lab.evaluate((el) => (el as HTMLElement & { debugFailNextSave(): Promise<void> }).debugFailNextSave());
    await lab.locator('[data-action=start]').click();
    await waitStep(lab, 4);
    const loss = Number(await lab.getAttribute('data-loss'));
    expect(Number.isFinite(loss) && loss > 0 && loss < 10, `loss ${loss}`).toBe(true);
    await expect(lab.locator('[data-stat=loss]')).not.toHaveText('–');
    await expect(lab.locator('[data-stat=ips]')).not.toHaveText('–');
    await expect(lab.locator('[data-stat=mem]')).not.toHaveText('–');
    await expect.poll(() => lab.getAttribute('data-sample-step'), { timeout: 60_000 }).not.toBeNull();
    await lab.screenshot({ path: `${SHOTS}/training-lab-training.png` });
    const ips = await lab.getAttribute('data-img-per-sec');
    const mem = await lab.getAttribute('data-memory-bytes');
    const peak = await lab.getAttribute('data-peak-bytes');
    console.log(`[wasm] width 0.125 batch 8: ${ips} img/s, tf.memory ${mem} B, peak during a step ${peak} B`);

    // The save at this pause hits the (simulated) full storage: reported, and the run stays paused in memory.
    const first = await pause(lab);
    await expect(lab.locator('[data-error]')).toContainText('QuotaExceededError');
    await expect(lab.locator('[data-status]')).toContainText('not saved');
    await resumeFrom(page, lab, first);
    await expect(lab.locator('[data-error]')).toHaveText('');

    await waitStep(lab, first + 2);
    const second = await pause(lab);
    await expect(lab.locator('[data-status]')).toContainText('Checkpoint saved');
    await expect(lab.locator('[data-stat=saved]')).toContainText(`step ${second}`);
    await lab.screenshot({ path: `${SHOTS}/training-lab-paused.png` });

    // Hand the weights to the generation demo.
    await lab.locator('[data-action=use]').click();
    await expect(lab.locator('[data-out-status]')).toContainText('generation demo now offers');
    await expect(page.locator('generate-demo select[name=model]')).toHaveValue('lab');

    await compareWithCli(page, lab, 'wasm');
    errors.check();

    // A reload offers the checkpoint saved at the pause.
    await page.reload();
    const again = page.locator('training-lab');
    await again.scrollIntoViewIfNeeded();
    await expect(again.locator('[data-resume-offer]')).toBeVisible({ timeout: 60_000 });
    await expect(again.locator('[data-resume-text]')).toContainText(`Resume training from step ${second}`);
    await again.screenshot({ path: `${SHOTS}/training-lab-reload-offer.png` });
    // …and resuming it continues from that step.
    await again.evaluate((el) => {
      const w = window as unknown as { __steps: number[] };
      w.__steps = [];
      new MutationObserver(() => w.__steps.push(Number((el as HTMLElement).dataset.step))).observe(el, { attributes: true, attributeFilter: ['data-step'] });
    });
    await again.locator('[data-action=resume-saved]').click();
    await waitStep(again, second + 1);
    const seen = await steps(page);
    expect(Math.min(...seen.filter(Number.isFinite)), `steps after resuming the saved run: ${seen.join(', ')}`).toBeGreaterThanOrEqual(second);
    await again.locator('[data-action=stop]').click();
    await expect(again).toHaveAttribute('data-state', 'stopped', { timeout: 120_000 });
    errors.check();
  });

  test('wasm: hiding the page saves the running run at once, and a reload offers that step', async ({ page }) => {
    test.setTimeout(400_000);
    const errors = collectConsoleErrors(page);
    const lab = await openLab(page);
    await configure(lab, { backend: 'wasm', batch: 4, steps: 200, sampleEvery: 0 });
    await lab.locator('[data-action=start]').click();
    await waitStep(lab, 3);
    // What a tab switch, minimising or closing does (a headless page cannot really be hidden).
    await page.evaluate(() => {
      Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    // Saved well before the 100-step checkpoint (sampleEvery 0: nothing else slows the steps).
    await expect(lab.locator('[data-stat=saved]')).toContainText(/step \d+/, { timeout: 120_000 });
    const savedText = (await lab.locator('[data-stat=saved]').textContent()) ?? '';
    const saved = Number(/step ([\d,]+)/.exec(savedText)![1]!.replace(/,/g, ''));
    expect(saved).toBeGreaterThanOrEqual(3);
    expect(saved).toBeLessThan(100);
    errors.check();
    await page.reload();
    const again = page.locator('training-lab');
    await again.scrollIntoViewIfNeeded();
    await expect(again.locator('[data-resume-offer]')).toBeVisible({ timeout: 60_000 });
    await expect(again.locator('[data-resume-text]')).toContainText(/Resume training from step \d+/);
    const offered = Number(/from step ([\d,]+)/.exec((await again.locator('[data-resume-text]').textContent()) ?? '')![1]!.replace(/,/g, ''));
    expect(offered).toBeGreaterThanOrEqual(saved);
  });

  test('WebGPU (SwiftShader): trains a few steps, pause/resume keeps the step, matches the CLI', async ({ page }) => {
    // SwiftShader runs every WebGPU kernel on the CPU, and an optimizer step is ~2,000 small
    // dispatches plus a long first shader compilation: keep this to three or four steps.
    test.setTimeout(1_200_000);
    const errors = collectConsoleErrors(page);
    const lab = await openLab(page);
    await configure(lab, { backend: 'webgpu', batch: 4, steps: 30, sampleEvery: 0 });
    await expect(lab.locator('[data-backend-label]')).toContainText('SwiftShader');
    await expect(lab.locator('[data-slow-notice]')).toContainText('CPU emulation');
    await lab.locator('[data-action=start]').click();
    await expect(lab).toHaveAttribute('data-state', 'training', { timeout: 120_000 });
    // Pausing at once: the run stops after its first step.
    const at = await pause(lab, 600_000);
    expect(at).toBeGreaterThanOrEqual(1);
    const loss = Number(await lab.getAttribute('data-loss'));
    expect(Number.isFinite(loss) && loss > 0 && loss < 10, `loss ${loss}`).toBe(true);
    await expect(lab.locator('[data-stat=loss]')).not.toHaveText('–');
    await resumeFrom(page, lab, at, 600_000);
    const second = await pause(lab, 600_000);
    console.log(`[webgpu] width 0.125 batch 4: ${await lab.getAttribute('data-img-per-sec')} img/s, tf.memory ${await lab.getAttribute('data-memory-bytes')} B, peak ${await lab.getAttribute('data-peak-bytes')} B, paused at ${at} then ${second}`);
    await compareWithCli(page, lab, 'webgpu');
    errors.check();
  });

  test('own images: validated, centre-cropped, refused ones listed; trains under a sub-path', async ({ page }) => {
    test.setTimeout(300_000);
    const errors = collectConsoleErrors(page);
    const lab = await openLab(page, `http://localhost:${SUB_PORT}/sub/`);
    await lab.locator('input[name=data][value=own]').check();
    await expect(lab.locator('[data-own]')).toBeVisible();
    // Three real images made by the browser (different sizes and aspect ratios) and two bad files.
    const pngs = await page.evaluate(async () => {
      const make = async (w: number, h: number, hue: number) => {
        const c = new OffscreenCanvas(w, h);
        const g = c.getContext('2d')!;
        g.fillStyle = `hsl(${hue} 70% 50%)`;
        g.fillRect(0, 0, w, h);
        g.fillStyle = '#fff';
        g.fillRect(w / 4, h / 4, w / 2, h / 2);
        return Array.from(new Uint8Array(await (await c.convertToBlob({ type: 'image/png' })).arrayBuffer()));
      };
      return [await make(64, 64, 10), await make(200, 120, 140), await make(31, 77, 260)];
    });
    await lab.locator('[data-files]').setInputFiles([
      ...pngs.map((b, i) => ({ name: `img-${i}.png`, mimeType: 'image/png', buffer: Buffer.from(b) })),
      { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image') },
      { name: 'broken.png', mimeType: 'image/png', buffer: Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]) },
    ]);
    await expect(lab.locator('[data-own-status]')).toContainText('3 images accepted, 2 refused', { timeout: 60_000 });
    await expect(lab.locator('[data-refused-list] li')).toHaveCount(2);
    await expect(lab.locator('[data-refused-list]')).toContainText('notes.txt');
    await expect(lab.locator('[data-refused-list]')).toContainText('broken.png');
    await expect(lab.locator('[data-thumbs] canvas')).toHaveCount(3);
    await lab.locator('[data-refused] summary').click();
    await lab.screenshot({ path: `${SHOTS}/training-lab-own-images.png` });

    await configure(lab, { backend: 'wasm', batch: 4, steps: 20, sampleEvery: 0 });
    await lab.locator('[data-action=start]').click();
    await waitStep(lab, 2);
    await expect(lab.locator('[data-status]')).toContainText('your 3 images');
    await lab.locator('[data-action=stop]').click();
    await expect(lab).toHaveAttribute('data-state', 'stopped', { timeout: 120_000 });
    await expect(lab.locator('[data-action=download]')).toBeEnabled();
    errors.check();
  });
  test('wasm: fine-tunes the shipped small model on CIFAR-10, with its classes, and its samples are images from the start', async ({ page }) => {
    test.setTimeout(300_000);
    const errors = collectConsoleErrors(page);
    const lab = await openLab(page);
    await lab.locator('select[name=backend]').selectOption('wasm');
    await expect(lab.locator('[data-backend-label]')).toContainText('wasm', { timeout: 120_000 });
    await expect(lab.locator('select[name=init]')).toHaveValue('shipped');
    await expect(lab.locator('select[name=width]')).toBeDisabled();
    await lab.locator('select[name=batch]').selectOption('8');
    await lab.locator('input[name=steps]').fill('200');
    await lab.locator('input[name=sampleEvery]').fill('5');
    await lab.locator('[data-action=start]').click();
    await waitStep(lab, 6);
    await expect(lab.locator('[data-status]')).toContainText('width 0.25');
    await expect.poll(() => lab.getAttribute('data-sample-step'), { timeout: 60_000 }).not.toBeNull();
    // Samples from fine-tuned weights are smooth images, not the per-pixel noise of a fresh network.
    const hf = await lab.evaluate((el) => {
      let sum = 0;
      let n = 0;
      for (const c of el.querySelectorAll<HTMLCanvasElement>('[data-samples] canvas')) {
        const d = c.getContext('2d')!.getImageData(0, 0, 32, 32).data;
        for (let y = 0; y < 32; y++) for (let x = 1; x < 32; x++) {
          for (let ch = 0; ch < 3; ch++) sum += Math.abs(d[(y * 32 + x) * 4 + ch] - d[(y * 32 + x - 1) * 4 + ch]);
          n += 3;
        }
      }
      return sum / n;
    });
    console.log(`[wasm] fine-tune width 0.25 batch 8: ${await lab.getAttribute('data-img-per-sec')} img/s; sample neighbour difference ${hf.toFixed(1)} levels`);
    expect(hf, 'mean difference between neighbouring pixels of the samples (fresh networks draw noise at ~80)').toBeLessThan(40);
    await lab.screenshot({ path: `${SHOTS}/training-lab-finetune.png` });
    await pause(lab);
    errors.check();
  });
});
