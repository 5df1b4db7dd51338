/**
 * The explainer demos (light worker, no tfjs): noise schedules, forward diffusion, the time
 * embedding heatmap and the loss curve. Pixels are read back numerically from the canvases;
 * screenshots of each demo go to $EXPLAINER_SHOTS (default /tmp) for a person to look at.
 */
import { test, expect, type Page, type Locator, type ConsoleMessage } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';

const SHOTS = process.env.EXPLAINER_SHOTS ?? '/tmp';
const SUB_URL = process.env.E2E_SUB_URL ?? 'http://localhost:4401/sub/';

/** Console errors and uncaught exceptions, except 404s for optional assets (weights that this build may lack). */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m: ConsoleMessage) => {
    if (m.type() !== 'error') return;
    const where = m.location()?.url ?? '';
    if (/Failed to load resource/.test(m.text()) && /\/weights\//.test(where)) return;
    errors.push(`${m.text()} (${where})`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return errors;
}

async function show(loc: Locator) {
  await loc.scrollIntoViewIfNeeded();
}

/** RGBA bytes of a canvas (by selector within a root element). */
async function pixels(loc: Locator): Promise<number[]> {
  return loc.evaluate((c: HTMLCanvasElement) => Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data));
}

/** Mean and standard deviation of the RGB values (alpha skipped). */
function stats(px: number[]) {
  const v = px.filter((_, i) => i % 4 !== 3);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  return { mean, std };
}
function meanAbsDiff(a: number[], b: number[]) {
  let s = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) if (i % 4 !== 3) (s += Math.abs(a[i] - b[i])), n++;
  return s / n;
}
function correlation(a: number[], b: number[]) {
  const x = a.filter((_, i) => i % 4 !== 3);
  const y = b.filter((_, i) => i % 4 !== 3);
  const mx = x.reduce((p, q) => p + q, 0) / x.length;
  const my = y.reduce((p, q) => p + q, 0) / y.length;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < x.length; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy || 1);
}
/** A coarse fingerprint of a big canvas (mean RGB over a 32×8 grid of blocks), computed in the page. */
async function signature(loc: Locator): Promise<number[]> {
  return loc.evaluate((c: HTMLCanvasElement) => {
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const GX = 32;
    const GY = 8;
    const sum = new Float64Array(GX * GY * 4);
    for (let y = 0; y < c.height; y++) {
      const by = Math.min(GY - 1, Math.floor((y / c.height) * GY));
      for (let x = 0; x < c.width; x++) {
        const bx = Math.min(GX - 1, Math.floor((x / c.width) * GX));
        const q = (y * c.width + x) * 4;
        const k = (by * GX + bx) * 4;
        sum[k] += d[q];
        sum[k + 1] += d[q + 1];
        sum[k + 2] += d[q + 2];
        sum[k + 3] += 1;
      }
    }
    const out: number[] = [];
    for (let k = 0; k < sum.length; k += 4) out.push(sum[k] / sum[k + 3], sum[k + 1] / sum[k + 3], sum[k + 2] / sum[k + 3], 255);
    return out;
  });
}

/** Share of pixels that are not (near) white: a blank chart canvas scores ~0. */
async function inkShare(loc: Locator): Promise<number> {
  return loc.evaluate((c: HTMLCanvasElement) => {
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let ink = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] < 235 || d[i + 1] < 235 || d[i + 2] < 235)) ink++;
    return ink / (d.length / 4);
  });
}

async function dataAvailable(page: Page): Promise<boolean> {
  const r = await page.request.get('data/cifar/manifest.json');
  return r.ok() && (await r.json()).available === true;
}

/** Waits until the forward demo has drawn the state whose key matches. */
async function rendered(demo: Locator, re: RegExp) {
  await expect(demo).toHaveAttribute('data-rendered', re, { timeout: 20_000 });
}

