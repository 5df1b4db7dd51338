/** The project's weights format: round trips (float32 exact, float16 within half precision) and clear failures. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initParams, paramSpecs, type UNetConfig, SEED_CONFIG } from '../src/core/model.ts';
import { encodeWeights, decodeWeights, matchModel, modelTensors, validateManifest } from '../src/core/weights/format.ts';
import { loadProjectWeights } from '../src/core/weights/load-any.ts';
import { toTorchTensors, fromTorchStateDict } from '../src/core/weights/torch-import.ts';
import { writeSafetensors, readSafetensors } from '../src/core/weights/safetensors.ts';
import { loadWeightsPath, writeWeightsDir } from '../src/cli/weights-files.ts';
import { SEED_SCHEDULE } from '../src/core/schedule.ts';

const cfg: UNetConfig = { ...SEED_CONFIG, width: 0.125 };
const values = initParams(cfg, 3);
const meta = { modelConfig: cfg, schedule: SEED_SCHEDULE, prediction: 'epsilon' as const, weightsKind: 'ema' as const };

test('float32 round trip is exact, across several shards', () => {
  const { manifest, shards } = encodeWeights(modelTensors(values, cfg), meta, { shardBytes: 256 * 1024 });
  assert.ok(shards.length > 5);
  const back = matchModel(decodeWeights(validateManifest(JSON.parse(JSON.stringify(manifest))), shards), cfg);
  for (const [k, v] of values) assert.deepEqual(back.get(k), v, k);
});

test('float16 round trip is within half precision and half the size', () => {
  const f32 = encodeWeights(modelTensors(values, cfg), meta);
  const f16 = encodeWeights(modelTensors(values, cfg), meta, { dtype: 'float16' });
  const size = (s: Uint8Array[]) => s.reduce((a, b) => a + b.length, 0);
  assert.equal(size(f16.shards) * 2, size(f32.shards));
  const back = loadProjectWeights(f16.manifest, f16.shards, 'test').weights;
  for (const [k, v] of values) {
    for (let i = 0; i < v.length; i++) assert.ok(Math.abs(back.get(k)![i] - v[i]) <= Math.abs(v[i]) * 2 ** -11 + 1e-7, `${k}[${i}]`);
  }
});

test('a truncated or foreign shard is refused with the tensor and byte counts named', () => {
  const { manifest, shards } = encodeWeights(modelTensors(values, cfg), meta);
  assert.throws(() => decodeWeights(manifest, [shards[0].slice(0, 1000)]), /truncated or corrupt: .* needs bytes/);
  assert.throws(() => decodeWeights(manifest, [new Uint8Array([...shards[0], 1, 2, 3, 4])]), /do not belong together/);
  assert.throws(() => validateManifest({ format: 'other' }), /"format" is "other"/);
});

test('weights for another width or with missing tensors list every mismatch', () => {
  const { manifest, shards } = encodeWeights(modelTensors(values, cfg), meta);
  assert.throws(() => matchModel(decodeWeights(manifest, shards), { ...cfg, width: 0.25 }), (e: Error) =>
    /wrong shape \(\d+\)/.test(e.message) && /conv1.weight: file \[3,3,3,8\] vs model \[3,3,3,16\]/.test(e.message));
  const partial = decodeWeights(manifest, shards);
  partial.delete('mid_attn.q.weight');
  assert.throws(() => matchModel(partial, cfg), /missing \(1\): mid_attn.q.weight/);
});

test('NaN weights are refused', () => {
  const bad = new Map(values);
  bad.set('conv1.bias', new Float32Array(8).fill(NaN));
  const { manifest, shards } = encodeWeights(modelTensors(bad, cfg), meta);
  assert.throws(() => matchModel(decodeWeights(manifest, shards), cfg), /conv1.bias: holds NaN/);
});

test('export to safetensors uses PyTorch layouts and comes back identical', () => {
  const torch = toTorchTensors(values, cfg);
  const spec = paramSpecs(cfg).find((s) => s.name === 'up3.weight')!;
  assert.deepEqual(torch.find((t) => t.name === 'up3.weight')!.shape, spec.torchShape); // [in, out, kh, kw]
  const file = readSafetensors(writeSafetensors(torch.map((t) => ({ ...t, dtype: 'F32' as const }))));
  const back = fromTorchStateDict(file.tensors, 'roundtrip').weights;
  for (const [k, v] of values) assert.deepEqual(back.get(k), v, k);
});

test('weights folders are written atomically and load through loadWeightsPath', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'w-'));
  const target = path.join(dir, 'model');
  writeWeightsDir(target, modelTensors(values, cfg), meta, { dtype: 'float16' }, { 'loss.json': '{"losses":[1,0.5]}' });
  assert.deepEqual(fs.readdirSync(dir), ['model']);
  const w = loadWeightsPath(target);
  assert.equal(w.config.width, 0.125);
  assert.equal(w.meta.weightsKind, 'ema');
  fs.rmSync(path.join(target, 'group1-shard1of1.bin'));
  assert.throws(() => loadWeightsPath(target), /shard .* is missing/);
  fs.rmSync(dir, { recursive: true });
});
