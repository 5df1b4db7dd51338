/** The light worker's plain-JS core formulas agree with the tfjs versions the model uses. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend, maxAbsDiff } from './helpers.ts';
import { timeEmbedding, timeEmbeddingValues } from '../src/core/model.ts';
import { addNoise, addNoiseValues } from '../src/core/diffusion.ts';
import { makeSchedule } from '../src/core/schedule.ts';
import { Rng } from '../src/core/rng.ts';
import { toNHWCFloat } from '../src/core/data/cifar.ts';

test('timeEmbeddingValues equals the tfjs timeEmbedding (dim 128, every t in 0..999)', async () => {
  const tf = await useBackend('wasm');
  const T = 1000;
  const dim = 128;
  const steps = Array.from({ length: T }, (_, t) => t);
  const plain = timeEmbeddingValues(steps, dim);
  const tt = tf.tensor1d(steps, 'int32');
  const emb = timeEmbedding(tt, dim);
  const ref = emb.dataSync() as Float32Array;
  assert.deepEqual(emb.shape, [T, dim]);
  tt.dispose();
  emb.dispose();
  assert.equal(plain.length, ref.length);
  const d = maxAbsDiff(plain, ref);
  assert.ok(d < 1e-4, `max |plain − tfjs| = ${d}`);
  // Layout: row t, [sin | cos]; t = 0 gives sin 0 = 0 and cos 0 = 1.
  for (let i = 0; i < dim / 2; i++) {
    assert.equal(plain[i], 0);
    assert.equal(plain[dim / 2 + i], 1);
  }
  // The first frequency is 1: column 0 of row t is sin(t).
  assert.ok(Math.abs(plain[500 * dim] - Math.sin(500)) < 1e-4);
});

test('timeEmbeddingValues rejects odd or tiny dims', () => {
  assert.throws(() => timeEmbeddingValues([0], 7), /even integer/);
  assert.throws(() => timeEmbeddingValues([0], 2), /even integer/);
});

test('addNoiseValues equals the tfjs addNoise for linear and cosine schedules', async () => {
  const tf = await useBackend('wasm');
  const img = new Uint8Array(3072);
  const rng = new Rng(3);
  for (let i = 0; i < img.length; i++) img[i] = rng.int(256);
  const x0 = toNHWCFloat(img, [0]);
  const eps = new Rng(7).normals(3072);
  for (const kind of ['linear', 'cosine'] as const) {
    const s = makeSchedule({ kind });
    for (const t of [0, 100, 500, 999]) {
      const plain = addNoiseValues(s, x0, eps, t);
      const a = tf.tensor4d(x0, [1, 32, 32, 3]);
      const n = tf.tensor4d(eps, [1, 32, 32, 3]);
      const ref = addNoise(s, a, n, [t]);
      const d = maxAbsDiff(plain.xt, ref.dataSync());
      tf.dispose([a, n, ref]);
      assert.ok(d < 1e-5, `${kind} t=${t}: max diff ${d}`);
      assert.equal(plain.alphaBar, s.alphasCumprod[t]);
      assert.ok(Math.abs(plain.signalWeight ** 2 + plain.noiseWeight ** 2 - 1) < 1e-12);
    }
  }
  const s = makeSchedule();
  assert.throws(() => addNoiseValues(s, x0, eps, 1000), /t must be/);
  assert.throws(() => addNoiseValues(s, x0, eps.subarray(1), 5), /noise has/);
});

test('movingAverage: centred window, shrinking at the ends, same length', async () => {
  const { movingAverage } = await import('../src/core/plain.ts');
  assert.deepEqual(Array.from(movingAverage([1, 2, 3, 4, 5], 3)), [1.5, 2, 3, 4, 4.5]);
  assert.deepEqual(Array.from(movingAverage([1, 2, 3], 1)), [1, 2, 3]);
  assert.equal(movingAverage([], 5).length, 0);
  const flat = movingAverage(new Array(100).fill(0.25), 20);
  assert.ok(flat.every((v) => Math.abs(v - 0.25) < 1e-7));
});
