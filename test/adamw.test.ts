/**
 * The fused optimizer step on wasm (fused/wasm-adamw.ts) against the op path it replaces
 * (src/core/adamw.ts): the AdamW + EMA update gives the same bits for the same clipping factor,
 * the fused gradient norm matches to float rounding, a Trainer on either path follows the same
 * trajectory over several clipped steps and resumes from its saved state exactly, and tf.memory()
 * stays flat across steps on the fused path (fused GroupNorm, filter gradient and AdamW together).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from './helpers.ts';
import { Rng } from '../src/core/rng.ts';
import { SimpleUNet } from '../src/core/model.ts';
import { makeSchedule } from '../src/core/schedule.ts';
import { Trainer, type TrainerState } from '../src/core/trainer.ts';
import { adamwEmaStep, globalNorm, setFusedAdamW, usesFusedAdamW, type ParamSlot } from '../src/core/adamw.ts';
import { usesFusedGroupNorm } from '../src/core/group-norm.ts';

await useBackend('wasm');

/** Runs f with the fused optimizer kernels on or off. */
function withFused<T>(on: boolean, f: () => T): T {
  setFusedAdamW(on);
  try {
    return f();
  } finally {
    setFusedAdamW(true);
  }
}

test('the fused kernels are registered on wasm', () => {
  assert.ok(usesFusedAdamW());
});

test('AdamW + EMA: the fused kernel gives the op path\'s bits over three steps (clipped, and odd sizes)', () => {
  const shapes = [[3], [5, 7], [3, 3, 4, 8], [64]];
  const r = new Rng(4);
  const init = shapes.map((s) => ['p', 'm', 'v', 'ema'].map((k) => {
    const n = s.reduce((a, b) => a * b);
    return Float32Array.from(r.normals(n), (x) => (k === 'v' ? Math.abs(x) * 1e-3 : x));
  }));
  const grads = [0, 1, 2].map(() => shapes.map((s) => r.normals(s.reduce((a, b) => a * b))));
  const run = (fused: boolean) => {
    const slots = shapes.map((s, i) => init[i].map((a) => tf.variable(tf.tensor(a, s), false)));
    for (let step = 1; step <= 3; step++) {
      tf.tidy(() => {
        const clip = tf.scalar(step === 2 ? 1 : 0.37 / step);
        const ps: ParamSlot[] = slots.map(([p, m, v, ema], i) => ({ p, m, v, ema, grad: tf.tensor(grads[step - 1][i], shapes[i]) }));
        withFused(fused, () => adamwEmaStep(ps, clip, { lr: 1e-3 * step, weightDecay: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, emaDecay: 0.95, step }));
      });
    }
    const out = slots.map((vs) => vs.map((v) => Array.from(v.dataSync())));
    tf.dispose(slots.flat());
    return out;
  };
  assert.deepEqual(run(true), run(false));
});

test('the fused global gradient norm matches the op path to float rounding', () => {
  const r = new Rng(5);
  const gs = [[7], [16, 9], [3, 3, 8, 16], [1]].map((s) => tf.tensor(r.normals(s.reduce((a, b) => a * b)), s));
  const [fused, ops] = [true, false].map((on) => withFused(on, () => tf.tidy(() => globalNorm(gs).dataSync()[0])));
  assert.ok(Math.abs(fused - ops) <= 1e-6 * ops, `${fused} vs ${ops}`);
  assert.equal(withFused(true, () => tf.tidy(() => globalNorm([]).dataSync()[0])), 0);
  tf.dispose(gs);
});

const images = Uint8Array.from({ length: 64 * 3072 }, (_, i) => (i * 131) % 251);
const data = { images, count: 64, labels: Uint8Array.from({ length: 64 }, (_, i) => i % 10) };
// clipNorm 0.05: every step is clipped, so the clipping factor (from the norm) feeds the update.
const cfg = { batchSize: 4, totalSteps: 10, lr: 2e-3, seed: 3, clipNorm: 0.05, emaDecay: 0.9 };

// Width 0.25, not 0.125: at 0.125 each GroupNorm group is one channel, so the bias in front of it
// cancels and its gradient is pure rounding noise, which Adam scales up to ±lr on either path.
async function trainOn(fused: boolean, steps: number) {
  setFusedAdamW(fused);
  try {
    const m = new SimpleUNet({ width: 0.25, numClasses: 10 }, undefined, 2);
    const tr = new Trainer(m, makeSchedule(), data, cfg);
    const norms: number[] = [];
    for (let i = 0; i < steps; i++) norms.push((await tr.trainStep()).gradNorm);
    const state = await tr.state();
    tr.dispose();
    m.dispose();
    return { norms, state };
  } finally {
    setFusedAdamW(true);
  }
}

/** The largest difference relative to its tensor's largest value, and where. */
function maxRelDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): [number, string] {
  let worst: [number, string] = [0, ''];
  for (const [k, x] of a) {
    if (k === 'mid_attn.k.bias') continue; // adds q·b to every logit of a row: softmax cancels it, its gradient is rounding noise
    const y = b.get(k)!;
    let [scale, err] = [1e-20, 0];
    for (let i = 0; i < x.length; i++) [scale, err] = [Math.max(scale, Math.abs(x[i])), Math.max(err, Math.abs(x[i] - y[i]))];
    if (err / scale > worst[0]) worst = [err / scale, k];
  }
  return worst;
}

test('a Trainer on the fused path follows the op path over four clipped steps (weights, EMA, both moments)', async () => {
  const fused = await trainOn(true, 4);
  const ops = await trainOn(false, 4);
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(fused.norms[i] - ops.norms[i]) <= 1e-5 * ops.norms[i], `step ${i + 1}: norm ${fused.norms[i]} vs ${ops.norms[i]}`);
  assert.ok(fused.norms.every((n) => n > cfg.clipNorm), 'every step was clipped');
  for (const k of ['weights', 'ema', 'adamM', 'adamV'] as const) {
    const [d, where] = maxRelDiff(fused.state[k], ops.state[k]);
    assert.ok(d < 1e-4, `${k}: relative difference ${d} (${where})`);
  }
});

test('on the fused path a saved state resumes exactly (same bits as an uninterrupted run)', async () => {
  const straight = await trainOn(true, 3);
  const first = await trainOn(true, 2);
  const m = new SimpleUNet({ width: 0.25, numClasses: 10 }, undefined, 7);
  const tr = Trainer.restore(m, makeSchedule(), data, first.state as TrainerState);
  await tr.trainStep();
  const resumed = await tr.state();
  tr.dispose();
  m.dispose();
  for (const k of ['weights', 'ema', 'adamM', 'adamV'] as const) {
    for (const [name, a] of straight.state[k]) assert.deepEqual(resumed[k].get(name), a, `${k} ${name}`);
  }
});

test('tf.memory() stays flat across training steps on the fused path', async () => {
  const m = new SimpleUNet({ width: 0.25, numClasses: 10 }, undefined, 1);
  const tr = new Trainer(m, makeSchedule(), data, { ...cfg, batchSize: 2 });
  assert.ok(usesFusedAdamW() && usesFusedGroupNorm(tf.zeros([1, 2, 2, 16]), 8), 'the fused kernels run');
  await tr.trainStep();
  const before = tf.memory();
  for (let i = 0; i < 3; i++) {
    await tr.trainStep();
    const now = tf.memory();
    assert.equal(now.numTensors, before.numTensors, `step ${i + 2}: tensors`);
    assert.equal(now.numBytes, before.numBytes, `step ${i + 2}: bytes`);
  }
  tr.dispose();
  m.dispose();
});
