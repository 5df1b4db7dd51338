/**
 * The article and the docs on the built site: structure, math, code excerpts (compared with the
 * real source files), training records (compared with the built weights.json), links,
 * accessibility (axe, WCAG 2 A/AA), the 404 page, and the whole site under the /sub/ base path.
 *
 * These tests do not scroll through the demos, so no model is loaded: the demo specs cover them.
 */
import { test, expect, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SUB_PORT } from '../playwright.config.ts';
import { collectConsoleErrors } from './helpers.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const SHOTS = process.env.E2E_SHOTS ?? '/tmp';
const SUB = `http://localhost:${SUB_PORT}/sub/`;

const dedent = (lines: string[]) => {
  const ind = lines.filter((l) => l.trim() !== '').map((l) => /^[ \t]*/.exec(l)![0].length);
  const cut = ind.length ? Math.min(...ind) : 0;
  return lines.map((l) => l.slice(cut).trimEnd()).join('\n');
};

async function axe(page: Page) {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze();
  const summary = result.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.slice(0, 5).map((n) => n.target.join(' ')).join('\n    ')}`,
  );
  expect(summary, `axe violations on ${page.url()}`).toEqual([]);
}

test.describe('article', () => {
  test('loads with its headings, KaTeX math and no console errors', async ({ page }) => {
    const errors = collectConsoleErrors(page);
    const res = await page.goto('/');
    expect(res?.status()).toBe(200);
    await expect(page.locator('h1')).toHaveText('A diffusion model from scratch, on CIFAR-10');
    const h2 = await page.locator('article h2').allTextContents();
    for (const want of ['Why build one yourself', 'What we build', 'Forward diffusion', 'The network', 'Training', 'Generation', 'What we learned', 'Where to go next']) {
      expect(h2.some((h) => h.startsWith(want)), `an h2 starting with "${want}" in ${JSON.stringify(h2)}`).toBe(true);
    }
    await expect(page.locator('nav[aria-label="Site"] a[aria-current="page"]')).toHaveText('Article');

    // KaTeX rendered every formula: display blocks, MathML for screen readers, no parse errors,
    // no raw TeX left over, and its fonts loaded from the build.
    expect(await page.locator('.katex-display').count()).toBeGreaterThanOrEqual(6);
    expect(await page.locator('.katex .katex-mathml math').count()).toBeGreaterThanOrEqual(20);
    await expect(page.locator('.katex-error')).toHaveCount(0);
    const text = await page.locator('article').innerText();
    expect(text).not.toContain('$$');
    expect(text).not.toContain('\\bar');
    const fontsOk = await page.evaluate(async () => {
      await document.fonts.ready;
      return document.fonts.check('16px KaTeX_Main') && [...document.fonts].some((f) => f.family.includes('KaTeX') && f.status === 'loaded');
    });
    expect(fontsOk, 'KaTeX fonts loaded').toBe(true);

    // Numbers the article computes at build time from src/core.
    expect(text).toContain('16,808,835');
    expect(text).toContain('1,547,235');

    await page.screenshot({ path: `${SHOTS}/article-top.png` });
    errors.check();
  });

  test('code excerpts are the real source text', async ({ page }) => {
    await page.goto('/');
    const figs = page.locator('figure.source-excerpt');
    const n = await figs.count();
    expect(n).toBeGreaterThanOrEqual(6);
    const symbols = new Set<string>();
    for (let i = 0; i < n; i++) {
      const fig = figs.nth(i);
      const file = (await fig.getAttribute('data-file'))!;
      const start = Number(await fig.getAttribute('data-start-line'));
      const end = Number(await fig.getAttribute('data-end-line'));
      const symbol = await fig.getAttribute('data-symbol');
      if (symbol) symbols.add(symbol);
      const src = fs.readFileSync(path.join(ROOT, file), 'utf8').replace(/\r\n?/g, '\n').split('\n');
      const expected = dedent(src.slice(start - 1, end));
      const shown = (await fig.locator('pre').textContent())!.replace(/\s+$/, '');
      expect(shown, `${file}:${start}-${end}`).toBe(expected);
      await expect(fig.locator('figcaption')).toContainText(file);
      if (symbol) expect(expected).toMatch(new RegExp(`(function|class|const|type|interface)\\s+${symbol}\\b`));
    }
    for (const s of ['addNoise', 'timeEmbedding', 'SeedLoopSampler', 'DDIMSampler']) expect(symbols).toContain(s);
  });

  test('training records match the built weights.json', async ({ page }) => {
    await page.goto('/');
    for (const [model, folder] of [['small', 'simple-unet-small'], ['full', 'simple-unet']] as const) {
      const manifest = path.join(ROOT, 'dist', 'weights', folder, 'weights.json');
      const rec = page.locator(`.training-record[data-model="${model}"]`);
      await expect(rec).toHaveCount(1);
      const exists = fs.existsSync(manifest);
      await expect(rec).toHaveAttribute('data-exists', String(exists));
      if (!exists) {
        await expect(rec).toContainText('not part of this build');
        continue;
      }
      const t = JSON.parse(fs.readFileSync(manifest, 'utf8')).training;
      if (t) {
        await expect(rec).toContainText(`${Math.round(t.steps).toLocaleString('en-US')} steps`);
        await expect(rec).toContainText(Math.round(t.imagesSeen).toLocaleString('en-US'));
      } else {
        await expect(rec).toContainText('no training record');
      }
    }
  });

  test('seed-loop analysis: even a perfect network leaves noise with the seed loop, none with DDIM', async ({ page }) => {
    await page.goto('/');
    const fig = page.locator('figure.seed-analysis');
    const noise = Number(await fig.getAttribute('data-seed-noise'));
    expect(noise).toBeGreaterThan(0.3);
    const last = fig.locator('tbody tr').last();
    await expect(last.locator('td').nth(5)).toHaveText('1.000');
    await expect(last.locator('td').nth(6)).toHaveText('0.000');
  });

  test('links work', async ({ page, request }) => {
    const pages = ['/', '/docs/', '/docs/worker-pool/', '/docs/cli/', '/docs/deploying/', '/docs/model-card/', '/404.html'];
    const checked = new Map<string, number>();
    for (const p of pages) {
      await page.goto(p);
      const links = await page.locator('a[href]').evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).href));
      for (const href of links) {
        const u = new URL(href);
        if (u.origin !== new URL(page.url()).origin) continue; // external: not fetched (offline machine)
        if (u.hash && u.pathname === new URL(page.url()).pathname) {
          const id = decodeURIComponent(u.hash.slice(1));
          expect(await page.locator(`[id="${id}"]`).count(), `anchor ${u.hash} on ${p}`).toBeGreaterThan(0);
          continue;
        }
        const key = u.pathname;
        if (!checked.has(key)) checked.set(key, (await request.get(href)).status());
        expect(checked.get(key), `${href} (linked from ${p})`).toBe(200);
      }
    }
    expect(checked.size).toBeGreaterThanOrEqual(6);
  });

  test('unknown pages get the 404 page', async ({ page }) => {
    const res = await page.goto('/no/such/page/');
    expect(res?.status()).toBe(404);
    await expect(page.locator('h1')).toHaveText('Page not found');
    await page.getByRole('link', { name: 'the article' }).click();
    await expect(page.locator('h1')).toHaveText('A diffusion model from scratch, on CIFAR-10');
  });
});

test.describe('docs', () => {
  test('index lists every doc; pages render with the CLI help captured at build time', async ({ page }) => {
    const errors = collectConsoleErrors(page);
    await page.goto('/docs/');
    const docs = fs.readdirSync(path.join(ROOT, 'src', 'content', 'docs')).filter((f) => f.endsWith('.mdx'));
    await expect(page.locator('.doc-list li')).toHaveCount(docs.length);
    for (const f of docs) await expect(page.locator(`.doc-list a[href$="/docs/${f.replace(/\.mdx$/, '')}/"]`)).toHaveCount(1);
    await page.getByRole('link', { name: 'The command line' }).first().click();
    await expect(page.locator('h1')).toHaveText('The command line');
    await expect(page.locator('nav[aria-label="Docs"] a[aria-current="page"]')).toHaveText('The command line');
    const helps = page.locator('figure.cli-help pre');
    await expect(helps).toHaveCount(7);
    await expect(helps.first()).toContainText('Usage: diffusion <command>');
    await expect(page.locator('figure.cli-help[data-cmd="train"] pre')).toContainText('--resume');
    await page.goto('/docs/model-card/');
    await expect(page.getByRole('heading', { name: 'Quality' })).toBeVisible();
    await page.screenshot({ path: `${SHOTS}/docs-model-card.png`, fullPage: false });
    errors.check();
  });
});

test.describe('accessibility (axe, WCAG 2 A/AA)', () => {
  test('article', async ({ page }) => {
    await page.goto('/');
    await axe(page);
  });
  test('docs pages', async ({ page }) => {
    for (const p of ['/docs/', '/docs/worker-pool/', '/docs/cli/', '/docs/deploying/', '/docs/model-card/']) {
      await page.goto(p);
      await axe(page);
    }
  });
});

test.describe('under the /sub/ base path', () => {
  test('article, CSS, fonts and docs load from /sub/ with no failed requests', async ({ page }) => {
    const errors = collectConsoleErrors(page);
    const bad: string[] = [];
    const outside: string[] = [];
    page.on('response', (r) => {
      if (r.status() >= 400) bad.push(`${r.status()} ${r.url()}`);
    });
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.protocol.startsWith('http') && u.host === `localhost:${SUB_PORT}` && !u.pathname.startsWith('/sub/')) outside.push(r.url());
    });
    const res = await page.goto(SUB);
    expect(res?.status()).toBe(200);
    await expect(page.locator('h1')).toHaveText('A diffusion model from scratch, on CIFAR-10');
    // The stylesheet applied: the sticky header and the text column width come from global.css.
    const css = await page.evaluate(() => ({
      header: getComputedStyle(document.querySelector('.site-header')!).position,
      display: getComputedStyle(document.querySelector('.prose')!).display,
    }));
    expect(css).toEqual({ header: 'sticky', display: 'grid' });
    await page.evaluate(() => document.fonts.ready);
    expect(await page.evaluate(() => document.fonts.check('16px KaTeX_Main'))).toBe(true);

    await page.locator('nav[aria-label="Site"]').getByRole('link', { name: 'Docs' }).click();
    await expect(page).toHaveURL(`${SUB}docs/`);
    await page.getByRole('link', { name: 'The worker pool' }).first().click();
    await expect(page).toHaveURL(`${SUB}docs/worker-pool/`);
    // A root-relative Markdown link inside a doc ([Deploying](/docs/deploying/)) was rewritten to the base.
    const mdLink = page.locator('article').getByRole('link', { name: 'Deploying', exact: true });
    await expect(mdLink).toHaveAttribute('href', '/sub/docs/deploying/');
    await mdLink.click();
    await expect(page).toHaveURL(`${SUB}docs/deploying/`);
    await expect(page.locator('h1')).toHaveText('Deploying the site');
    await page.locator('.site-title').click();
    await expect(page).toHaveURL(SUB);
    await page.screenshot({ path: `${SHOTS}/sub-article.png` });

    expect(bad, 'failed requests').toEqual([]);
    expect(outside, 'requests outside /sub/').toEqual([]);
    errors.check();
  });
});
