/** Quality metrics: SWD (ProGAN's patch distance), KID, the KID classifier's gradients and weights file. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from './helpers.ts';
import { Rng } from '../src/core/rng.ts';
import { laplacianPyramid, slicedWasserstein, swd, normalizeDescriptors } from '../src/core/metrics/swd.ts';
import { kid, polyKernel } from '../src/core/metrics/kid.ts';
import { channelStats, quantize8 } from '../src/core/metrics/image-stats.ts';
import { CifarClassifier, CIFAR_MEAN, CIFAR_STD, augmentBatch, decodeClassifier, encodeClassifier, accuracy } from '../src/core/metrics/classifier.ts';
import { toNHWCFloat } from '../src/core/data/cifar.ts';

/** Random "scenes": a background and three rectangles of random colours, in [-1, 1]. */
function rectImages(n: number, seed: number): Float32Array {
  const r = new Rng(seed);
  const out = new Float32Array(n * 3072);
  for (let i = 0; i < n; i++) {
    const bg = [0, 1, 2].map(() => r.uniform() * 2 - 1);
    for (let p = 0; p < 1024; p++) out.set(bg, (i * 1024 + p) * 3);
    for (let k = 0; k < 3; k++) {
      const col = [0, 1, 2].map(() => r.uniform() * 2 - 1);
      const x0 = r.int(28), y0 = r.int(28);
      const x1 = x0 + 4 + r.int(32 - x0 - 3), y1 = y0 + 4 + r.int(32 - y0 - 3);
      for (let y = y0; y < Math.min(32, y1); y++) for (let x = x0; x < Math.min(32, x1); x++) out.set(col, ((i * 32 + y) * 32 + x) * 3);
    }
  }
  return out;
}

test('Laplacian pyramid: a flat image has no band-pass energy and keeps its value in the residual', () => {
  const img = new Float32Array(3072).fill(0.25);
  const [l32, l16] = laplacianPyramid(img, 0, 32, 2);
  assert.equal(l32.length, 3 * 32 * 32);
  assert.equal(l16.length, 3 * 16 * 16);
  assert.ok(l32.every((v) => Math.abs(v) < 1e-6));
  assert.ok(l16.every((v) => Math.abs(v - 0.25) < 1e-6));
});

test('sliced Wasserstein: zero for a permuted copy, positive for a shifted set', () => {
  const r = new Rng(3);
  const dim = 12;
  const a = r.normals(200 * dim);
  const perm = new Float32Array(a.length);
  for (let i = 0; i < 200; i++) perm.set(a.subarray(((i * 37) % 200) * dim, (((i * 37) % 200) + 1) * dim), i * dim);
  assert.ok(slicedWasserstein(a, perm, dim, 16, 2, new Rng(1)) < 1e-6);
  const shifted = a.map((v) => v + 1);
  // Projections of a +1 shift move by Σ dᵢ; E|Σ dᵢ| over random unit directions is about √(2/π) ≈ 0.8.
  const d = slicedWasserstein(a, shifted, dim, 64, 4, new Rng(1));
  assert.ok(d > 0.5 && d < 1.1, `${d}`);
  const b = a.slice();
  normalizeDescriptors(b, dim);
  for (let c = 0; c < 3; c++) {
    let s = 0;
    for (let i = 0; i < 200; i++) for (let j = 0; j < 4; j++) s += b[i * dim + c * 4 + j];
    assert.ok(Math.abs(s / 800) < 1e-5);
  }
});

test('SWD is seeded, near the floor for two draws of one distribution, and large for noise', () => {
  const n = 24;
  const a = rectImages(n, 1);
  const b = rectImages(n, 2);
  const noise = new Rng(9).normals(n * 3072).map((v) => Math.max(-1, Math.min(1, v)));
  const opts = { patchesPerImage: 64, directions: 32, repeats: 2 };
  const same = swd(a, b, n, opts);
  assert.deepEqual(swd(a, b, n, opts), same, 'same seed, same result');
  const far = swd(a, noise, n, opts);
  assert.deepEqual(same.resolutions, [32, 16]);
  assert.equal(same.descriptorsPerLevel, n * 64);
  // With 24 images and 32 directions the floor itself is high; noise lands ~2.4x above it.
  assert.ok(far.average > 2 * same.average, `noise ${far.average} vs same distribution ${same.average}`);
  assert.throws(() => swd(a, b.subarray(0, 3072), n), /expected two sets/);
});

