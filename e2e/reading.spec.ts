/**
 * The reader's page: every page fits a phone (390 px) and a laptop (1280 px) without sideways
 * scrolling, axe is clean in the light and the dark colour scheme, the table of contents marks
 * the section in view, code excerpts copy (and show the PyTorch copy's real lines), and a link
 * carrying the generator's settings reproduces the golden samples.
 */
import { test, expect, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { goldenSamples, GOLDENS, type GoldenFile } from '../src/core/golden.ts';
import { collectConsoleErrors } from './helpers.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const SHOTS = process.env.E2E_SHOTS ?? '/tmp';
const DOCS = fs.readdirSync(path.join(ROOT, 'src', 'content', 'docs')).filter((f) => f.endsWith('.mdx')).map((f) => `/docs/${f.replace(/\.mdx$/, '')}/`);
const PAGES = ['/', '/docs/', ...DOCS, '/bench/', '/404.html'];

async function sideways(page: Page): Promise<{ scroll: number; client: number; culprits: string[] }> {
  return page.evaluate(() => {
    const W = document.documentElement.clientWidth;
    const culprits: string[] = [];
    for (const el of document.querySelectorAll('body *')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.right <= W + 1) continue;
      // Only elements not inside a box that scrolls or clips on its own.
      let a = el.parentElement;
      let contained = false;
      while (a && a !== document.body) {
        if (getComputedStyle(a).overflowX !== 'visible') {
          contained = true;
          break;
        }
        a = a.parentElement;
      }
      if (!contained && culprits.length < 8) culprits.push(`${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : ''} (right edge ${Math.round(r.right)} px)`);
    }
    return { scroll: document.documentElement.scrollWidth, client: W, culprits };
  });
}

for (const width of [390, 1280]) {
  test(`no page scrolls sideways at ${width} px`, async ({ page }) => {
    test.setTimeout(240_000);
    await page.setViewportSize({ width, height: 860 });
    for (const p of PAGES) {
      await page.goto(p);
      const s = await sideways(page);
      expect(s.scroll, `${p} at ${width} px is ${s.scroll} px wide: ${s.culprits.join(', ')}`).toBeLessThanOrEqual(s.client);
    }
    await page.goto('/');
    await page.screenshot({ path: `${SHOTS}/reading-${width}.png` });
  });
}

