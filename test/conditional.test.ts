/**
 * Class conditioning and classifier-free guidance against PyTorch
 * (scripts/torch/make_cond_fixtures.py: a random width-0.125 network with 10 classes), plus the
 * contracts the page and the CLI rely on: an unconditional network is the seed's exactly, a zero
 * class embedding changes nothing, and guidance costs one forward pass on a doubled batch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend, FIXTURES, maxAbsDiff } from './helpers.ts';
import { loadTorchOrSafetensors } from '../src/core/weights/load-any.ts';
import { SimpleUNet, countParams, initParams, paramSpecs, SEED_CONFIG } from '../src/core/model.ts';
import { makeSchedule } from '../src/core/schedule.ts';
import { resolveSampling } from '../src/core/sampling-defaults.ts';
import { generate } from '../src/core/generate.ts';
import { conditionedDenoiser, checkConditioning, parseClass, classGridLabels } from '../src/core/guidance.ts';
import { readNpy, nchwToNhwc, nhwcToNchw } from '../src/cli/npy.ts';

const dir = path.join(FIXTURES, 'torch', 'cond');
const ckptPath = path.join(dir, 'tiny_cond_ckpt.pth');
const loaded = loadTorchOrSafetensors(new Uint8Array(fs.readFileSync(ckptPath)), ckptPath);
const int64 = (file: string) => {
  const b = fs.readFileSync(path.join(dir, file)); // int64 [2]: the last 16 bytes
  return [...new BigInt64Array(b.buffer.slice(b.byteOffset + b.length - 16, b.byteOffset + b.length))].map(Number);
};
const x = readNpy(path.join(dir, 'x.npy'));
const nhwc = (a: Float32Array) => tf.tensor4d(nchwToNhwc(a, 2, 3, 32, 32), [2, 32, 32, 3]);

test('a conditional checkpoint imports: 10 classes read from class_embedding, 5,632 more parameters', () => {
  assert.equal(loaded.config.numClasses, 10);
  assert.equal(countParams(loaded.config), countParams({ ...loaded.config, numClasses: 0 }) + 11 * 512);
  assert.deepEqual(int64('y.npy'), [4, 10]);
});

test('the unconditional network is the seed one: 124 tensors, 16,808,835 parameters at width 1', () => {
  assert.equal(SEED_CONFIG.numClasses, 0);
  assert.equal(paramSpecs().length, 124);
  assert.equal(countParams(), 16_808_835);
  assert.equal(countParams({ ...SEED_CONFIG, numClasses: 10 }), 16_814_467); // PyTorch's count for the same
});

for (const backend of ['wasm', 'cpu'] as const) {
  test(`conditional forward matches PyTorch within 1e-4, labels and "no class" (${backend})`, async () => {
    await useBackend(backend);
    const m = new SimpleUNet(loaded.config, loaded.weights);
    const labels = tf.tensor1d(int64('y.npy'), 'int32');
    const out = m.forward(nhwc(x.data), tf.tensor1d(int64('t.npy'), 'int32'), { labels });
    const err = maxAbsDiff(nhwcToNchw(out.dataSync() as Float32Array, 2, 32, 32, 3), readNpy(path.join(dir, 'eps.npy')).data);
    assert.ok(err < 1e-4, `max abs error ${err}`);
    tf.dispose([out, labels]);
    m.dispose();
  });

  test(`guided DDIM-10 (w = 3) matches PyTorch within 1e-3 (${backend})`, async () => {
    await useBackend(backend);
    const m = new SimpleUNet(loaded.config, loaded.weights);
    const out = await generate(conditionedDenoiser(m, 2, { labels: [3, 7], guidance: 3 }), makeSchedule(), {
      setting: resolveSampling({ sampler: 'ddim', steps: 10, eta: 0 }, makeSchedule().T), n: 2, seed: 0, initNoise: nchwToNhwc(readNpy(path.join(dir, 'noise.npy')).data, 2, 3, 32, 32),
    });
    const err = maxAbsDiff(nhwcToNchw(out.dataSync() as Float32Array, 2, 32, 32, 3), readNpy(path.join(dir, 'ddim10_guided.npy')).data);
    assert.ok(err < 1e-3, `max abs error ${err}`);
    out.dispose();
    m.dispose();
  });
}

test('a zero class embedding leaves the function unchanged (warm start from an unconditional net)', async () => {
  await useBackend('wasm');
  const cfg = { ...SEED_CONFIG, width: 0.125 };
  const values = initParams(cfg, 5);
  const plain = new SimpleUNet(cfg, values);
  const cond = new SimpleUNet({ ...cfg, numClasses: 10 }, new Map([...values, ['class_embedding.weight', new Float32Array(11 * 512)]]));
  const xx = nhwc(x.data);
  const tt = tf.tensor1d([3, 500], 'int32');
  const labels = tf.tensor1d([2, 9], 'int32');
  const a = plain.forward(xx, tt);
  const b = cond.forward(xx, tt, { labels });
  assert.equal(maxAbsDiff(a.dataSync(), b.dataSync()), 0);
  tf.dispose([a, b, xx, tt, labels]);
  plain.dispose();
  cond.dispose();
});

test('guidance runs ONE forward pass per step, on a doubled batch with [labels; no class]', async () => {
  await useBackend('wasm');
  const m = new SimpleUNet(loaded.config, loaded.weights);
  const calls: { batch: number; labels: number[] }[] = [];
  const forward = m.forward.bind(m);
  m.forward = (xx, tt, opts = {}, p) => {
    calls.push({ batch: xx.shape[0], labels: opts.labels ? [...opts.labels.dataSync()] : [] });
    return forward(xx, tt, opts, p);
  };
  const out = await generate(conditionedDenoiser(m, 2, { labels: [1, null], guidance: 4 }), makeSchedule(), { setting: resolveSampling({ sampler: 'ddim', steps: 3, eta: 0 }, makeSchedule().T), n: 2, seed: 1 });
  out.dispose();
  assert.equal(calls.length, 3);
  assert.deepEqual(calls[0], { batch: 4, labels: [1, 10, 10, 10] });
  m.dispose();
});

test('guided sampling leaks no tensors and is seeded (same labels, seed → same images)', async () => {
  await useBackend('wasm');
  const m = new SimpleUNet(loaded.config, loaded.weights);
  const run = async () => {
    const o = await generate(conditionedDenoiser(m, 2, { labels: [0, 5], guidance: 2 }), makeSchedule(), { setting: resolveSampling({ sampler: 'ddim', steps: 3, eta: 1 }, makeSchedule().T), n: 2, seed: 9 });
    const d = o.dataSync().slice();
    o.dispose();
    return d;
  };
  const first = await run();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) assert.deepEqual(await run(), first);
  assert.equal(tf.memory().numTensors, before);
  m.dispose();
});

test('conditioning is checked: classes by name or number, unconditional weights refuse labels', () => {
  assert.equal(parseClass('cat'), 3);
  assert.equal(parseClass('9'), 9);
  assert.throws(() => parseClass('dragon'), /unknown class 'dragon'.*airplane/);
  assert.deepEqual(classGridLabels(2).slice(0, 5), [0, 0, 1, 1, 2]);
  const cond = { config: loaded.config };
  const plain = { config: { ...loaded.config, numClasses: 0 } };
  assert.deepEqual([...checkConditioning(cond, 2, { labels: [3, null], guidance: 2 })!], [3, 10]);
  assert.equal(checkConditioning(cond, 2, {}), null);
  assert.equal(checkConditioning(plain, 2, { labels: [null, null] }), null);
  assert.throws(() => checkConditioning(plain, 1, { labels: [3] }), /unconditional/);
  assert.throws(() => checkConditioning(cond, 1, { labels: [10] }), /not in 0\.\.9/);
  assert.throws(() => checkConditioning(cond, 1, { labels: [1], guidance: Number.NaN }), /guidance/);
  assert.throws(() => checkConditioning(cond, 2, { labels: [1] }), /1 class labels for 2 images/);
});

test('the trainer learns a conditional network: labels reach class_embedding, "no class" rows too (label dropout)', async () => {
  await useBackend('wasm');
  const { Trainer, PROJECT_RECIPE, learningRate, UNLABELLED } = await import('../src/core/trainer.ts');
  const cfg = { ...SEED_CONFIG, width: 0.125, numClasses: 10 };
  const model = new SimpleUNet(cfg, undefined, 1);
  const images = new Uint8Array(6 * 3072).map((_, i) => (i * 37) % 256);
  const labels = Uint8Array.from([2, 2, 5, 5, UNLABELLED, 7]);
  const tr = new Trainer(model, makeSchedule(), { images, labels, count: 6 }, { ...PROJECT_RECIPE, batchSize: 6, totalSteps: 10, warmupSteps: 2, pUncond: 0.5, seed: 3 });
  for (let i = 0; i < 2; i++) await tr.trainStep();
  const emb = (await model.read()).get('class_embedding.weight')!;
  const rowNorm = (k: number) => Math.hypot(...emb.subarray(k * 512, (k + 1) * 512));
  for (const k of [2, 5, 7, 10]) assert.ok(rowNorm(k) > 0, `row ${k} was trained`);
  for (const k of [0, 1, 3, 4, 6, 8, 9]) assert.equal(rowNorm(k), 0, `row ${k} (no image of that class) stays zero`);
  // Warm-up then constant, as train.py's lr_at.
  assert.deepEqual([0, 1, 2, 9].map((s) => learningRate({ ...PROJECT_RECIPE, warmupSteps: 2 }, s)), [5e-4, 1e-3, 1e-3, 1e-3]);
  tr.dispose();
  model.dispose();
});

test('min-SNR-5 weights: 1 at high noise, below 1 where SNR > 5 (small t)', async () => {
  const { snr } = await import('../src/core/schedule.ts');
  const s = snr(makeSchedule());
  const w = (t: number) => Math.min(s[t], 5) / s[t];
  assert.equal(w(999), 1);
  assert.equal(w(500), 1);
  assert.ok(w(10) < 0.02 && w(10) > 0, `w(10) = ${w(10)}`);
  const cross = [...s].findIndex((v) => v < 5);
  assert.ok(cross > 100 && cross < 160, `SNR falls below 5 at t = ${cross}`);
});
