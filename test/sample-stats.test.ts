/**
 * Each shipped model (small; full width when it ships) makes CIFAR-like images: 32 samples (the page's default sampler, RECOMMENDED_SAMPLING: DDIM 20, η = 1; seed 0) have
 * per-channel mean and std near CIFAR-10's, and a patch distance (SWD on 7×7 Laplacian
 * neighbourhoods, against 32 test images) well below an untrained network's.
 *
 * Tolerances (in [0, 1] units): mean within 0.08 and std within 0.08 of the training-set pixel
 * statistics. 32 CIFAR images themselves vary by about ±0.02 in mean and ±0.01 in std around
 * these (seeded draws of 32 training images), so 0.08 leaves room for an imperfect model while
 * failing on the seed loop's noise blotches (std ≈ 0.5), a colour cast or washed-out samples.
 *
 * Patch distance: at N = 32 SWD has a large sampling floor — 32 training images score about
 * 62–72 (×1e3) against the 32 test images, an untrained network about 190 — so "below half the
 * untrained network's" would demand a perfect model. "Well below" is measured instead as the share
 * of the gap between the untrained network and real images that the samples close:
 *   closed = (SWD(untrained) − SWD(samples)) / (SWD(untrained) − SWD(train)), all at N = 32,
 * and the test asks for a per-model share (MIN_GAP_CLOSED below), with each model's own untrained network as the reference.
 * What that separates (measured with these weights and seeds, small model):
 * the untrained network 0%, the seed's 50-step loop on the shipped weights 2% (asserted below: the bar must reject it),
 * the 2,000-step snapshot 43%, the 3,910-step one 47%, the shipped 5,031-step weights 47% (52% at N = 256,
 * where the estimate is steadier); the full-width model (the small one widened, + 185 steps) 41%. The aim for
 * fully trained weights (the seed's 20 epochs) is over 50% at N = 32; the closing note of issue 5 keeps that as
 * future work.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { useBackend, ROOT } from './helpers.ts';
import { loadWeightsPath } from '../src/cli/weights-files.ts';
import { resolveCifarDir, loadCifar } from '../src/cli/data-path.ts';
import { seededIndices } from '../src/cli/commands/eval.ts';
import { SimpleUNet } from '../src/core/model.ts';
import { makeSchedule } from '../src/core/schedule.ts';
import { generate } from '../src/core/generate.ts';
import { resolveSampling, MAX_SAMPLING_STEPS, RECOMMENDED_SAMPLING, RECOMMENDED_GUIDANCE, type SamplerName } from '../src/core/sampling-defaults.ts';
import { toNHWCFloat } from '../src/core/data/cifar.ts';
import { swd } from '../src/core/metrics/swd.ts';
import { accuracy } from '../src/core/metrics/classifier.ts';
import { conditionedDenoiser } from '../src/core/guidance.ts';
import { balancedLabels } from '../src/cli/commands/eval.ts';
import { DEFAULT_CLASSIFIER, loadClassifierDir } from '../src/cli/commands/classifier-train.ts';
import { channelStats, quantize8, CIFAR_TRAIN_STATS } from '../src/core/metrics/image-stats.ts';

const N = 32;
const MEAN_TOL = 0.08;
const STD_TOL = 0.08;
/**
 * Per model, sampled as the page samples them (DDIM 20, η 0.5; the small model asks for classes
 * i mod 10 at guidance w). Measured with the small weights shipped last (2026-11-30, 50 epochs,
 * w 2): its guided samples close 73% of the gap and land in the class asked for 72% of the time
 * (N 32; the snapshot before closed 69% and scored 59% at w 3; the 2,932-step one before the
 * learning-rate change closed 29%). Its bars, 55% and 50%, sit about two standard errors of N 32
 * below that, and far above the seed loop's 3%, which the test checks the bar rejects. The
 * full-width model is the young unconditional one: at η 0.5 it closes 39% (41% at η 1), so its
 * bar is 35%.
 */
const MIN_GAP_CLOSED = { small: 0.55, full: 0.35 } as const;
/** Guided samples of a class-conditional model in the class asked for, by the project's classifier (chance 0.1). */
const MIN_CLASS_ACCURACY = 0.5;
const MODELS = { small: 'simple-unet-small', full: 'simple-unet' } as const;

let dataDir: string | null = null;
try {
  dataDir = resolveCifarDir();
} catch { /* no CIFAR-10 here: the SWD test skips */ }

/** The page's default: a conditional model asks for classes i mod 10 with the recommended guidance. */
async function sample(model: SimpleUNet, steps: number, sampler: SamplerName = RECOMMENDED_SAMPLING.sampler): Promise<Float32Array> {
  const c = model.config.numClasses ? { labels: balancedLabels(N), guidance: RECOMMENDED_GUIDANCE } : {};
  const out = await generate(conditionedDenoiser(model, N, c), makeSchedule(), { setting: resolveSampling({ sampler, steps }, MAX_SAMPLING_STEPS), n: N, seed: 0 });
  const x = (await out.data()) as Float32Array;
  out.dispose();
  return quantize8(x);
}

