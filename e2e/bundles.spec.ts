/**
 * The built site's JavaScript: every chunk a page loads (its module scripts and everything they
 * import, statically or lazily) is free of TensorFlow.js; tfjs lives only in the worker chunks,
 * which pages start with `new Worker(new URL(…))` and never import. Reads dist/ (no browser).
 */
import { test, expect } from '@playwright/test';
import fs from 'node:fs';
import path from 'node:path';

const DIST = 'dist';
/** A string tfjs-core always carries (its URL flag parameter), whatever the minifier renames. */
const TFJS_MARKER = 'tfjsflags';

function htmlFiles(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && d.name.endsWith('.html'))
    .map((d) => path.join(d.parentPath, d.name));
}

/** `/_astro/x.js` (as written in HTML or chunks) → the file in dist/. */
const fileOf = (url: string) => path.join(DIST, url.replace(/^\/(sub\/)?/, ''));

/** A chunk and every chunk it imports (static `from "./x.js"` and `import("./x.js")`), not the workers it starts. */
function closure(entries: string[]): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file) || !fs.existsSync(file)) return;
    seen.add(file);
    const js = fs.readFileSync(file, 'utf8');
    for (const m of js.matchAll(/(?:from\s*|import\s*\(\s*|import\s*)["'](\.\/[^"']+\.js)["']/g)) visit(path.join(path.dirname(file), m[1]));
  };
  entries.forEach(visit);
  return seen;
}

const workerChunks = (files: Iterable<string>) =>
  [...files].flatMap((f) => [...fs.readFileSync(f, 'utf8').matchAll(/new Worker\(\s*new URL\(\s*["']([^"']+\.js)["']/g)].map((m) => fileOf(m[1])));

test('page bundles carry no tfjs; the model and training workers do', () => {
  test.skip(!fs.existsSync(DIST), 'needs the built site (npm run build)');
  const pages = htmlFiles(DIST);
  const scripts = pages.flatMap((f) => [...fs.readFileSync(f, 'utf8').matchAll(/<script[^>]*type="module"[^>]*src="([^"]+)"/g)].map((m) => fileOf(m[1])));
  expect(scripts.length).toBeGreaterThan(5);
  const pageChunks = closure(scripts);
  const withTfjs = [...pageChunks].filter((f) => fs.readFileSync(f, 'utf8').includes(TFJS_MARKER));
  expect(withTfjs, 'page chunks that contain tfjs').toEqual([]);

  const workers = workerChunks(pageChunks);
  expect(workers.map((w) => path.basename(w).replace(/-[\w-]+\.js$/, ''))).toEqual(expect.arrayContaining(['model.worker', 'light.worker', 'train.worker']));
  for (const w of workers.filter((f) => /(model|train)\.worker/.test(f))) {
    const inWorker = [...closure([w])].some((f) => fs.readFileSync(f, 'utf8').includes(TFJS_MARKER));
    expect(inWorker, `${w} should carry tfjs (else the marker is wrong and this test proves nothing)`).toBe(true);
  }
});
