/**
 * Golden outputs: the shipped small weights, DDIM 20 (η 0), seed 0, must reproduce
 * test/fixtures/golden/golden.json (written on wasm by `npm run golden`) within max |Δ| ≤ 1e-3
 * on wasm (all 4 images) and on the pure-JS cpu backend (image 0 only: cpu is ~10x slower,
 * and each image's result does not depend on the rest of the batch). Skips, saying so, while
 * the weights' manifest sha256 differs from the golden's (new weights: run `npm run golden`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { useBackend, ROOT, FIXTURES } from './helpers.ts';
import { loadWeightsPath } from '../src/cli/weights-files.ts';
import { weightsManifestSha } from '../src/cli/commands/eval.ts';
import { SimpleUNet } from '../src/core/model.ts';
import { makeSchedule } from '../src/core/schedule.ts';
import { generate, initialNoise } from '../src/core/generate.ts';
import { compareWithGolden, goldenSamples, perImageStats, GOLDEN_SETTINGS, GOLDEN_TOLERANCE, type GoldenFile } from '../src/core/golden.ts';

const golden = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'golden', 'golden.json'), 'utf8')) as GoldenFile;
const s = golden.settings;
const weightsDir = path.join(ROOT, s.weights);
const sha = weightsManifestSha(weightsDir);
const skip = sha === null
  ? `no weights at ${s.weights}`
  : sha !== golden.weightsManifestSha256
    ? `${s.weights}/weights.json has sha256 ${sha.slice(0, 12)}…, the golden was made from ${golden.weightsManifestSha256.slice(0, 12)}…: the weights changed, run \`npm run golden\` and commit test/fixtures/golden/`
    : false;
if (skip) console.log(`# golden: skipping the regeneration tests: ${skip}`);

test('golden.json is self-consistent (shape, stats, tolerance)', () => {
  const x = goldenSamples(golden);
  assert.equal(x.length, s.n * s.size * s.size * 3);
  assert.deepEqual(golden.tolerance, GOLDEN_TOLERANCE);
  assert.deepEqual(golden.settings, GOLDEN_SETTINGS, 'GOLDEN_SETTINGS changed: run `npm run golden`');
  const st = perImageStats(x, s.n, s.size);
  for (let i = 0; i < s.n; i++) for (let c = 0; c < 3; c++) {
    assert.ok(Math.abs(st[i].mean[c] - golden.perImage[i].mean[c]) < 1e-9);
    assert.ok(Math.abs(st[i].std[c] - golden.perImage[i].std[c]) < 1e-9);
  }
  // Clipped DDIM ends on x̂₀ ∈ [−1, 1], and trained weights do not give flat images.
  assert.ok(x.every((v) => v >= -1 - 1e-6 && v <= 1 + 1e-6), 'samples outside [-1, 1]');
  assert.ok(golden.perImage.every((p) => p.std.every((v) => v > 0.01)), 'a golden image is flat');
});

for (const [backend, images] of [['wasm', s.n], ['cpu', 1]] as const) {
  test(`regenerates the golden samples on ${backend} (${images} image${images > 1 ? 's' : ''}) within max |Δ| ≤ ${GOLDEN_TOLERANCE.maxAbs}`, { skip }, async () => {
    await useBackend(backend);
    const w = loadWeightsPath(weightsDir);
    const model = new SimpleUNet(w.config, w.weights);
    const out = await generate((x, t) => model.forward(x, t), makeSchedule(w.meta.schedule), {
      sampler: s.sampler, steps: s.steps, eta: s.eta, clipX0: s.clipX0, n: images, seed: s.seed, size: s.size, prediction: w.meta.prediction,
      initNoise: initialNoise(s.seed, s.n, s.size).subarray(0, images * s.size * s.size * 3),
    });
    const got = (await out.data()) as Float32Array;
    out.dispose();
    model.dispose();
    const cmp = compareWithGolden(got, golden, images);
    console.log(`# golden ${backend}: max |Δ| ${cmp.maxAbs.toExponential(2)} (tolerance ${cmp.tolerance})`);
    assert.ok(cmp.ok, `${backend}: max |Δ| ${cmp.maxAbs} at value ${cmp.worst} exceeds ${cmp.tolerance}`);
  });
}
