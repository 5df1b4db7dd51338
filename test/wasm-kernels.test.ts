/**
 * The wasm backend's registered Conv2DBackpropFilter against tfjs' reference cpu backend,
 * on the convolutions the U-Net uses and a few it does not, and then on the whole network; the
 * direct kernel (fused/wasm-conv-filter-grad.ts) against the emulation it replaces, and with the
 * transpose-first BatchMatMul, every parameter gradient of each shipped width against tfjs' own kernels.
 * Then the replacement Conv2DBackpropInput (conv2dTranspose as phase-split XNNPACK convolutions,
 * with its per-filter cache): the U-Net's up-sampling shapes and odd geometries against cpu, and
 * a weight update between calls (the cache must not serve stale filters).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from './helpers.ts';
import { Rng } from '../src/core/rng.ts';
import { SimpleUNet } from '../src/core/model.ts';
import { SHIPPED_MODELS } from '../src/core/shipped-models.ts';
import { setDirectConvFilterGrad } from '../src/core/fused/wasm-conv-filter-grad.ts';
import { setTransposeFirstMatMul } from '../src/core/wasm-kernels.ts';
import { registerWasmCopyKernels, setWasmRowCopies } from '../src/core/fused/wasm-copy.ts';

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
  // The direct kernel's shapes: 8k output channels (4-channel tiles and a remainder of input
  // channels), and few output channels over 8k input channels (the narrow variant).
  { name: 'direct: 3×3 stride 1 PyTorch padding, 8k out', x: [3, 6, 5, 6], k: 3, cin: 6, cout: 16, stride: 1, pad: P1 },
  { name: 'direct: 3×3 stride 2, 8k out, 3 in', x: [2, 9, 8, 3], k: 3, cin: 3, cout: 8, stride: 2, pad: P1 },
  { name: 'direct: 1×1, 8k out', x: [2, 4, 4, 12], k: 1, cin: 12, cout: 24, stride: 1, pad: 'valid' },
  { name: 'direct: transposed 3×3 stride 2 valid, 8k', x: [2, 4, 4, 8], k: 3, cin: 8, cout: 16, stride: 2, pad: 'valid', transpose: true },
  { name: 'direct narrow: 3×3 same, 3 out over 16 in', x: [2, 7, 7, 16], k: 3, cin: 16, cout: 3, stride: 1, pad: 'same' },
  { name: 'direct narrow: 3×3 stride 2, 5 out over 8 in', x: [2, 8, 8, 8], k: 3, cin: 8, cout: 5, stride: 2, pad: P1 },
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

for (const width of [...new Set(Object.values(SHIPPED_MODELS).map((m) => m.width))]) {
  test(`every parameter gradient at width ${width}: the direct filter gradient and transpose-first BatchMatMul match tfjs' own kernels`, async () => {
    await tf.setBackend('wasm');
    const m = new SimpleUNet({ width, numClasses: 10 }, undefined, 5);
    const r = new Rng(2);
    const x = tf.tensor4d(r.normals(2 * 32 * 32 * 3), [2, 32, 32, 3]);
    const t = tf.tensor1d([40, 900], 'int32');
    const labels = tf.tensor1d([3, 10], 'int32');
    const run = (fast: boolean) => {
      setDirectConvFilterGrad(fast);
      setTransposeFirstMatMul(fast);
      try {
        const { grads } = tf.variableGrads(() => tf.mean(tf.square(m.forward(x, t, { labels }))) as tf.Scalar, [...m.params.values()]);
        const out = new Map([...m.params].map(([name, v]) => [name, grads[v.name].dataSync() as Float32Array]));
        tf.dispose(Object.values(grads));
        return out;
      } finally {
        setDirectConvFilterGrad(true);
        setTransposeFirstMatMul(true);
      }
    };
    const ref = run(false);
    const got = run(true);
    tf.dispose([x, t, labels]);
    m.dispose();
    for (const [name, g] of ref) {
      const h = got.get(name)!;
      let [scale, err] = [1e-30, 0];
      for (let i = 0; i < g.length; i++) [scale, err] = [Math.max(scale, Math.abs(g[i])), Math.max(err, Math.abs(g[i] - h[i]))];
      assert.ok(err / scale < 1e-4, `${name}: max abs err ${err} (scale ${scale})`);
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

type P4 = [[0, 0], [number, number], [number, number], [0, 0]];
interface TCase { name: string; x: [number, number, number, number]; k: number; cin: number; cout: number; stride: number; pad: 'same' | 'valid' | P4 }
const TRANSPOSE_CASES: TCase[] = [
  { name: 'U-Net up3/up2/up1 geometry (4×4 → 9×9 valid)', x: [2, 4, 4, 16], k: 3, cin: 16, cout: 8, stride: 2, pad: 'valid' },
  { name: '3×3 stride 1 same', x: [2, 8, 8, 4], k: 3, cin: 4, cout: 6, stride: 1, pad: 'same' },
  { name: '3×3 stride 2, PyTorch padding 1', x: [2, 8, 8, 4], k: 3, cin: 4, cout: 5, stride: 2, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
  { name: '1×1 stride 2 (phases with no taps)', x: [1, 8, 6, 3], k: 1, cin: 3, cout: 4, stride: 2, pad: 'valid' },
  { name: '5×5 stride 3, uneven padding', x: [1, 12, 12, 3], k: 5, cin: 3, cout: 4, stride: 3, pad: [[0, 0], [2, 1], [0, 2], [0, 0]] },
  { name: '3×3 stride 2 same, odd size', x: [1, 7, 7, 3], k: 3, cin: 3, cout: 2, stride: 2, pad: 'same' },
];

/** dX of conv2d(x, w) for a random dY, i.e. conv2dTranspose(dY, w) back to x's shape. */
async function backpropInputOn(backend: 'cpu' | 'wasm', c: TCase): Promise<Float32Array> {
  await tf.setBackend(backend);
  const r = new Rng(11);
  return tf.tidy(() => {
    const w = tf.tensor4d(r.normals(c.k * c.k * c.cin * c.cout), [c.k, c.k, c.cin, c.cout]);
    const outShape = tf.conv2d(tf.zeros(c.x) as tf.Tensor4D, w, c.stride as 1, c.pad).shape;
    const dy = tf.tensor4d(r.normals(outShape.reduce((a, b) => a * b)), outShape);
    return tf.conv2dTranspose(dy, w, c.x, c.stride as 1, c.pad).dataSync() as Float32Array;
  });
}

