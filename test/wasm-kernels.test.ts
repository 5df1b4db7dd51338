/**
 * The wasm backend's registered Conv2DBackpropFilter against tfjs' reference cpu backend,
 * on the convolutions the U-Net uses and a few it does not, and then on the whole network.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from './helpers.ts';
import { Rng } from '../src/core/rng.ts';
import { SimpleUNet } from '../src/core/model.ts';

import * as tf from '@tensorflow/tfjs-core';
await useBackend('wasm');

type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];
interface Case { name: string; x: [number, number, number, number]; k: number; cin: number; cout: number; stride: 1 | 2; pad: Pad; transpose?: boolean }
const P1: Pad = [[0, 0], [1, 1], [1, 1], [0, 0]];
const CASES: Case[] = [
  { name: '3×3 stride 1 same', x: [2, 8, 8, 4], k: 3, cin: 4, cout: 6, stride: 1, pad: 'same' },
  { name: '3×3 stride 2, PyTorch padding 1', x: [2, 8, 8, 4], k: 3, cin: 4, cout: 5, stride: 2, pad: P1 },
  { name: '1×1 valid', x: [3, 4, 4, 8], k: 1, cin: 8, cout: 8, stride: 1, pad: 'valid' },
  { name: '3×3 stride 2 same (odd size)', x: [1, 7, 7, 3], k: 3, cin: 3, cout: 2, stride: 2, pad: 'same' },
  { name: 'transposed 3×3 stride 2 valid', x: [2, 4, 4, 6], k: 3, cin: 6, cout: 4, stride: 2, pad: 'valid', transpose: true },
];

async function gradsOn(backend: 'cpu' | 'wasm', c: Case) {
  await tf.setBackend(backend);
  const r = new Rng(9);
  return tf.tidy(() => {
    const x = tf.tensor4d(r.normals(c.x.reduce((a, b) => a * b)), c.x);
    const wShape: [number, number, number, number] = c.transpose ? [c.k, c.k, c.cout, c.cin] : [c.k, c.k, c.cin, c.cout];
    const w = tf.tensor4d(r.normals(wShape.reduce((a, b) => a * b)), wShape);
    const f = (xx: tf.Tensor4D, ww: tf.Tensor4D) => {
      const y = c.transpose
        ? tf.conv2dTranspose(xx, ww, [c.x[0], c.x[1] * 2 + 1, c.x[2] * 2 + 1, c.cout], c.stride, c.pad as 'valid')
        : tf.conv2d(xx, ww, c.stride, c.pad);
      const probe = tf.tensor(new Rng(3).normals(y.size), y.shape);
      return tf.sum(tf.mul(y, probe));
    };
    const [gx, gw] = tf.grads(f as (...a: tf.Tensor[]) => tf.Tensor)([x, w]);
    return { gx: Array.from(gx.dataSync()), gw: Array.from(gw.dataSync()) };
  });
}

for (const c of CASES) {
  test(`filter gradient on wasm matches cpu: ${c.name}`, async () => {
    const ref = await gradsOn('cpu', c);
    const got = await gradsOn('wasm', c);
    for (const k of ['gx', 'gw'] as const) {
      const scale = Math.max(...ref[k].map(Math.abs));
      const err = Math.max(...ref[k].map((v, i) => Math.abs(v - got[k][i])));
      assert.ok(err / scale < 1e-5, `${k}: max abs err ${err} (scale ${scale})`);
    }
  });
}

test('whole-network gradients on wasm match cpu (width 0.125)', async () => {
  const run = async (backend: 'cpu' | 'wasm') => {
    await tf.setBackend(backend);
    const m = new SimpleUNet({ width: 0.125 }, undefined, 4);
    const r = new Rng(1);
    const x = tf.tensor4d(r.normals(2 * 32 * 32 * 3), [2, 32, 32, 3]);
    const t = tf.tensor1d([5, 700], 'int32');
    const { grads } = tf.variableGrads(() => tf.mean(tf.square(m.forward(x, t))) as tf.Scalar, [...m.params.values()]);
    const out = new Map<string, Float32Array>();
    for (const [name, v] of m.params) out.set(name, grads[v.name].dataSync() as Float32Array);
    tf.dispose([x, t, ...Object.values(grads)]);
    m.dispose();
    return out;
  };
  const ref = await run('cpu');
  const got = await run('wasm');
  // Some gradients are exactly zero in theory (at width 0.125 each GroupNorm group is one
  // channel, so a per-channel bias in front of it cancels out), so errors are measured
  // against the largest gradient norm rather than each tensor's own.
  const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, v) => s + v * v, 0));
  const scale = Math.max(...[...ref.values()].map(norm));
  let worst = 0;
  let worstName = '';
  for (const [name, g] of ref) {
    const h = got.get(name)!;
    const e = norm(g.map((v, i) => v - h[i])) / Math.max(norm(g), 1e-3 * scale);
    if (e > worst) [worst, worstName] = [e, name];
  }
  assert.ok(worst < 1e-3, `worst relative gradient error ${worst} (${worstName})`);
  await tf.setBackend('wasm');
});
