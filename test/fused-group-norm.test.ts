/**
 * The fused GroupNorm kernels (src/core/fused/) against the op path they replace
 * (referenceGroupNormAct: groupNormOp + tfjs ops), on wasm:
 *   - the op alone, every combination of shift and SiLU, on awkward shapes (odd H×W, 2 channels
 *     per group): values and the gradients of x, γ, β and the shift;
 *   - the whole SimpleUNet at every shipped width (0.25 and 1): output and every parameter's
 *     gradient, fused against op path;
 *   - tf.memory() and the backend's buffers stay flat over repeated forward + backward runs;
 *   - the fallback: on cpu (no fused kernel) groupNormAct is the op path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from './helpers.ts';
import { Rng } from '../src/core/rng.ts';
import { SimpleUNet } from '../src/core/model.ts';
import { groupNormAct, referenceGroupNormAct, setFusedGroupNorm, usesFusedGroupNorm } from '../src/core/group-norm.ts';
import { registerWasmGroupNormKernels } from '../src/core/fused/wasm-group-norm.ts';

await useBackend('wasm');
assert.ok(registerWasmGroupNormKernels(), 'the fused kernels register on Node wasm');

/** max |a − b| over max |b|, per pair of arrays. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return err / scale;
}

function withFused<T>(on: boolean, f: () => T): T {
  setFusedGroupNorm(on);
  try {
    return f();
  } finally {
    setFusedGroupNorm(true);
  }
}

const SHAPES: { name: string; x: [number, number, number, number]; groups: number }[] = [
  { name: '3 images, 5×7, 16 channels in 8 groups', x: [3, 5, 7, 16], groups: 8 },
  { name: '1 image, 4×4, 64 channels in 8 groups', x: [1, 4, 4, 64], groups: 8 },
  { name: '2 images, 3×3, 12 channels in 3 groups', x: [2, 3, 3, 12], groups: 3 },
];

for (const s of SHAPES) {
  for (const [useShift, silu] of [[false, false], [false, true], [true, false], [true, true]]) {
    test(`fused = op path: ${s.name}, ${useShift ? 'shift' : 'no shift'}, ${silu ? 'SiLU' : 'no activation'} (values and gradients)`, () => {
      const r = new Rng(s.x[3] * 10 + Number(useShift) * 2 + Number(silu));
      const [B, , , C] = s.x;
      const x = tf.tensor4d(r.normals(s.x.reduce((a, b) => a * b)).map((v) => 3 * v + 1), s.x);
      const gamma = tf.tensor1d(r.normals(C).map((v) => 1 + 0.5 * v));
      const beta = tf.tensor1d(r.normals(C).map((v) => 0.5 * v));
      const shift = tf.tensor2d(r.normals(B * C), [B, C]);
      const probe = tf.tensor4d(r.normals(x.size), s.x);
      const run = (fused: boolean) => withFused(fused, () => tf.tidy(() => {
        assert.equal(usesFusedGroupNorm(x, s.groups), fused);
        const f = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor, sh: tf.Tensor) =>
          groupNormAct(xx as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, s.groups, { silu, shift: useShift ? sh as tf.Tensor2D : undefined });
        const y = f(x, gamma, beta, shift);
        const loss = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor, sh: tf.Tensor) => tf.sum(tf.mul(f(xx, g, b, sh), probe));
        const grads = useShift
          ? tf.grads(loss)([x, gamma, beta, shift])
          : tf.grads((xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => loss(xx, g, b, shift))([x, gamma, beta]);
        return [y, ...grads].map((t) => t.dataSync());
      }));
      const ref = run(false);
      const got = run(true);
      const names = ['y', 'dx', 'dγ', 'dβ', 'dshift'];
      got.forEach((g, i) => assert.ok(relErr(g, ref[i]) < 2e-5, `${names[i]}: relative error ${relErr(g, ref[i])}`));
      tf.dispose([x, gamma, beta, shift, probe]);
    });
  }
}

/** Output and every parameter's gradient of a mean-square loss, fused or op path. */
function networkRun(width: number, batch: number, fused: boolean) {
  const model = new SimpleUNet({ width, numClasses: 10 }, undefined, 7);
  // Trained-like statistics: non-trivial GroupNorm affines and a nonzero class embedding.
  const r = new Rng(5);
  model.assign(new Map([...model.params].map(([name, v]) => {
    const vals = v.dataSync() as Float32Array;
    const jitter = name.includes('class_embedding') || /\.(0|group_norm)\.(weight|bias)$/.test(name) || name.endsWith('output.0.weight');
    return [name, jitter ? vals.map((a, i) => a + 0.3 * r.normals(1)[0] + (i % 3) * 0.01) : vals];
  })));
  const x = tf.tensor4d(new Rng(6).normals(batch * 32 * 32 * 3), [batch, 32, 32, 3]);
  const t = tf.tensor1d(Array.from({ length: batch }, (_, i) => 50 + 400 * i), 'int32');
  const labels = tf.tensor1d(Array.from({ length: batch }, (_, i) => (i * 3) % 11), 'int32');
  const out = withFused(fused, () => {
    const y = model.forward(x, t, { labels });
    const { grads } = tf.variableGrads(() => tf.mean(tf.square(model.forward(x, t, { labels }))) as tf.Scalar, [...model.params.values()]);
    const g = new Map([...model.params].map(([name, v]) => [name, grads[v.name].dataSync() as Float32Array]));
    const r = { y: y.dataSync() as Float32Array, g };
    tf.dispose([y, ...Object.values(grads)]);
    return r;
  });
  tf.dispose([x, t, labels]);
  model.dispose();
  return out;
}