for (const c of TRANSPOSE_CASES) {
  test(`conv2dTranspose (Conv2DBackpropInput) on wasm matches cpu: ${c.name}`, async () => {
    const ref = await backpropInputOn('cpu', c);
    const got = await backpropInputOn('wasm', c);
    assert.equal(got.length, ref.length);
    const scale = Math.max(...Array.from(ref, Math.abs));
    const err = Math.max(...Array.from(ref, (v, i) => Math.abs(v - got[i])));
    assert.ok(err / scale < 1e-5, `max abs err ${err} (scale ${scale})`);
  });
}

test('conv2dTranspose on wasm follows a weight update (phase-filter cache) and frees nothing it should keep', async () => {
  await tf.setBackend('wasm');
  const r = new Rng(12);
  const x = tf.tensor4d(r.normals(2 * 4 * 4 * 6), [2, 4, 4, 6]);
  const w = tf.variable(tf.tensor4d(r.normals(3 * 3 * 5 * 6), [3, 3, 5, 6]));
  const run = () => tf.tidy(() => tf.conv2dTranspose(x, w, [2, 9, 9, 5], 2, 'valid').dataSync() as Float32Array);
  const before = tf.memory().numTensors;
  const a1 = run();
  const a2 = run(); // served from the cache
  assert.deepEqual(a2, a1);
  tf.tidy(() => w.assign(tf.mul(w, -2)));
  const b = run();
  for (let i = 0; i < a1.length; i += 37) assert.ok(Math.abs(b[i] + 2 * a1[i]) < 1e-4 * (1 + Math.abs(a1[i])), `element ${i}: ${b[i]} vs ${-2 * a1[i]}`);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, w]);
});

test('Slice, Concat and SplitV as row copies give tfjs\' own results bit for bit (float32 and int32, any axis)', async () => {
  await tf.setBackend('wasm');
  registerWasmCopyKernels();
  const r = tf.tensor4d(new Rng(13).normals(3 * 5 * 7 * 6), [3, 5, 7, 6]);
  const ri = tf.cast(tf.mul(r, 100), 'int32');
  const cases: [string, () => tf.Tensor | tf.Tensor[]][] = [
    ['U-Net crop', () => tf.slice(r, [0, 1, 1, 0], [3, 4, 6, 6])],
    ['inner slice', () => tf.slice(r, [1, 2, 3, 1], [2, 2, 3, 4])],
    ['size -1', () => tf.slice(r, [0, 1, 0, 0], [-1, 3, -1, -1])],
    ['2-D slice', () => tf.slice(tf.reshape(r, [15, 42]), [3, 5], [7, 30])],
    ['1-D int32 slice', () => tf.slice(tf.reshape(ri, [-1]), [11], [50])],
    ['concat, axis 0', () => tf.concat([r, r], 0)],
    ['concat, axis 2, uneven', () => tf.concat([r, tf.slice(r, [0, 0, 0, 0], [3, 5, 2, 6])], 2)],
    ['concat of three int32, channels', () => tf.concat([ri, ri, ri], 3)],
    ['split, axis 1, uneven', () => tf.split(r, [1, 4], 1)],
    ['split, channels', () => tf.split(r, 3, 3)],
  ];
  const run = (on: boolean, f: () => tf.Tensor | tf.Tensor[]) => {
    setWasmRowCopies(on);
    try {
      return tf.tidy(() => [f()].flat().map((t) => ({ shape: t.shape, dtype: t.dtype, values: Array.from(t.dataSync()) })));
    } finally {
      setWasmRowCopies(true);
    }
  };
  for (const [name, f] of cases) assert.deepEqual(run(true, f), run(false, f), name);
  tf.dispose([r, ri]);
});
