/**
 * `npm run golden`: regenerates test/fixtures/golden/ from the shipped weights on the wasm
 * backend, one file per entry of GOLDENS whose weights folder exists (small: DDIM 20, η = 0,
 * 4 images, seed 0; full width: DDIM 10, 2 images). Run it whenever those weights change;
 * test/golden.test.ts skips (and says to run this) while a folder's sha256 differs from its golden's.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initNodeBackend, tf } from '../src/cli/tf-node.ts';
import { loadWeightsPath } from '../src/cli/weights-files.ts';
import { encodePNG, imageGrid } from '../src/cli/png.ts';
import { weightsManifestSha } from '../src/cli/commands/eval.ts';
import { SimpleUNet } from '../src/core/model.ts';
import { makeSchedule } from '../src/core/schedule.ts';
import { resolveSampling } from '../src/core/sampling-defaults.ts';
import { generate } from '../src/core/generate.ts';
import { conditionedDenoiser } from '../src/core/guidance.ts';
import { GOLDENS, GOLDEN_TOLERANCE, encodeSamples, perImageStats, type GoldenFile } from '../src/core/golden.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const GOLDEN_DIR = path.join(ROOT, 'test', 'fixtures', 'golden');

const backend = await initNodeBackend('wasm');
for (const [id, { file, settings: s }] of Object.entries(GOLDENS)) {
  const weightsDir = path.join(ROOT, s.weights);
  const sha = weightsManifestSha(weightsDir);
  if (!sha) {
    console.log(`${id}: no weights manifest in ${s.weights}: no golden written`);
    continue;
  }
  const w = loadWeightsPath(weightsDir);
  const model = new SimpleUNet(w.config, w.weights);
  const t0 = performance.now();
  const out = await generate(conditionedDenoiser(model, s.n, { labels: s.labels, guidance: s.guidance }), makeSchedule(w.meta.schedule), {
    setting: resolveSampling(s, makeSchedule(w.meta.schedule).T), n: s.n, seed: s.seed, size: s.size, prediction: w.meta.prediction,
  });
  const x = (await out.data()) as Float32Array;
  out.dispose();
  model.dispose();

  const golden: GoldenFile = {
    format: 'diffusion-golden', version: 1, settings: s, weightsManifestSha256: sha, weightsTrainingSteps: w.meta.training?.steps ?? null,
    createdWith: { backend, tfjs: tf.version_core, node: process.version, date: new Date().toISOString() },
    tolerance: GOLDEN_TOLERANCE, perImage: perImageStats(x, s.n, s.size),
    samples: { dtype: 'float32', layout: 'NHWC', shape: [s.n, s.size, s.size, 3], base64: encodeSamples(x) },
  };
  fs.mkdirSync(GOLDEN_DIR, { recursive: true });
  fs.writeFileSync(path.join(GOLDEN_DIR, file), JSON.stringify(golden, null, 1) + '\n');
  const png = file.replace(/\.json$/, '.png');
  const { rgb, width, height } = imageGrid(x, s.n, s.size, Math.min(4, s.n));
  fs.writeFileSync(path.join(GOLDEN_DIR, png), encodePNG(rgb, width, height));
  console.log(`wrote ${path.relative(ROOT, GOLDEN_DIR)}/${file} and ${png}: ${s.n} images, DDIM ${s.steps} (η ${s.eta}), seed ${s.seed}, `
    + `weights ${s.weights} (sha256 ${sha.slice(0, 12)}…, ${golden.weightsTrainingSteps ?? '?'} training steps), ${backend}, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
