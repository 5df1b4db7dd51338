/**
 * PyTorch parity: scripts/torch/make_fixtures.py saves a random width-0.125 SimpleUNet as a
 * seed-style checkpoint plus its outputs. The project's importer + forward (and DDIM) must
 * reproduce them on every Node backend.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend, FIXTURES, maxAbsDiff } from './helpers.ts';
import { loadTorchOrSafetensors } from '../src/core/weights/load-any.ts';
import { SimpleUNet, paramSpecs } from '../src/core/model.ts';
import { makeSchedule } from '../src/core/schedule.ts';
import { resolveSampling } from '../src/core/sampling-defaults.ts';
import { generate } from '../src/core/generate.ts';
import { readNpy, nchwToNhwc, nhwcToNchw } from '../src/cli/npy.ts';
import { tfjsToTorch } from '../src/core/weights/layout.ts';

const dir = path.join(FIXTURES, 'torch');
const ckptPath = path.join(dir, 'tiny_seed_ckpt.pth');
const loaded = loadTorchOrSafetensors(new Uint8Array(fs.readFileSync(ckptPath)), ckptPath);
const x = readNpy(path.join(dir, 'x.npy'));
const eps = readNpy(path.join(dir, 'eps.npy'));
const noise = readNpy(path.join(dir, 'ddim_noise.npy'));
const tBytes = fs.readFileSync(path.join(dir, 't.npy')); // int64 [2]: the last 16 bytes
const tVals = [...new BigInt64Array(tBytes.buffer.slice(tBytes.byteOffset + tBytes.length - 16, tBytes.byteOffset + tBytes.length))].map(Number);

test('the seed-style checkpoint imports: width read from the tensors, names identical to PyTorch', () => {
  assert.equal(loaded.config.width, 0.125);
  assert.equal(loaded.source, 'model_state_dict');
  assert.deepEqual(loaded.meta.schedule, { kind: 'linear', T: 1000, betaStart: 1e-4, betaEnd: 0.02 });
  assert.deepEqual([...loaded.weights.keys()].sort(), paramSpecs({ ...loaded.config }).map((s) => s.name).sort());
  assert.deepEqual(tVals, [7, 803]);
});

for (const backend of ['wasm', 'cpu'] as const) {
  test(`forward matches PyTorch within 1e-4 (${backend})`, async () => {
    await useBackend(backend);
    const m = new SimpleUNet(loaded.config, loaded.weights);
    const out = m.forward(tf.tensor4d(nchwToNhwc(x.data, 2, 3, 32, 32), [2, 32, 32, 3]), tf.tensor1d(tVals, 'int32'));
    const got = nhwcToNchw(out.dataSync() as Float32Array, 2, 32, 32, 3);
    const err = maxAbsDiff(got, eps.data);
    assert.ok(err < 1e-4, `max abs error ${err}`);
    out.dispose();
    m.dispose();
  });

  test(`DDIM-10 from the same noise matches PyTorch (${backend})`, async () => {
    await useBackend(backend);
    const m = new SimpleUNet(loaded.config, loaded.weights);
    const init = nchwToNhwc(noise.data, 2, 3, 32, 32);
    for (const [file, clipX0, tol] of [['ddim10.npy', true, 1e-3], ['ddim10_noclip.npy', false, 1e-3]] as const) {
      const ref = readNpy(path.join(dir, file));
      const out = await generate((xx, tt) => m.forward(xx, tt), makeSchedule(), { setting: resolveSampling({ sampler: 'ddim', steps: 10, eta: 0, clipX0 }, makeSchedule().T), n: 2, seed: 0, initNoise: init });
      const got = nhwcToNchw(out.dataSync() as Float32Array, 2, 32, 32, 3);
      out.dispose();
      // Without clipping, random weights blow values up to ~700: compare relative to the scale.
      const scale = clipX0 ? 1 : Math.max(...ref.data.map(Math.abs));
      const err = maxAbsDiff(got, ref.data) / scale;
      assert.ok(err < tol, `${file}: error ${err} (scale ${scale})`);
    }
    m.dispose();
  });
}

interface GradFixture { loss: number; grads: Record<string, { shape: number[]; norm: number; sum: number; head: number[] }> }
const gradFixture = JSON.parse(fs.readFileSync(path.join(dir, 'grads.json'), 'utf8')) as GradFixture;

for (const backend of ['wasm', 'cpu'] as const) {
  // scripts/torch/make_grad_fixture.py: d MSE(model(x, t), target) / d every parameter, eval mode.
  // Covers the backward pass (tfjs autodiff, the hand-written GroupNorm gradient, the wasm
  // backprop kernels) against PyTorch's, in PyTorch's layout.
  test(`training-loss gradients match PyTorch for all 124 tensors (${backend})`, async () => {
    await useBackend(backend);
    const m = new SimpleUNet(loaded.config, loaded.weights);
    const xt = tf.tensor4d(nchwToNhwc(x.data, 2, 3, 32, 32), [2, 32, 32, 3]);
    const target = tf.tensor4d(nchwToNhwc(noise.data, 2, 3, 32, 32), [2, 32, 32, 3]);
    const tt = tf.tensor1d(tVals, 'int32');
    const vars = [...m.params.values()];
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.squaredDifference(m.forward(xt, tt), target)) as tf.Scalar, vars);
    const loss = (await value.data())[0];
    assert.ok(Math.abs(loss - gradFixture.loss) < 1e-5 * gradFixture.loss, `loss ${loss} vs PyTorch ${gradFixture.loss}`);
    const specs = paramSpecs(loaded.config);
    const globalNorm = Math.sqrt(Object.values(gradFixture.grads).reduce((a, r) => a + r.norm ** 2, 0));
    let worst = { name: '', rel: 0 };
    for (const spec of specs) {
      const ref = gradFixture.grads[spec.name];
      assert.ok(ref, `PyTorch has a gradient for ${spec.name}`);
      const g = tfjsToTorch(spec, (await grads[m.params.get(spec.name)!.name].data()) as Float32Array);
      let sq = 0;
      for (const v of g) sq += v * v;
      const norm = Math.sqrt(sq);
      // Relative to the tensor's norm, floored at 1e-4 of the whole gradient's: at this width some
      // gradients are 0 by construction (a conv bias right before a GroupNorm with one channel per
      // group; mid_attn.k.bias under softmax), and both frameworks leave only ~1e-8 of rounding there.
      const scale = Math.max(ref.norm, 1e-4 * globalNorm);
      const rel = Math.max(Math.abs(norm - ref.norm), ...ref.head.map((v, i) => Math.abs(g[i] - v))) / scale;
      if (rel > worst.rel) worst = { name: spec.name, rel };
    }
    console.log(`# ${backend}: largest relative gradient error ${worst.rel.toExponential(2)} (${worst.name})`);
    assert.ok(worst.rel < 1e-3, `largest relative gradient error ${worst.rel.toExponential(2)} at ${worst.name}`);
    tf.dispose([value, ...Object.values(grads), xt, target, tt]);
    m.dispose();
  });
}

test('the full-width network has the seed key set: 124 tensors, 16,808,835 parameters', () => {
  const specs = paramSpecs();
  assert.equal(specs.length, 124);
  assert.equal(specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0), 16_808_835);
  // Same names as the PyTorch fixture (which is the same module tree at a smaller width).
  assert.deepEqual(specs.map((s) => s.name).sort(), [...loaded.weights.keys()].sort());
  for (const n of ['time_mlp.0.weight', 'res1.block1.0.weight', 'res1.time_mlp.weight', 'mid_attn.q.weight', 'mid_attn.group_norm.bias', 'up3.weight', 'output.2.bias', 'res_up1.shortcut.weight']) {
    assert.ok(specs.some((s) => s.name === n), n);
  }
  assert.ok(!specs.some((s) => s.name === 'res1.shortcut.weight'), 'res1 has in == out, so no shortcut conv');
});
