/**
 * The article's claims about the shipped weights come from the data the page already reads
 * (public/weights/*\/weights.json, docs/quality.json) through src/components/build-time/facts.ts.
 * These tests keep it that way:
 *   - facts.ts reads the real files and formats them as the tables do;
 *   - every SWD / KID figure still written by hand in the article's prose equals a row of
 *     docs/quality.json (rounded to one decimal, as the tables show it);
 *   - the shipped models' training numbers (steps, images seen) never appear as literal text in
 *     the article: they must be `{facts.…}` expressions, so a new snapshot cannot leave them behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFacts } from '../src/components/build-time/facts.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ARTICLE = path.join(ROOT, 'src', 'content', 'article.mdx');

/**
 * Figures awaiting data: the full-width model's quality (SWD / KID) is measured but not yet in
 * docs/quality.json. Each entry names the figure and why; delete it once the prose reads the data.
 */
const PENDING: Record<string, string> = {
  '102.2': 'full-width SWD (DDIM 20, η = 1), not yet in docs/quality.json',
  '12.6': 'full-width KID (DDIM 20, η = 1), not yet in docs/quality.json',
};

/** The article's prose: frontmatter, imports/exports, MDX expressions, math and code removed. */
function prose(src: string): string {
  return src
    .replace(/^---\n[\s\S]*?\n---\n/, '')
    .replace(/^(import|export) .*$/gm, '')
    .replace(/\$\$[\s\S]*?\$\$/g, ' ')
    .replace(/\$[^$\n]*\$/g, ' ')
    .replace(/`[^`\n]*`/g, ' ')
    .replace(/<[A-Z][^>]*\/>/g, ' ')
    .replace(/\{[^{}]*(\{[^{}]*\}[^{}]*)*\}/g, ' ');
}

test('facts.ts reads the shipped records and the quality table, rounded as the tables show them', () => {
  const f = readFacts(ROOT);
  const q = JSON.parse(fs.readFileSync(path.join(ROOT, 'docs', 'quality.json'), 'utf8')) as { rows: { id: string; swd: { average: number }; kid?: { kid: number } }[] };
  assert.ok(q.rows.length > 0);
  for (const r of q.rows) {
    assert.equal(f.q(r.id).swd, r.swd.average.toFixed(1), r.id);
    if (r.kid) assert.equal(f.q(r.id).kid, r.kid.kid.toFixed(1), r.id);
  }
  assert.equal(f.q('no-such-row').swd, 'n/a');
  for (const [id, folder] of [['small', 'simple-unet-small'], ['full', 'simple-unet']] as const) {
    const file = path.join(ROOT, 'public', 'weights', folder, 'weights.json');
    if (!fs.existsSync(file)) {
      assert.equal(f[id].exists, false);
      continue;
    }
    const t = JSON.parse(fs.readFileSync(file, 'utf8')).training;
    assert.equal(f[id].steps, t.steps);
    assert.equal(f[id].stepsText, Math.round(t.steps).toLocaleString('en-US'));
    assert.equal(f[id].imagesSeenText, Math.round(t.imagesSeen).toLocaleString('en-US'));
  }
});

test('every SWD / KID figure written in the article matches docs/quality.json', () => {
  const f = readFacts(ROOT);
  const known = new Set<string>();
  for (const r of Object.values(f.quality)) {
    known.add(r.swd);
    known.add(r.kid);
  }
  const text = prose(fs.readFileSync(ARTICLE, 'utf8'));
  const bad: string[] = [];
  const re = /\b(SWD|KID)\b[^.;:()\n]{0,12}?(-?\d+(?:\.\d+)?)/g;
  for (const m of text.matchAll(re)) {
    const num = m[2]!;
    if (num.length < 2 && !num.includes('.')) continue; // "KID 3" would be a count, not a score
    if (known.has(num) || PENDING[num]) continue;
    bad.push(`${m[1]} ${num} (in "${m[0]}")`);
  }
  // "SWD 102.2, KID 12.6": the second figure of a pair follows the first without its name.
  for (const m of text.matchAll(/\bSWD (\d+\.\d), KID (-?\d+\.\d)/g)) {
    if (!known.has(m[2]!) && !PENDING[m[2]!]) bad.push(`KID ${m[2]} (in "${m[0]}")`);
  }
  assert.deepEqual(bad, [], `figures in the article that no row of docs/quality.json has (write them as {facts.q('<row id>').swd}): ${bad.join('; ')}`);
});

test('the shipped models\' training numbers are not copied into the article by hand', () => {
  const f = readFacts(ROOT);
  const text = prose(fs.readFileSync(ARTICLE, 'utf8'));
  const found: string[] = [];
  for (const id of ['small', 'full'] as const) {
    const m = f[id];
    if (!m.exists || m.steps === null) continue;
    for (const lit of [`${m.stepsText} steps`, `${m.stepsText}-step`, `${m.stepsText} optimizer steps`, m.imagesSeenText]) {
      if (m.steps < 20 && !lit.includes(',')) continue;
      if (new RegExp(`(^|[^\\d,.])${lit.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`).test(text)) found.push(`${id}: "${lit}"`);
    }
  }
  assert.deepEqual(found, [], `write these as {facts.<model>.stepsText} / {facts.<model>.imagesSeenText}: ${found.join('; ')}`);
});

test('the prose filter keeps text and drops expressions, math and components', () => {
  const t = prose('---\ntitle: x\n---\nimport A from "a";\nSWD {facts.q("a").swd} and $x_t$ and `KID 9.9` <Q mode="b" /> KID 1.5 here');
  assert.ok(!t.includes('facts'));
  assert.ok(!t.includes('x_t'));
  assert.ok(!t.includes('9.9'));
  assert.ok(t.includes('KID 1.5'));
});

test('no MDX expression sits inside math, where it would print as TeX instead of its value', () => {
  const src = fs.readFileSync(ARTICLE, 'utf8');
  const names = [...src.matchAll(/^export const (\w+)/gm)].map((m) => m[1]!);
  assert.ok(names.includes('facts'));
  const re = new RegExp(`\\{\\s*(${names.join('|')})\\b`);
  const bad: string[] = [];
  for (const m of src.replace(/^---\n[\s\S]*?\n---\n/, '').replace(/^(import|export) .*$/gm, '').matchAll(/\$\$[\s\S]*?\$\$|\$[^$\n]*\$/g)) {
    if (re.test(m[0])) bad.push(m[0]);
  }
  assert.deepEqual(bad, []);
});

test('facts.ts reads the recipe study (docs/study.json) rounded as its table shows it, ranked best first', (t) => {
  const file = path.join(ROOT, 'docs', 'study.json');
  const f = readFacts(ROOT);
  if (!fs.existsSync(file)) {
    assert.equal(f.study.exists, false);
    t.skip('no docs/study.json in this checkout');
    return;
  }
  const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    arms: { arm: string; swd: number; kid: number | null; heldout_x0_mse: Record<string, number>; heldout_x0_mse_clipped?: Record<string, number> }[];
  };
  const x0 = (a: (typeof doc.arms)[number]) => a.heldout_x0_mse_clipped ?? a.heldout_x0_mse;
  assert.ok(doc.arms.length > 0);
  const seed = doc.arms.find((a) => a.arm === 'seed')!;
  for (const a of doc.arms) {
    assert.equal(f.study.arm(a.arm).swd, a.swd.toFixed(1), a.arm);
    if (a.kid !== null) assert.equal(f.study.arm(a.arm).kid, a.kid.toFixed(1), a.arm);
    for (const [level, v] of Object.entries(x0(a))) {
      assert.equal(f.study.arm(a.arm).x0VsSeed[level], (v / x0(seed)[level]!).toFixed(2), `${a.arm} at ${level}`);
    }
  }
  const swds = f.study.bySwd.map((id) => f.study.arm(id).swdValue!);
  assert.deepEqual(swds, [...swds].sort((a, b) => a - b));
  assert.equal(f.study.arm('no-such-arm').swd, 'n/a');
});

test('every quality-table row the article and the model card read exists (no "n/a" on the page)', () => {
  const f = readFacts(ROOT);
  const missing: string[] = [];
  for (const file of [ARTICLE, path.join(ROOT, 'src', 'content', 'docs', 'model-card.mdx')]) {
    const src = fs.readFileSync(file, 'utf8');
    for (const m of src.matchAll(/facts\.q\(['"]([^'"]+)['"]\)/g)) if (f.q(m[1]).swd === 'n/a') missing.push(`${path.basename(file)}: q('${m[1]}')`);
    for (const m of src.matchAll(/facts\.pageAt\((\d+(?:\.\d+)?|'uncond')\)/g)) {
      const w = m[1] === "'uncond'" ? 'uncond' as const : Number(m[1]);
      if (f.pageAt(w).swd === 'n/a') missing.push(`${path.basename(file)}: pageAt(${m[1]})`);
    }
    if (/facts\.page\./.test(src) && f.page.swd === 'n/a') missing.push(`${path.basename(file)}: page (${f.page.id})`);
  }
  assert.deepEqual(missing, [], 'rerun `diffusion eval --table` or fix the ids');
});