/** A PNG made in the page: red left half, blue right half, 64×48 (landscape, to test the centre crop). */
async function makePng(page: Page): Promise<Buffer> {
  const b64 = await page.evaluate(() => {
    const c = document.createElement('canvas');
    c.width = 64;
    c.height = 48;
    const g = c.getContext('2d')!;
    g.fillStyle = '#e01010';
    g.fillRect(0, 0, 32, 48);
    g.fillStyle = '#1030e0';
    g.fillRect(32, 0, 32, 48);
    return c.toDataURL('image/png').split(',')[1];
  });
  return Buffer.from(b64, 'base64');
}

test.describe('explainer demos', () => {
  test('forward diffusion: slider, gallery, own image, refusal, keyboard', async ({ page }) => {
    const errors = watchErrors(page);
    await page.goto('./');
    const haveData = await dataAvailable(page);
    const demo = page.locator('forward-demo');
    await show(demo);
    await rendered(demo, haveData ? /^gallery:0\|/ : /^synthetic\|/);
    if (!haveData) await expect(demo.locator('.gallery-note')).toContainText('CIFAR-10');

    const slider = demo.locator('input.t');
    const x0 = demo.locator('canvas.x0');
    const xt = demo.locator('canvas.xt');

    // t = 0: x_t is the image (noise weight 0.01).
    await slider.fill('0');
    await rendered(demo, /\|0\|1\|linear$/);
    const clean = await pixels(x0);
    const at0 = await pixels(xt);
    expect(meanAbsDiff(clean, at0)).toBeLessThan(3);
    await expect(demo.locator('output.abar')).toHaveText('0.9999');

    // t = 999: x_t is nearly pure Gaussian noise, clipped to [0, 255] around 127.5
    // (for N(0,1) clipped at ±1: std ≈ 0.72 × 127.5 ≈ 92) and unrelated to the image.
    await slider.fill('999');
    await rendered(demo, /\|999\|1\|linear$/);
    const at999 = await pixels(xt);
    const s = stats(at999);
    expect(s.mean).toBeGreaterThan(115);
    expect(s.mean).toBeLessThan(140);
    expect(s.std).toBeGreaterThan(82);
    expect(s.std).toBeLessThan(100);
    expect(Math.abs(correlation(clean, at999))).toBeLessThan(0.1);
    expect(meanAbsDiff(at999, await pixels(demo.locator('canvas.eps')))).toBeLessThan(2); // x_999 ≈ ε

    // The strip: t = 0 ≈ the image, later frames further from it.
    const strip = demo.locator('.strip canvas');
    await expect(strip).toHaveCount(6);
    expect(meanAbsDiff(clean, await pixels(strip.nth(0)))).toBeLessThan(3);
    const d2 = meanAbsDiff(clean, await pixels(strip.nth(2)));
    const d5 = meanAbsDiff(clean, await pixels(strip.nth(5)));
    expect(d2).toBeGreaterThan(5);
    expect(d5).toBeGreaterThan(d2);

    // Keyboard: the slider.
    await slider.focus();
    await page.keyboard.press('Home');
    await rendered(demo, /\|0\|1\|linear$/);
    await page.keyboard.press('ArrowRight');
    await rendered(demo, /\|1\|1\|linear$/);
    await page.keyboard.press('End');
    await rendered(demo, /\|999\|1\|linear$/);
    await slider.fill('250');
    await rendered(demo, /\|250\|1\|linear$/);

    if (haveData) {
      // Choosing another gallery image changes the output.
      const before = await pixels(xt);
      await demo.locator('.gallery button').nth(5).click();
      await rendered(demo, /^gallery:5\|250\|/);
      await expect(demo.locator('.gallery button').nth(5)).toHaveAttribute('aria-checked', 'true');
      expect(meanAbsDiff(before, await pixels(xt))).toBeGreaterThan(5);
      // Keyboard: the gallery is a radio group (arrows move the selection).
      await demo.locator('.gallery button[aria-checked="true"]').focus();
      await page.keyboard.press('ArrowRight');
      await rendered(demo, /^gallery:6\|250\|/);
      await expect(demo.locator('.gallery button').nth(6)).toBeFocused();
      await page.keyboard.press('ArrowDown');
      const cols = await demo.locator('.gallery').evaluate((g) => {
        const b = Array.from(g.querySelectorAll('button'));
        const k = b.findIndex((x) => x.offsetTop !== b[0].offsetTop);
        return k;
      });
      await rendered(demo, new RegExp(`^gallery:${6 + cols}\\|`));
      await page.keyboard.press('Home');
      await rendered(demo, /^gallery:0\|/);
    }
    await demo.screenshot({ path: `${SHOTS}/explainers-forward.png` });

    // Your own image: a 64×48 PNG, centre-cropped to 48×48 (red left half, blue right half).
    await demo.locator('input.file').setInputFiles({ name: 'mine.png', mimeType: 'image/png', buffer: await makePng(page) });
    await rendered(demo, /^file:mine\.png\|250\|/);
    await expect(demo.locator('.status')).toContainText('64×48');
    const mine = await pixels(x0);
    const at = (x: number, y: number) => mine.slice((y * 32 + x) * 4, (y * 32 + x) * 4 + 3);
    const left = at(4, 16);
    const right = at(27, 16);
    expect(left[0]).toBeGreaterThan(180);
    expect(left[2]).toBeLessThan(60);
    expect(right[2]).toBeGreaterThan(180);
    expect(right[0]).toBeLessThan(60);
    if (haveData) await expect(demo.locator('.gallery button[aria-checked="true"]')).toHaveCount(0);

    // Dropping a file onto the figure works too (a real drop event carrying a File).
    const png = (await makePng(page)).toString('base64');
    await demo.locator('.drop').evaluate((el, b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
      el.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, png);
    await rendered(demo, /^file:dropped\.png\|250\|/);

    // Refusals: an empty file, a text file, and a "PNG" that is not one. The previous image stays.
    await demo.locator('input.file').setInputFiles({ name: 'empty.png', mimeType: 'image/png', buffer: Buffer.alloc(0) });
    await expect(demo.getByRole('alert')).toContainText('empty');
    await demo.locator('input.file').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image') });
    await expect(demo.getByRole('alert')).toContainText('not an image');
    await demo.locator('input.file').setInputFiles({ name: 'broken.png', mimeType: 'image/png', buffer: Buffer.from('definitely not a PNG') });
    await expect(demo.getByRole('alert')).toContainText('could not be decoded');
    await expect(demo).toHaveAttribute('data-rendered', /^file:dropped\.png\|/);
    await demo.screenshot({ path: `${SHOTS}/explainers-forward-own.png` });
    expect(errors).toEqual([]);
  });

  test('noise schedules: charts render, quantity and log axis switch, slider readout', async ({ page }) => {
    const errors = watchErrors(page);
    await page.goto('./');
    const demo = page.locator('schedule-demo');
    await show(demo);
    const root = demo.locator('.uplot');
    await expect(root).toHaveAttribute('data-quantity', 'alphaBar', { timeout: 20_000 });
    await expect(root).toHaveAttribute('data-log', 'false');
    const canvas = demo.locator('.uplot canvas');
    expect(await inkShare(canvas)).toBeGreaterThan(0.005);
    const alphaPx = await signature(canvas);

    await demo.getByLabel('SNR', { exact: false }).check();
    await expect(demo.locator('.uplot')).toHaveAttribute('data-quantity', 'snr');
    await expect(demo.locator('.uplot')).toHaveAttribute('data-log', 'true');
    await expect(demo.locator('input.log')).toBeChecked();
    const snrLog = await signature(demo.locator('.uplot canvas'));
    await demo.screenshot({ path: `${SHOTS}/explainers-schedule-snr.png` });
    expect(meanAbsDiff(alphaPx, snrLog)).toBeGreaterThan(0.2);
    // The log axis has decade labels over many orders of magnitude.
    await expect(demo.locator('.uplot')).toBeVisible();

    await demo.locator('input.log').uncheck();
    await expect(demo.locator('.uplot')).toHaveAttribute('data-log', 'false');
    expect(meanAbsDiff(snrLog, await signature(demo.locator('.uplot canvas')))).toBeGreaterThan(0.2);
    await demo.locator('input.log').check();
    await expect(demo.locator('.uplot')).toHaveAttribute('data-log', 'true');

    // Keyboard readout: the t slider.
    const slider = demo.locator('input.t');
    await slider.focus();
    await page.keyboard.press('End');
    await expect(demo.locator('output.readout')).toContainText('t = 999');
    await page.keyboard.press('Home');
    await expect(demo.locator('output.readout')).toContainText('t = 0: SNR linear 9999');
    // Keyboard: the quantity radios.
    await demo.getByLabel('SNR', { exact: false }).focus();
    await page.keyboard.press('ArrowLeft');
    await expect(demo.locator('.uplot')).toHaveAttribute('data-quantity', 'alphaBar');
    // Hover: the legend shows both curves at the cursor.
    const over = demo.locator('.u-over');
    const box = (await over.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await expect(demo.locator('output.readout')).toContainText(/t = 4\d\d|t = 5\d\d/);
    await demo.screenshot({ path: `${SHOTS}/explainers-schedule.png` });
    expect(errors).toEqual([]);
  });

  test('time embedding heatmap renders; hover and keys read values', async ({ page }) => {
    const errors = watchErrors(page);
    await page.goto('./');
    const demo = page.locator('time-embedding-demo');
    await show(demo);
    await expect(demo).toHaveAttribute('data-ready', 'true', { timeout: 20_000 });
    const canvas = demo.locator('canvas.heat');
    const colours = await canvas.evaluate((c: HTMLCanvasElement) => {
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let red = 0;
      let blue = 0;
      for (let i = 0; i < d.length; i += 4) {
        if (d[i] > 150 && d[i + 2] < 110) red++;
        if (d[i + 2] > 150 && d[i] < 110) blue++;
      }
      return { red: red / (d.length / 4), blue: blue / (d.length / 4) };
    });
    expect(colours.red).toBeGreaterThan(0.05);
    expect(colours.blue).toBeGreaterThan(0.05);

    const box = (await canvas.boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.5);
    await expect(demo.locator('output.readout')).toContainText(/t = \d+, dimension \d+ \((sin|cos)/);

    await page.mouse.move(1, 1); // leaving the heatmap clears the cross-hair
    await canvas.focus();
    await page.keyboard.press('ArrowRight'); // first key: cross-hair at t = 0, dim 0
    await expect(demo.locator('output.readout')).toContainText('t = 0, dimension 0 (sin');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Shift+ArrowDown');
    await expect(demo.locator('output.readout')).toContainText('t = 10, dimension 1 (sin');
    await demo.getByLabel('the first 100').check();
    await expect(demo.locator('output.readout')).toContainText('t = 10, dimension 1');
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.4);
    await demo.screenshot({ path: `${SHOTS}/explainers-embedding.png` });
    expect(errors).toEqual([]);
  });

  test('loss curve renders, or says the weights are missing', async ({ page }) => {
    const errors = watchErrors(page);
    await page.goto('./');
    const demo = page.locator('loss-curve');
    await show(demo);
    await expect(demo).toHaveAttribute('data-state', /ready|missing/, { timeout: 20_000 });
    if ((await demo.getAttribute('data-state')) === 'ready') {
      expect(await inkShare(demo.locator('.uplot canvas'))).toBeGreaterThan(0.005);
      await expect(demo.locator('.caption')).toContainText('steps');
    } else {
      await expect(demo.locator('.missing')).toContainText('weights');
    }
    await demo.screenshot({ path: `${SHOTS}/explainers-loss.png` });
    expect(errors).toEqual([]);
  });

  test('loss curve with a known record: chart, caption, x axis switch', async ({ page }) => {
    const errors = watchErrors(page);
    const losses = Array.from({ length: 3000 }, (_, i) => 0.03 + 0.12 * Math.exp(-i / 400) + 0.02 * Math.abs(Math.sin(i * 12.9898)));
    const training = {
      steps: 3000, imagesSeen: 384000, epochs: 7.68, batchSize: 128, finalLoss: losses[2999], bestLoss: Math.min(...losses),
      wallTimeS: 1234, hardware: 'Test GPU', command: 'diffusion train', lossCurve: 'loss.json',
    };
    await page.route('**/weights/simple-unet-small/weights.json', (r) =>
      r.fulfill({ json: { format: 'simple-unet-weights', formatVersion: 1, layout: 'tfjs', weightsKind: 'ema', modelConfig: { width: 0.25, timeEmbDim: 128, dropout: 0.1, groups: 8 }, training, weightsManifest: [] } }),
    );
    await page.route('**/weights/simple-unet-small/loss.json', (r) => r.fulfill({ json: { batchSize: 128, losses } }));
    await page.goto('./');
    const demo = page.locator('loss-curve');
    await show(demo);
    await expect(demo).toHaveAttribute('data-state', 'ready', { timeout: 20_000 });
    await expect(demo.locator('.caption')).toContainText('3,000 steps');
    await expect(demo.locator('.caption')).toContainText('384,000 images');
    await expect(demo.locator('.caption')).toContainText('21 min');
    const canvas = demo.locator('.uplot canvas');
    expect(await inkShare(canvas)).toBeGreaterThan(0.01);
    const a = await signature(canvas);
    await demo.getByLabel('epochs').check();
    await expect(demo.locator('.uplot')).toHaveAttribute('data-x', 'epochs');
    expect(meanAbsDiff(a, await signature(demo.locator('.uplot canvas')))).toBeGreaterThan(0.05);
    await demo.screenshot({ path: `${SHOTS}/explainers-loss-known.png` });
    expect(errors).toEqual([]);
  });

  test('the loaded demos pass axe (WCAG 2 A/AA)', async ({ page }) => {
    await page.goto('./');
    const forward = page.locator('forward-demo');
    await show(forward);
    await expect(forward).toHaveAttribute('data-rendered', /\|/, { timeout: 20_000 });
    const sched = page.locator('schedule-demo');
    await show(sched);
    await expect(sched.locator('.uplot')).toHaveAttribute('data-quantity', /./, { timeout: 20_000 });
    const emb = page.locator('time-embedding-demo');
    await show(emb);
    await expect(emb).toHaveAttribute('data-ready', 'true', { timeout: 20_000 });
    const loss = page.locator('loss-curve');
    await show(loss);
    await expect(loss).toHaveAttribute('data-state', /ready|missing/, { timeout: 20_000 });
    const r = await new AxeBuilder({ page })
      .include('forward-demo')
      .include('schedule-demo')
      .include('time-embedding-demo')
      .include('loss-curve')
      .withTags(['wcag2a', 'wcag2aa'])
      .analyze();
    expect(r.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`)).toEqual([]);
  });

  test('under a sub-path, the light worker finds the data', async ({ page }) => {
    const errors = watchErrors(page);
    await page.goto(SUB_URL);
    const haveData = await page.request
      .get(new URL('data/cifar/manifest.json', SUB_URL).href)
      .then(async (r) => r.ok() && (await r.json()).available === true);
    const demo = page.locator('forward-demo');
    await show(demo);
    await rendered(demo, haveData ? /^gallery:0\|/ : /^synthetic\|/);
    const sched = page.locator('schedule-demo');
    await show(sched);
    await expect(sched.locator('.uplot')).toHaveAttribute('data-quantity', 'alphaBar', { timeout: 20_000 });
    expect(errors).toEqual([]);
  });
});