test('KID: matches the unbiased MMD² formula, ≈ 0 for one distribution, > 0 for a shifted one', () => {
  const d = 8;
  const r = new Rng(5);
  const m = 40;
  const x = r.normals(m * d);
  const y = r.normals(m * d);
  // One subset of all rows = the plain unbiased estimator.
  const kxx = polyKernel(x, m, x, m, d);
  const kyy = polyKernel(y, m, y, m, d);
  const kxy = polyKernel(x, m, y, m, d);
  let sxx = 0, syy = 0, sxy = 0;
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) {
    if (i !== j) { sxx += kxx[i * m + j]; syy += kyy[i * m + j]; }
    sxy += kxy[i * m + j];
  }
  const direct = sxx / (m * (m - 1)) + syy / (m * (m - 1)) - (2 * sxy) / (m * m);
  const one = kid(x, m, y, m, d, { subsets: 1 });
  assert.ok(Math.abs(one.kid - direct) < 1e-9, `${one.kid} vs ${direct}`);

  const big = 300;
  const a = new Rng(6).normals(big * d);
  const b = new Rng(7).normals(big * d);
  const same = kid(a, big, b, big, d, { subsets: 20, subsetSize: 150 });
  const shifted = kid(a, big, b.map((v) => v + 0.5), big, d, { subsets: 20, subsetSize: 150 });
  assert.ok(Math.abs(same.kid) < 0.05, `same distribution: ${same.kid}`);
  assert.ok(shifted.kid > 10 * Math.abs(same.kid) && shifted.kid > 0.1, `shifted: ${shifted.kid}`);
  assert.equal(same.subsetSize, 150);
});

test('quantize8 rounds to 8-bit levels; channelStats works in [0, 1] units', () => {
  const q = quantize8(new Float32Array([-2, -1, 0, 0.001, 1, 3]));
  assert.deepEqual([...q].map((v) => Math.round((v + 1) * 127.5)), [0, 0, 128, 128, 255, 255]);
  const img = new Float32Array(3072);
  for (let p = 0; p < 1024; p++) img.set([p % 2 ? 1 : -1, 0, -1], p * 3);
  const st = channelStats(img);
  assert.deepEqual(st.mean.map((v) => +v.toFixed(6)), [0.5, 0.5, 0]);
  assert.deepEqual(st.std.map((v) => +v.toFixed(6)), [0.5, 0, 0]);
});

