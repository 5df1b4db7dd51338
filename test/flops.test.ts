/**
 * The analytic FLOP count of SimpleUNet (src/core/flops.ts): a few layers by hand, and the totals
 * against a count made independently in PyTorch (forward hooks on every Conv2d/ConvTranspose2d/
 * Linear plus a wrapped torch.bmm, same conventions: multiply-add = 2, biases not counted).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { layerFlops, forwardFlops, blockFlops, trainStepFlops } from '../src/core/flops.ts';
import { BLOCKS } from '../src/core/model.ts';

const layer = (name: string, width = 1) => {
  const l = layerFlops({ width }).find((x) => x.name === name);
  assert.ok(l, `no layer ${name}`);
  return l.flops;
};

test('hand-computed layers', () => {
  // conv1: 3×3, 3 → 64 channels, 32×32 output: 2 · 1024 · 9 · 3 · 64
  assert.equal(layer('conv1'), 2 * 1024 * 9 * 3 * 64);
  assert.equal(layer('conv1'), 3_538_944);
  // down1: stride-2 3×3, 64 → 64, 16×16 output
  assert.equal(layer('down1'), 2 * 256 * 9 * 64 * 64);
  // res2 has a 1×1 shortcut 64 → 128 at 16×16
  assert.equal(layer('res2.shortcut'), 2 * 256 * 64 * 128);
  // up3: ConvTranspose 3×3, 512 → 256, from a 4×4 input: every input pixel scatters 9 taps
  assert.equal(layer('up3'), 2 * 16 * 9 * 512 * 256);
  // attention at 4×4 = 16 tokens, 512 channels: Q·Kᵀ and A·V
  assert.equal(layer('mid_attn.qk'), 2 * 16 * 16 * 512);
  assert.equal(layer('mid_attn.av'), 2 * 16 * 16 * 512);
  // the time MLP does not scale with width
  assert.equal(layer('time_mlp.2'), layer('time_mlp.2', 0.25));
  assert.equal(layer('time_mlp.2'), 2 * 512 * 512);
});

test('totals match an independent PyTorch count', () => {
  const w1 = forwardFlops({ width: 1 });
  const small = forwardFlops({ width: 0.25 });
  console.log(`SimpleUNet forward FLOPs per 32×32 image: width 1 = ${(w1 / 1e9).toFixed(3)} GFLOP (${w1.toLocaleString('en-US')}), width 0.25 = ${(small / 1e9).toFixed(4)} GFLOP`);
  assert.equal(w1, 1_597_767_680);
  assert.equal(small, 102_268_928);
  assert.equal(trainStepFlops({ width: 1 }), 3 * w1);
});

test('per-block sums cover every layer and every FLOP-bearing block', () => {
  const blocks = blockFlops({ width: 1 });
  assert.equal(Object.values(blocks).reduce((a, b) => a + b, 0), forwardFlops({ width: 1 }));
  for (const b of BLOCKS) assert.ok((blocks[b] ?? 0) > 0, `block ${b} has no FLOPs`);
  // the three decoder residual blocks at 8/16/32 px cost the most (each ≈ 15% of the total)
  const top = Object.entries(blocks).sort((a, b) => b[1] - a[1]).slice(0, 3).map(([k]) => k).sort();
  assert.deepEqual(top, ['res_up1', 'res_up2', 'res_up3']);
});
