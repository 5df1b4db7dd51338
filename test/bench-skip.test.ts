/**
 * The benchmark skips, with a note that says why, a wasm case whose tensors cannot fit in the
 * 32-bit heap (projected from a smaller batch's measured peak) instead of running it into
 * "memory access out of bounds": the full-width training step at batch 128.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { projectedSkip } from '../src/cli/bench/skip.ts';
import type { CaseSpec } from '../src/cli/bench/node-child.ts';

const spec = (width: number, batch: number): CaseSpec => ({ kind: 'train', width, batch, warmup: 0, repeats: 1, budgetS: 1 });
const MiB = 2 ** 20;
// As measured (bench/results.json): training steps at batch 32 peaked at 331 MiB (width 0.25) and 1546 MiB (width 1).
const done = [
  { kind: 'train', width: 0.25, batch: 32, ms: { median: 700 }, peakBytes: 331 * MiB },
  { kind: 'train', width: 1, batch: 32, ms: { median: 7000 }, peakBytes: 1546 * MiB },
];

test('wasm: width 1 batch 128 is skipped because it cannot fit in the 4 GiB heap; width 0.25 batch 128 runs', () => {
  const note = projectedSkip(done, spec(1, 128), 1000, Infinity, true);
  assert.match(note ?? '', /^skipped: needs ~6\.0 GiB of tensors .*32-bit \(4 GiB\) heap/);
  assert.equal(projectedSkip(done, spec(0.25, 128), 1000, Infinity, true), null);
});

test('other runtimes are not held to the wasm heap', () => {
  assert.equal(projectedSkip(done, spec(1, 128), 1000, Infinity, false), null);
});