for (const [width, batch] of [[0.25, 2], [1, 1]] as const) {
  test(`whole network, width ${width}: fused output and every parameter gradient match the op path`, () => {
    const ref = networkRun(width, batch, false);
    const got = networkRun(width, batch, true);
    assert.ok(relErr(got.y, ref.y) < 1e-4, `output: relative error ${relErr(got.y, ref.y)}`);
    // Measured against the largest gradient norm: some gradients are ~0 in theory.
    const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, v) => s + v * v, 0));
    const scale = Math.max(...[...ref.g.values()].map(norm));
    let worst = 0;
    let worstName = '';
    for (const [name, g] of ref.g) {
      const h = got.g.get(name)!;
      const e = norm(g.map((v, i) => v - h[i])) / Math.max(norm(g), 1e-3 * scale);
      if (e > worst) [worst, worstName] = [e, name];
    }
    assert.ok(worst < 1e-3, `worst relative gradient error ${worst} (${worstName})`);
  });
}

test('tf.memory() and the wasm heap\'s buffers stay flat over repeated fused forward + backward runs', () => {
  const model = new SimpleUNet({ width: 0.25, numClasses: 10 }, undefined, 3);
  const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
  const t = tf.tensor1d([10, 900], 'int32');
  const backend = tf.backend() as unknown as { numDataIds(): number };
  const step = () => {
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(model.forward(x, t))) as tf.Scalar, [...model.params.values()]);
    const y = model.forward(x, t);
    tf.dispose([value, y, ...Object.values(grads)]);
  };
  const probe = tf.zeros([2, 32, 32, 16]);
  assert.ok(usesFusedGroupNorm(probe, 8), 'the fused path is the one measured');
  probe.dispose();
  step();
  const before = { ...tf.memory(), dataIds: backend.numDataIds() };
  for (let i = 0; i < 3; i++) step();
  const after = { ...tf.memory(), dataIds: backend.numDataIds() };
  assert.equal(after.numTensors, before.numTensors);
  assert.equal(after.numBytes, before.numBytes);
  assert.equal(after.dataIds, before.dataIds, 'backend buffers (scratch, stats) leaked');
  tf.dispose([x, t]);
  model.dispose();
});

test('without the fused kernel (cpu backend) groupNormAct is the op path, exactly', async () => {
  await tf.setBackend('cpu');
  try {
    const r = new Rng(1);
    const x = tf.tensor4d(r.normals(2 * 3 * 3 * 8), [2, 3, 3, 8]);
    const gamma = tf.tensor1d(r.normals(8));
    const beta = tf.tensor1d(r.normals(8));
    const shift = tf.tensor2d(r.normals(16), [2, 8]);
    assert.equal(usesFusedGroupNorm(x, 4), false);
    const a = groupNormAct(x, gamma, beta, 4, { shift, silu: true }).dataSync();
    const b = referenceGroupNormAct(x, gamma, beta, 4, { shift, silu: true }).dataSync();
    assert.deepEqual(a, b);
  } finally {
    await tf.setBackend('wasm');
  }
});