for (const scheme of ['light', 'dark'] as const) {
  test(`axe (WCAG 2 A/AA) is clean on every page in the ${scheme} colour scheme`, async ({ page }) => {
    test.setTimeout(400_000);
    await page.emulateMedia({ colorScheme: scheme });
    for (const p of PAGES) {
      await page.goto(p);
      expect(await page.evaluate(() => matchMedia('(prefers-color-scheme: dark)').matches)).toBe(scheme === 'dark');
      const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze();
      const summary = result.violations.map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.slice(0, 5).map((n) => n.target.join(' ')).join('\n    ')}`);
      expect(summary, `axe violations on ${p} (${scheme})`).toEqual([]);
    }
    // Dark really is dark: the page background and the text swap.
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const lum = Number(/\d+/.exec(bg)![0]);
    if (scheme === 'dark') expect(lum, bg).toBeLessThan(60);
    else expect(lum, bg).toBeGreaterThan(200);
  });
}

test('the contents stay in view on a wide screen and mark the section being read', async ({ page }) => {
  const errors = collectConsoleErrors(page);
  await page.setViewportSize({ width: 1440, height: 900 });
  await page.goto('/');
  const toc = page.locator('article nav.toc');
  await expect(toc.locator('details')).toHaveAttribute('open', '');
  const links = toc.locator('a[data-toc-link]');
  const slugs = await links.evaluateAll((as) => as.map((a) => (a as HTMLElement).dataset.tocLink!));
  expect(slugs.length).toBeGreaterThanOrEqual(8);
  for (const slug of [slugs[2]!, slugs[5]!, slugs.at(-2)!]) {
    await page.locator(`[id="${slug}"]`).evaluate((h) => h.scrollIntoView({ block: 'start' }));
    await expect(toc.locator(`a[data-toc-link="${slug}"]`)).toHaveAttribute('aria-current', 'location');
    await expect(toc.locator('a[aria-current]')).toHaveCount(1);
    // Fixed beside the text: inside the window wherever the page is scrolled, and not over the text column.
    const box = (await toc.boundingBox())!;
    expect(box.y).toBeGreaterThanOrEqual(0);
    expect(box.y).toBeLessThan(200);
    const text = (await page.locator('article > p').first().boundingBox())!;
    expect(box.x + box.width).toBeLessThanOrEqual(text.x);
  }
  await page.screenshot({ path: `${SHOTS}/reading-toc-1440.png` });
  // On a phone it is an ordinary box where the article puts it.
  await page.setViewportSize({ width: 390, height: 860 });
  expect(await toc.evaluate((e) => getComputedStyle(e).position)).toBe('static');
  errors.check();
});

test('code excerpts: the copy button copies the code; the PyTorch copy beside it is the real file', async ({ page, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await page.goto('/');
  const fig = page.locator('figure.source-excerpt').first();
  const code = (await fig.locator('pre').textContent())!;
  await fig.locator('button[data-copy]').click();
  await expect(fig.locator('button[data-copy]')).toHaveText('Copied');
  expect((await page.evaluate(() => navigator.clipboard.readText())).trim()).toBe(code.trim());

  const torch = page.locator('figure.source-excerpt-torch');
  expect(await torch.count()).toBeGreaterThanOrEqual(2);
  for (let i = 0; i < (await torch.count()); i++) {
    const t = torch.nth(i);
    const file = (await t.getAttribute('data-file'))!;
    expect(file).toMatch(/^scripts\/torch\/.+\.py$/);
    const start = Number(await t.getAttribute('data-start-line'));
    const end = Number(await t.getAttribute('data-end-line'));
    const lines = fs.readFileSync(path.join(ROOT, file), 'utf8').split('\n').slice(start - 1, end);
    const cut = Math.min(...lines.filter((l) => l.trim()).map((l) => /^ */.exec(l)![0].length));
    expect((await t.locator('pre').textContent())!.trimEnd()).toBe(lines.map((l) => l.slice(cut).trimEnd()).join('\n'));
    await expect(t.locator('figcaption')).toContainText('PyTorch');
  }
  await torch.nth(0).locator('button[data-copy]').click();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toContain('def ');
});

test('a link with the generator\'s settings reproduces the golden samples, and changes go back to the address', async ({ page }) => {
  test.setTimeout(240_000);
  const errors = collectConsoleErrors(page);
  const golden = JSON.parse(fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'golden', GOLDENS.small.file), 'utf8')) as GoldenFile;
  const g = golden.settings as GoldenFile['settings'] & { labels?: unknown; guidance?: number };
  const q = new URLSearchParams({ model: 'small', sampler: g.sampler, steps: String(g.steps), eta: String(g.eta ?? 0), seed: String(g.seed), n: String(g.n) });
  if (g.labels) q.set('class', 'mixed');
  if (g.guidance !== undefined) q.set('guidance', String(g.guidance));
  await page.goto(`/?${q}`);
  const demo = page.locator('generate-demo');
  await demo.scrollIntoViewIfNeeded();
  await expect(demo.locator('select[name=sampler]')).toHaveValue(g.sampler);
  await expect(demo.locator('input[name=steps]')).toHaveValue(String(g.steps));
  await expect(demo.locator('input[name=seed]')).toHaveValue(String(g.seed));
  await expect(demo.locator('select[name=n]')).toHaveValue(String(g.n));
  await expect(demo.locator('input[name=eta]')).toHaveValue(String(g.eta ?? 0));
  // The backend is the reader's machine, not part of the link: wasm here, as the golden tests use.
  await demo.locator('select[name=backend]').selectOption('wasm');
  await expect(demo.locator('[data-backend-label]')).toContainText('wasm', { timeout: 60_000 });
  await demo.locator('button[data-action=generate]').click();
  await expect(demo).toHaveAttribute('data-state', 'done', { timeout: 150_000 });

  const want = goldenSamples(golden);
  const got = await demo.evaluate((root) => [...root.querySelectorAll<HTMLCanvasElement>('[data-grid=xt] canvas')]
    .map((c) => Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data)));
  expect(got).toHaveLength(g.n);
  const px = g.size ** 2;
  let max = 0;
  let off = 0;
  for (let i = 0; i < g.n; i++) for (let p = 0; p < px; p++) for (let k = 0; k < 3; k++) {
    const level = Math.min(255, Math.max(0, Math.round((want[(i * px + p) * 3 + k]! + 1) * 127.5)));
    const d = Math.abs(got[i]![p * 4 + k]! - level);
    max = Math.max(max, d);
    if (d) off++;
  }
  expect(max, 'largest difference from the golden samples, in 8-bit levels').toBeLessThanOrEqual(1);
  expect(off / (g.n * px * 3)).toBeLessThan(0.15);

  // A change is written back to the address (replaceState: no new history entry).
  const before = await page.evaluate(() => history.length);
  await demo.locator('input[name=seed]').fill('11');
  await demo.locator('input[name=seed]').dispatchEvent('change');
  await expect.poll(() => new URL(page.url()).searchParams.get('seed')).toBe('11');
  expect(new URL(page.url()).searchParams.get('sampler')).toBe(g.sampler);
  expect(await page.evaluate(() => history.length)).toBe(before);
  // Nonsense in the address is ignored, not applied.
  await page.goto('/?steps=-5&sampler=nope&eta=7');
  await expect(demo.locator('select[name=sampler]')).toHaveValue('ddim');
  await expect(demo.locator('input[name=steps]')).not.toHaveValue('-5');
  errors.check();
});

test('dark colour scheme: the loaded demos (charts, heatmap, forward, generator after a run) pass axe and are drawn dark', async ({ page }) => {
  test.setTimeout(240_000);
  const errors = collectConsoleErrors(page, { ignore: [/Failed to load resource/] });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto('/');
  const forward = page.locator('forward-demo');
  await forward.scrollIntoViewIfNeeded();
  await expect(forward).toHaveAttribute('data-rendered', /\|/, { timeout: 30_000 });
  const sched = page.locator('schedule-demo');
  await sched.scrollIntoViewIfNeeded();
  await expect(sched.locator('.uplot')).toHaveAttribute('data-quantity', /./, { timeout: 30_000 });
  const emb = page.locator('time-embedding-demo');
  await emb.scrollIntoViewIfNeeded();
  await expect(emb).toHaveAttribute('data-ready', 'true', { timeout: 30_000 });
  const loss = page.locator('loss-curve');
  await loss.scrollIntoViewIfNeeded();
  await expect(loss).toHaveAttribute('data-state', /ready|missing/, { timeout: 30_000 });
  const gen = page.locator('generate-demo');
  await gen.scrollIntoViewIfNeeded();
  await gen.locator('select[name=backend]').selectOption('wasm');
  await gen.locator('input[name=steps]').fill('3');
  await gen.locator('select[name=n]').selectOption('4');
  await gen.locator('button[data-action=generate]').click();
  await expect(gen).toHaveAttribute('data-state', 'done', { timeout: 120_000 });
  const r = await new AxeBuilder({ page })
    .include('forward-demo').include('schedule-demo').include('time-embedding-demo').include('loss-curve').include('generate-demo')
    .withTags(['wcag2a', 'wcag2aa'])
    .analyze();
  expect(r.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`)).toEqual([]);
  // The heatmap's panel is painted dark (its corner pixel), not left white.
  const corner = await emb.locator('canvas').first().evaluate((c: HTMLCanvasElement) => Array.from(c.getContext('2d')!.getImageData(1, 1, 1, 1).data));
  expect(corner[0]! + corner[1]! + corner[2]!, `heatmap background ${corner}`).toBeLessThan(200);
  await gen.screenshot({ path: `${SHOTS}/reading-generate-dark.png` });
  errors.check();
});

