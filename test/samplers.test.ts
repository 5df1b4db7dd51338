/**
 * Samplers on a case with a known optimal denoiser: when the data is a single image x*, the
 * best noise prediction is ε̂(x_t, t) = (x_t − √ᾱ_t·x*)/√(1−ᾱ_t), so x̂₀ = x* at every step and
 * a correct sampler must land on x*.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend, maxAbsDiff } from './helpers.ts';
import { makeSchedule } from '../src/core/schedule.ts';
import { generate, type Denoiser } from '../src/core/generate.ts';
import { makeSampler } from '../src/core/samplers.ts';
import { resolveSampling, stridedTimesteps } from '../src/core/sampling-defaults.ts';
import { Rng } from '../src/core/rng.ts';

import * as tf from '@tensorflow/tfjs-core';
await useBackend('cpu');
const schedule = makeSchedule();
const N = 2;
const xStar = new Rng(42).normals(N * 32 * 32 * 3).map((v) => Math.tanh(v));

function oracle(prediction: 'epsilon' | 'v'): Denoiser {
  return (x, t) => tf.tidy(() => {
    const ts = Array.from(t.dataSync());
    const ab = tf.tensor4d(ts.map((ti) => schedule.alphasCumprod[ti]), [ts.length, 1, 1, 1]);
    const x0 = tf.tensor4d(xStar, [N, 32, 32, 3]);
    const eps = tf.div(tf.sub(x, tf.mul(tf.sqrt(ab), x0)), tf.sqrt(tf.sub(1, ab)));
    if (prediction === 'epsilon') return eps as tf.Tensor4D;
    return tf.sub(tf.mul(tf.sqrt(ab), eps), tf.mul(tf.sqrt(tf.sub(1, ab)), x0)) as tf.Tensor4D;
  });
}

async function finalError(sampler: 'ddim' | 'ddpm' | 'dpmpp2m' | 'seed', steps: number, extra: { prediction?: 'v'; eta?: number; clipX0?: boolean } = {}) {
  // η 0 unless asked: the deterministic DDIM these bounds were set for.
  const setting = resolveSampling({ sampler, steps, eta: extra.eta ?? 0, clipX0: extra.clipX0 }, schedule.T);
  const out = await generate(oracle(extra.prediction ?? 'epsilon'), schedule, { setting, prediction: extra.prediction, n: N, seed: 3 });
  const err = maxAbsDiff(await out.data(), xStar);
  out.dispose();
  return err;
}

test('timesteps are strided like the seed loop: 999, 979, …, 19 for 50 steps', () => {
  const ts = stridedTimesteps(1000, 50);
  assert.equal(ts.length, 50);
  assert.equal(ts[0], 999);
  assert.equal(ts[1], 979);
  assert.equal(ts[49], 19);
  assert.deepEqual(stridedTimesteps(1000, 1000).slice(-3), [2, 1, 0]);
  assert.throws(() => stridedTimesteps(1000, 0), /steps must be an integer/);
});

test('DDIM (η = 0) lands on the single data point', async () => {
  for (const steps of [1, 10, 50]) assert.ok((await finalError('ddim', steps)) < 1e-4, `steps ${steps}`);
});

test('DDIM with η = 1, DDPM-1000 and DPM-Solver++(2M) also land on it', async () => {
  assert.ok((await finalError('ddim', 20, { eta: 1 })) < 1e-4);
  assert.ok((await finalError('dpmpp2m', 10)) < 1e-4);
  assert.ok((await finalError('ddpm', 1000)) < 1e-4);
  assert.ok((await finalError('ddpm', 25)) < 1e-4);
});

test('v-prediction gives the same answer through the same samplers', async () => {
  assert.ok((await finalError('ddim', 10, { prediction: 'v' })) < 1e-4);
  assert.ok((await finalError('dpmpp2m', 10, { prediction: 'v' })) < 1e-4);
});

test("the seed's 50-step loop does NOT land on it, even with a perfect denoiser", async () => {
  const err = await finalError('seed', 50);
  // Each step removes one step's worth of noise while the loop skips 20: most noise remains.
  assert.ok(err > 0.5, `seed loop error ${err}`);
});

test("the seed loop's step is the one-step DDPM posterior mean for t → t−1", () => {
  const s = makeSampler('seed', schedule);
  s.setTimesteps(50);
  const x = tf.tensor4d(new Rng(1).normals(32 * 32 * 3), [1, 32, 32, 3]);
  const eps = tf.tensor4d(new Rng(2).normals(32 * 32 * 3), [1, 32, 32, 3]);
  const t = 979;
  const { prevSample, predOriginalSample } = s.step(eps, t, x, new Rng(0));
  // Written out independently, in the ε form: (x − β_t/√(1−ᾱ_t)·ε)/√α_t
  const expected = tf.div(tf.sub(x, tf.mul(eps, schedule.betas[t] / Math.sqrt(1 - schedule.alphasCumprod[t]))), Math.sqrt(schedule.alphas[t]));
  assert.ok(maxAbsDiff(prevSample.dataSync(), expected.dataSync()) < 1e-5);
  tf.dispose([x, eps, prevSample, predOriginalSample, expected]);
});

test('sampling leaks no tensors', async () => {
  await finalError('ddim', 5);
  const before = tf.memory().numTensors;
  for (const name of ['ddim', 'ddpm', 'dpmpp2m', 'seed'] as const) await finalError(name, 6);
  assert.equal(tf.memory().numTensors, before);
});

test('cancelling stops sampling with an AbortError and frees its tensors', async () => {
  const before = tf.memory().numTensors;
  const ac = new AbortController();
  let steps = 0;
  await assert.rejects(
    generate(oracle('epsilon'), schedule, { setting: resolveSampling({ sampler: 'ddim', steps: 50, eta: 0 }, schedule.T), n: N, seed: 1, signal: ac.signal, onStep: () => { if (++steps === 3) ac.abort(); } }),
    { name: 'AbortError' });
  assert.equal(steps, 3);
  assert.equal(tf.memory().numTensors, before);
});

test('a sampler keeps its place in the run: steps out of order are refused, not looked up', () => {
  const s = makeSampler('ddim', schedule);
  s.setTimesteps(resolveSampling({ sampler: 'ddim', steps: 5, eta: 0 }, schedule.T).timesteps);
  const x = tf.zeros([1, 32, 32, 3]) as tf.Tensor4D;
  const out = s.step(x, s.timesteps[0], x, new Rng(0));
  tf.dispose([out.prevSample, out.predOriginalSample]);
  assert.throws(() => s.step(x, s.timesteps[0], x, new Rng(0)), /step 2 of this run is at t = 799, not 999/);
  s.setTimesteps(3); // 999, 666, 333: a new run starts at its first level
  assert.throws(() => s.step(x, 666, x, new Rng(0)), /step 1 of this run is at t = 999, not 666/);
  x.dispose();
});
