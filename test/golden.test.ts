/**
 * Golden outputs: each shipped model must reproduce its committed golden samples
 * (test/fixtures/golden/, written on wasm by `npm run golden`) within max |Δ| ≤ 1e-3.
 *   small (DDIM 20, η 0, seed 0, 4 images): on wasm (all 4) and on the pure-JS cpu backend
 *     (image 0 only: cpu is ~10x slower, and each image's result does not depend on the rest of
 *     the batch);
 *   full width (DDIM 10, 2 images): on wasm (cpu would take minutes at 16x the arithmetic).
 * Skips, saying so, while a folder's manifest sha256 differs from its golden's (new weights: run
 * `npm run golden`), or when a model is not shipped and has no golden.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { useBackend, ROOT, FIXTURES, regenerateGolden } from './helpers.ts';
import { weightsManifestSha } from '../src/cli/commands/eval.ts';
import { compareWithGolden, goldenSamples, perImageStats, GOLDENS, GOLDEN_TOLERANCE, type GoldenFile } from '../src/core/golden.ts';

const BACKENDS = { small: [['wasm', 4], ['cpu', 1]], full: [['wasm', 2]] } as const;

for (const [id, entry] of Object.entries(GOLDENS) as [keyof typeof GOLDENS, (typeof GOLDENS)[keyof typeof GOLDENS]][]) {
  const file = path.join(FIXTURES, 'golden', entry.file);
  const weightsDir = path.join(ROOT, entry.settings.weights);
  const sha = weightsManifestSha(weightsDir);
  if (!fs.existsSync(file)) {
    // A golden may only be missing for a model that is not shipped.
    test(`${id}: no golden because no weights`, () => {
      assert.equal(sha, null, `${entry.settings.weights} is shipped but test/fixtures/golden/${entry.file} is missing: run \`npm run golden\``);
    });
    continue;
  }
  const golden = JSON.parse(fs.readFileSync(file, 'utf8')) as GoldenFile;
  const s = golden.settings;
  const skip = sha === null
    ? `no weights at ${s.weights}`
    : sha !== golden.weightsManifestSha256
      ? `${s.weights}/weights.json has sha256 ${sha.slice(0, 12)}…, the golden was made from ${golden.weightsManifestSha256.slice(0, 12)}…: the weights changed, run \`npm run golden\` and commit test/fixtures/golden/`
      : false;
  if (skip) console.log(`# golden ${id}: skipping the regeneration tests: ${skip}`);

  test(`${id}: ${entry.file} is self-consistent (shape, stats, tolerance)`, () => {
    const x = goldenSamples(golden);
    assert.equal(x.length, s.n * s.size * s.size * 3);
    assert.deepEqual(golden.tolerance, GOLDEN_TOLERANCE);
    assert.deepEqual(golden.settings, entry.settings, 'the golden settings changed: run `npm run golden`');
    const st = perImageStats(x, s.n, s.size);
    for (let i = 0; i < s.n; i++) for (let c = 0; c < 3; c++) {
      assert.ok(Math.abs(st[i].mean[c] - golden.perImage[i].mean[c]) < 1e-9);
      assert.ok(Math.abs(st[i].std[c] - golden.perImage[i].std[c]) < 1e-9);
    }
    // Clipped DDIM ends on x̂₀ ∈ [−1, 1], and trained weights do not give flat images.
    assert.ok(x.every((v) => v >= -1 - 1e-6 && v <= 1 + 1e-6), 'samples outside [-1, 1]');
    assert.ok(golden.perImage.every((p) => p.std.every((v) => v > 0.01)), 'a golden image is flat');
  });

  for (const [backend, images] of BACKENDS[id]) {
    test(`${id}: regenerates the golden samples on ${backend} (${images} image${images > 1 ? 's' : ''}) within max |Δ| ≤ ${GOLDEN_TOLERANCE.maxAbs}`, { skip }, async () => {
      await useBackend(backend);
      const got = await regenerateGolden(s, images);
      const cmp = compareWithGolden(got, golden, images);
      console.log(`# golden ${id} ${backend}: max |Δ| ${cmp.maxAbs.toExponential(2)} (tolerance ${cmp.tolerance})`);
      assert.ok(cmp.ok, `${backend}: max |Δ| ${cmp.maxAbs} at value ${cmp.worst} exceeds ${cmp.tolerance}`);
    });
  }
}