test('the 404 page lists every docs page', async ({ page }) => {
  await page.goto('/no/such/page/');
  await expect(page.locator('h1')).toHaveText('Page not found');
  for (const d of DOCS) await expect(page.locator(`main a[href$="${d}"]`)).toHaveCount(1);
});

test('the other demos read their settings from the address too (forward t and schedule, comparison and guidance seeds)', async ({ page }) => {
  await page.goto('/?t=123&schedule=cosine&compare-seed=42&guide-seed=9&guide-class=2');
  await expect(page.locator('forward-demo input.t')).toHaveValue('123');
  await expect(page.locator('forward-demo fieldset.sched input[value=cosine]')).toBeChecked();
  await expect(page.locator('sampler-compare input[name=seed]')).toHaveValue('42');
  await expect(page.locator('guidance-demo input[name=seed]')).toHaveValue('9');
  await expect(page.locator('guidance-demo select[name=cls]')).toHaveValue('2');
  // Moving the forward slider writes t back.
  const slider = page.locator('forward-demo input.t');
  await slider.scrollIntoViewIfNeeded();
  await expect(slider).toBeEnabled({ timeout: 30_000 });
  await slider.fill('300');
  await slider.dispatchEvent('change');
  await expect.poll(() => new URL(page.url()).searchParams.get('t')).toBe('300');
  expect(new URL(page.url()).searchParams.get('compare-seed')).toBe('42');
});