test('classifier: hand-written conv/BatchNorm/max-pool gradients equal autodiff (cpu)', async () => {
  await useBackend('cpu');
  const m = new CifarClassifier({ channels: [4, 8, 8], hidden: 6 }, undefined, 1);
  const B = 3;
  const x = tf.tensor4d(new Rng(0).normals(B * 3072), [B, 32, 32, 3]);
  const y = tf.oneHot(tf.tensor1d([1, 2, 3], 'int32'), 10);
  const vars = m.trainableVariables();
  const reference = () => {
    const p = (k: string) => m.params.get(k)!;
    let h: tf.Tensor4D = tf.div(tf.sub(x, tf.tensor1d(CIFAR_MEAN.map((v) => 2 * v - 1))), tf.tensor1d(CIFAR_STD.map((s) => 2 * s)));
    for (const name of ['stage1.conv1', 'stage2.conv1', 'stage3.conv1']) {
      h = tf.conv2d(h, p(`${name}.weight`) as tf.Tensor4D, 1, 'same');
      const { mean, variance } = tf.moments(h, [0, 1, 2]);
      h = tf.relu(tf.add(tf.mul(tf.mul(tf.sub(h, mean), tf.rsqrt(tf.add(variance, 1e-5))), p(`${name}.bn.weight`)), p(`${name}.bn.bias`))) as tf.Tensor4D;
      h = tf.maxPool(h, 2, 2, 'valid');
    }
    const f = tf.relu(tf.add(tf.matMul(tf.reshape(h, [B, -1]) as tf.Tensor2D, p('fc1.weight') as tf.Tensor2D), p('fc1.bias'))) as tf.Tensor2D;
    return tf.losses.softmaxCrossEntropy(y, tf.add(tf.matMul(f, p('fc2.weight') as tf.Tensor2D), p('fc2.bias'))) as tf.Scalar;
  };
  const want = tf.variableGrads(reference, vars);
  const got = tf.variableGrads(() => {
    const o = m.apply(x, true);
    for (const s of o.batchStats!.values()) { s.mean.dispose(); s.variance.dispose(); }
    return tf.losses.softmaxCrossEntropy(y, o.logits) as tf.Scalar;
  }, vars);
  assert.ok(Math.abs(want.value.dataSync()[0] - got.value.dataSync()[0]) < 1e-6);
  for (const v of vars) {
    const a = want.grads[v.name].dataSync();
    const b = got.grads[v.name].dataSync();
    let err = 0;
    let scale = 0;
    for (let i = 0; i < a.length; i++) { err = Math.max(err, Math.abs(a[i] - b[i])); scale = Math.max(scale, Math.abs(a[i])); }
    assert.ok(err <= 1e-5 * Math.max(1, scale), `${v.name}: ${err}`);
  }
  m.dispose();
});

test('classifier: float16 weights file round-trips; inference uses running statistics; crops and flips', async () => {
  await useBackend('wasm');
  const cfg = { channels: [4, 8, 8] as [number, number, number], hidden: 6, double: false, head: 'gap' as const };
  const m = new CifarClassifier(cfg, undefined, 2);
  const values = await m.read();
  values.get('stage1.conv1.bn.running_mean')!.fill(0.1);
  const record = { testAccuracy: 0.5, testImages: 10, epochs: 1, steps: 1, batchSize: 1, wallTimeS: 1, hardware: 'x', command: 'y', recipe: {} };
  const { manifest, shards } = encodeClassifier(values, cfg, record);
  assert.equal(manifest.format, 'cifar-classifier-weights');
  assert.equal(manifest.weightsManifest[0].weights[0].quantization?.dtype, 'float16');
  const back = decodeClassifier(JSON.parse(JSON.stringify(manifest)), shards);
  assert.deepEqual(back.config, cfg);
  assert.equal(back.manifest.record.testAccuracy, 0.5);
  for (const [k, v] of values) {
    const w = back.weights.get(k)!;
    for (let i = 0; i < v.length; i++) assert.ok(Math.abs(w[i] - v[i]) <= 1e-3 * Math.max(1, Math.abs(v[i])), k);
  }
  assert.throws(() => decodeClassifier({ ...manifest, format: 'simple-unet-weights' }, shards), /not a cifar-classifier-weights/);
  const images = new Uint8Array(2 * 3072).map((_, i) => (i * 7) % 256);
  const x = toNHWCFloat(images, [0, 1]);
  const emb = await new CifarClassifier(cfg, back.weights).embed(x, 2);
  assert.equal(emb.features.length, 12);
  assert.equal(emb.logits.length, 20);
  assert.ok(emb.logits.every(Number.isFinite));
  assert.equal(accuracy(new Float32Array([0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0]), [1, 1]), 0.5);
  // No crop, no flip: exactly the plain conversion.
  assert.deepEqual(augmentBatch(images, [1, 0], new Rng(0), 0, false), toNHWCFloat(images, [1, 0]));
  const aug = augmentBatch(images, [0], new Rng(4), 4, true);
  assert.ok(aug.every((v) => v >= -1 && v <= 1));
  m.dispose();
});
