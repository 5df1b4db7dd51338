/**
 * The layers' directions, checked on the source: the workers, core, the pool library and the
 * task contracts never import the site (components, pages, layouts, content); the contracts and
 * every page script reach no TensorFlow.js and no worker module at run time, so tfjs only ever
 * loads inside a worker; Node-only build-time helpers stay in src/components/build-time/. (e2e/bundles.spec.ts checks the same on the built site's chunks.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from './helpers.ts';
import { astroClientScripts, importsOf, listFiles, resolveImport, runtimeReach } from './module-graph.ts';

const src = (...p: string[]) => path.join(ROOT, 'src', ...p);
const rel = (f: string) => path.relative(ROOT, f);
const SITE = ['components', 'pages', 'layouts', 'content'].map((d) => src(d) + path.sep);
const LOWER = ['workers', 'core', 'pool', 'contracts'];
const isTfjs = (pkg: string) => pkg.startsWith('@tensorflow/') || pkg === '#tf-gradients';

test('workers, core, the pool library and the contracts import nothing from the site (not even types)', () => {
  const up: string[] = [];
  for (const dir of LOWER) {
    for (const file of listFiles(src(dir), /\.(ts|mts)$/)) {
      for (const ref of importsOf(fs.readFileSync(file, 'utf8'))) {
        const target = resolveImport(file, ref.specifier);
        if (target && SITE.some((s) => target.startsWith(s))) up.push(`${rel(file)} → ${rel(target)}`);
      }
    }
  }
  assert.deepEqual(up, []);
});

test('the task contracts reach no tfjs and no worker code at run time', () => {
  for (const file of listFiles(src('contracts'), /\.ts$/)) {
    const r = runtimeReach([{ file }]);
    assert.deepEqual([...r.packages.keys()].filter(isTfjs), [], `${rel(file)} reaches tfjs`);
    assert.deepEqual([...r.files].filter((f) => f.startsWith(src('workers'))).map(rel), [], `${rel(file)} reaches a worker`);
  }
});

test('no page script reaches tfjs, a worker module or build-time (Node) code at run time', () => {
  const astro = ['components', 'pages', 'layouts'].flatMap((d) => listFiles(src(d), /\.astro$/));
  const entries = astro.flatMap((file) => astroClientScripts(fs.readFileSync(file, 'utf8')).map((text) => ({ file, text })));
  assert.ok(entries.length >= 10, `expected the demos' client scripts, found ${entries.length}`);
  for (const e of entries) {
    const r = runtimeReach([e]);
    const tfjs = [...r.packages].filter(([pkg]) => isTfjs(pkg)).map(([pkg, by]) => `${pkg} (imported by ${rel(by)})`);
    assert.deepEqual(tfjs, [], `a <script> of ${rel(e.file)} reaches tfjs`);
    assert.deepEqual([...r.files].filter((f) => f.startsWith(src('workers'))).map(rel), [], `a <script> of ${rel(e.file)} reaches a worker module`);
    const node = [...r.packages.keys()].filter((p) => p.startsWith('node:'));
    assert.deepEqual([...r.files].filter((f) => f.startsWith(src('components', 'build-time'))).map(rel).concat(node), [], `a <script> of ${rel(e.file)} reaches Node code`);
  }
});

test('the build-time helpers are the only Node code among the components', () => {
  const browserSide = listFiles(src('components'), /\.ts$/).filter((f) => !f.startsWith(src('components', 'build-time')));
  const node = browserSide.flatMap((f) => importsOf(fs.readFileSync(f, 'utf8')).filter((i) => i.specifier.startsWith('node:')).map((i) => `${rel(f)}: ${i.specifier}`));
  assert.deepEqual(node, []);
});

test('the reach check sees tfjs where it is: the model worker, and a page that imported it', () => {
  const worker = runtimeReach([{ file: src('workers', 'model.worker.ts') }]);
  assert.ok([...worker.packages.keys()].some(isTfjs));
  // `import { type X }` keeps a bare import under verbatimModuleSyntax, so it counts as a run-time edge.
  const page = runtimeReach([{ file: src('components', 'demos', 'X.astro'), text: "import { type ModelTasks } from '../../workers/model.worker.ts';" }]);
  assert.ok([...page.packages.keys()].some(isTfjs));
  const typeOnly = runtimeReach([{ file: src('components', 'demos', 'X.astro'), text: "import type { ModelTasks } from '../../workers/model.worker.ts';" }]);
  assert.equal(typeOnly.files.size, 0);
});
