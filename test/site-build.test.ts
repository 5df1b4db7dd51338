/**
 * Build-time helpers of the site: source excerpts (SourceExcerpt.astro), the shipped weights'
 * records (TrainingRecord.astro), the Markdown base-path rewrite and the CIFAR-10 subset step.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { extractExcerpt, extractPythonExcerpt, lineDepths } from '../src/components/lib/source-excerpt.ts';
import { readWeightsInfo } from '../src/components/build-time/weights-info.ts';
import rehypeBaseLinks from '../src/markdown/rehype-base-links.mjs';

const SRC = `import x from 'y';

/**
 * Doc comment.
 */
export function alpha(a: { b: number }): { c: string } {
  const s = '}{';
  const t = \`\${a.b}}\`; // }
  const r = /[}{]/g;
  return { c: s + t + r.source };
}

// line comment
export const beta = {
  k: [1, 2],
};
export type Gamma = 'a' | 'b';
function outer() {
  const inner = (q: number) => {
    return q * 2;
  };
  return inner;
}
`;

test('extractExcerpt: a symbol with its doc comment, brackets in strings/templates/regexes ignored', () => {
  const e = extractExcerpt(SRC, { symbol: 'alpha' });
  assert.equal(e.startLine, 3);
  assert.equal(e.endLine, 11);
  assert.ok(e.text.startsWith('/**\n * Doc comment.'));
  assert.ok(e.text.endsWith('return { c: s + t + r.source };\n}'));
  const b = extractExcerpt(SRC, { symbol: 'beta' });
  assert.deepEqual([b.startLine, b.endLine], [13, 16]);
  assert.ok(b.text.startsWith('// line comment'));
  const g = extractExcerpt(SRC, { symbol: 'Gamma' });
  assert.deepEqual([g.startLine, g.endLine], [17, 17]);
});

test('extractExcerpt: start marker alone (to the closing bracket, dedented) and start/end markers', () => {
  const i = extractExcerpt(SRC, { start: 'const inner =' });
  assert.deepEqual([i.startLine, i.endLine], [19, 21]);
  assert.equal(i.text, 'const inner = (q: number) => {\n  return q * 2;\n};');
  const r = extractExcerpt(SRC, { start: 'const s =', end: 'const r =' });
  assert.deepEqual([r.startLine, r.endLine], [7, 9]);
  assert.throws(() => extractExcerpt(SRC, { symbol: 'nope' }), /no top-level declaration of "nope"/);
  assert.throws(() => extractExcerpt(SRC, { start: 'zzz' }), /not found/);
  assert.deepEqual(lineDepths(['a({', '})']), [2, -2]);
});

test('extractExcerpt finds the declarations the article shows in src/core', () => {
  for (const [file, symbol] of [['src/core/diffusion.ts', 'addNoise'], ['src/core/model.ts', 'timeEmbedding'], ['src/core/samplers.ts', 'SeedLoopSampler'], ['src/core/samplers.ts', 'DDIMSampler']]) {
    const e = extractExcerpt(fs.readFileSync(file, 'utf8'), { symbol }, file);
    assert.match(e.text, new RegExp(`(function|class) ${symbol}\\b`));
    assert.ok(e.text.trimEnd().endsWith('}'), `${symbol} ends with its closing brace`);
  }
});

test('readWeightsInfo: a missing folder is a sentence, a record is normalised', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'weights-info-'));
  try {
    const missing = readWeightsInfo('full', root);
    assert.equal(missing.exists, false);
    assert.match(missing.problem!, /no weights\.json/);
    const dir = path.join(root, 'public', 'weights', 'simple-unet-small');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'weights.json'), JSON.stringify({
      format: 'simple-unet-weights', formatVersion: 1, layout: 'tfjs', modelConfig: { width: 0.25 }, weightsKind: 'ema',
      weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: [{ name: 'a', shape: [1], dtype: 'float32', quantization: { dtype: 'float16', original_dtype: 'float32' } }] }],
      training: { steps: 10, imagesSeen: 1280, epochs: 0.5, batchSize: 128, hardware: { cpu: 'Some CPU', threads: 4 }, command: ['train.py', '--width', '0.25'], lossCurve: 'loss.json' },
    }));
    fs.writeFileSync(path.join(dir, 'group1-shard1of1.bin'), new Uint8Array(2));
    fs.writeFileSync(path.join(dir, 'loss.json'), JSON.stringify({ batchSize: 128, losses: [1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1] }));
    const info = readWeightsInfo('small', root);
    assert.equal(info.exists, true);
    assert.equal(info.params, 1_547_235);
    assert.equal(info.dtype, 'float16');
    assert.equal(info.shardBytes, 2);
    assert.equal(info.trainImages, 2560);
    assert.equal(info.training!.hardware, 'Some CPU, 4 threads');
    assert.equal(info.training!.command, 'train.py --width 0.25');
    assert.equal(info.loss!.steps, 10);
    assert.equal(info.loss!.first, 1);
    assert.ok(Math.abs(info.loss!.last - 0.1) < 1e-12);
    fs.writeFileSync(path.join(dir, 'weights.json'), '{ not json');
    assert.match(readWeightsInfo('small', root).problem!, /not valid JSON/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('rehypeBaseLinks prefixes root-relative links only', () => {
  const tree = {
    type: 'root',
    children: [
      { type: 'element', tagName: 'a', properties: { href: '/docs/cli/' }, children: [] },
      { type: 'element', tagName: 'a', properties: { href: '/sub/docs/' }, children: [] },
      { type: 'element', tagName: 'a', properties: { href: 'https://example.org/' }, children: [] },
      { type: 'element', tagName: 'a', properties: { href: '//cdn.example/x' }, children: [] },
      { type: 'element', tagName: 'a', properties: { href: '#top' }, children: [] },
      { type: 'element', tagName: 'p', properties: {}, children: [{ type: 'element', tagName: 'img', properties: { src: '/a.png' }, children: [] }] },
    ],
  };
  rehypeBaseLinks({ base: '/sub/' })(tree);
  const hrefs = tree.children.slice(0, 5).map((c) => (c.properties as { href: string }).href);
  assert.deepEqual(hrefs, ['/sub/docs/cli/', '/sub/docs/', 'https://example.org/', '//cdn.example/x', '#top']);
  assert.equal((tree.children[5]!.children[0]!.properties as { src: string }).src, '/sub/a.png');
  const root = { type: 'root', children: [{ type: 'element', tagName: 'a', properties: { href: '/docs/' }, children: [] }] };
  rehypeBaseLinks({ base: '/' })(root);
  assert.equal((root.children[0]!.properties as { href: string }).href, '/docs/');
});

const PY = `import math


@torch.no_grad()
def alpha(x):
    """Doc."""
    if x:

        return 1
    return 2


class Beta(nn.Module):
    def forward(self, x):
        return x
# trailing comment
`;

test('extractPythonExcerpt: a def with its decorator to its last indented line; several blocks in a row', () => {
  const a = extractPythonExcerpt(PY, { symbol: 'alpha' });
  assert.deepEqual([a.startLine, a.endLine], [4, 10]);
  assert.ok(a.text.startsWith('@torch.no_grad()\ndef alpha(x):'));
  assert.ok(a.text.endsWith('    return 2'));
  const both = extractPythonExcerpt(PY, { symbols: ['alpha', 'Beta'] });
  assert.deepEqual([both.startLine, both.endLine], [4, 15]);
  assert.throws(() => extractPythonExcerpt(PY, { symbol: 'gamma' }), /no top-level def or class "gamma"/);
});