for (const [id, folder] of Object.entries(MODELS) as [keyof typeof MODELS, string][]) {
  const WEIGHTS = path.join(ROOT, 'public', 'weights', folder);
  const haveWeights = fs.existsSync(path.join(WEIGHTS, 'weights.json'));
  // The small model must ship; the full-width one is checked when it does.
  if (!haveWeights && id === 'full') {
    console.log(`# sample stats: ${folder} is not shipped: only the small model is checked`);
    continue;
  }
  let samples: Float32Array | null = null;

  test(`${id}: ${N} samples (DDIM ${RECOMMENDED_SAMPLING.steps}, η ${RECOMMENDED_SAMPLING.eta}) have CIFAR-10's per-channel mean ±${MEAN_TOL} and std ±${STD_TOL}`, async () => {
    assert.ok(haveWeights, `no shipped weights at ${path.relative(ROOT, WEIGHTS)}`);
    await useBackend('wasm');
    const w = loadWeightsPath(WEIGHTS);
    const model = new SimpleUNet(w.config, w.weights);
    samples = await sample(model, RECOMMENDED_SAMPLING.steps);
    model.dispose();
    const st = channelStats(samples);
    console.log(`# ${id} samples: mean ${st.mean.map((v) => v.toFixed(3))}, std ${st.std.map((v) => v.toFixed(3))} (CIFAR-10 ${CIFAR_TRAIN_STATS.mean} / ${CIFAR_TRAIN_STATS.std})`);
    for (let c = 0; c < 3; c++) {
      assert.ok(Math.abs(st.mean[c] - CIFAR_TRAIN_STATS.mean[c]) <= MEAN_TOL, `channel ${c} mean ${st.mean[c].toFixed(3)} vs ${CIFAR_TRAIN_STATS.mean[c]}`);
      assert.ok(Math.abs(st.std[c] - CIFAR_TRAIN_STATS.std[c]) <= STD_TOL, `channel ${c} std ${st.std[c].toFixed(3)} vs ${CIFAR_TRAIN_STATS.std[c]}`);
    }
  });

  test(`${id}: their patch distance (SWD, N ${N}) closes at least ${100 * MIN_GAP_CLOSED[id]}% of the gap from an untrained network to real images`, { skip: dataDir ? false : 'CIFAR-10 test data not found' }, async () => {
    await useBackend('wasm');
    assert.ok(samples, 'the first test did not produce samples');
    const w = loadWeightsPath(WEIGHTS);
    // The untrained network's samples are noise whatever the step count: 10 DDIM steps keep this test short.
    const untrained = new SimpleUNet(w.config, undefined, 0);
    const noise = await sample(untrained, 10);
    untrained.dispose();
    // The bar must also reject a bad sampler on good weights: the seed's 50-step loop (shown once, on the small model).
    let seedLoop: Float32Array | null = null;
    if (id === 'small') {
      const model = new SimpleUNet(w.config, w.weights);
      seedLoop = await sample(model, 50, 'seed');
      model.dispose();
    }
    const test = loadCifar(dataDir!, 'test');
    const train = loadCifar(dataDir!, 'train', { limit: 10000 });
    const real = toNHWCFloat(test.images, seededIndices(test.count, N, 1234));
    const floor = swd(real, toNHWCFloat(train.images, seededIndices(train.count, N, 4321)), N).average;
    const trained = swd(real, samples!, N).average;
    const random = swd(real, noise, N).average;
    const closed = (random - trained) / (random - floor);
    const seedSwd = seedLoop ? swd(real, seedLoop, N).average : null;
    const seedClosed = seedSwd === null ? null : (random - seedSwd) / (random - floor);
    console.log(`# ${id} SWD×1e3 (avg of 32/16 px, N ${N}): samples ${trained.toFixed(1)}, untrained ${random.toFixed(1)}, training images ${floor.toFixed(1)}`
      + `${seedSwd === null ? '' : `, seed loop ${seedSwd.toFixed(1)}`}; gap closed ${(100 * closed).toFixed(0)}%`
      + `${seedClosed === null ? '' : ` (seed loop ${(100 * seedClosed).toFixed(0)}%)`}, samples/untrained ${(trained / random).toFixed(2)}`);
    if (seedClosed !== null) assert.ok(seedClosed < MIN_GAP_CLOSED[id], `the bar does not separate: the seed loop closes ${(100 * seedClosed).toFixed(0)}% too`);
    assert.ok(closed >= MIN_GAP_CLOSED[id], `SWD ${trained.toFixed(1)} closes only ${(100 * closed).toFixed(0)}% of the gap from untrained (${random.toFixed(1)}) to real images (${floor.toFixed(1)})`);
  });

  const conditional = haveWeights && loadWeightsPath(WEIGHTS).config.numClasses > 0;
  test(`${id}: guided samples (w ${RECOMMENDED_GUIDANCE}) land in the class asked for at least ${100 * MIN_CLASS_ACCURACY}% of the time (chance 10%)`, { skip: conditional ? false : 'unconditional weights' }, async () => {
    await useBackend('wasm');
    assert.ok(samples, 'the first test did not produce samples');
    const c = loadClassifierDir(path.join(ROOT, DEFAULT_CLASSIFIER));
    const { logits } = await c.model.embed(samples!, N);
    c.model.dispose();
    const acc = accuracy(logits, balancedLabels(N));
    console.log(`# ${id}: ${(100 * acc).toFixed(1)}% of ${N} guided samples classified as the class asked for`);
    assert.ok(acc >= MIN_CLASS_ACCURACY, `only ${(100 * acc).toFixed(1)}% in the class asked for`);
  });
}
