/** The project's weights format: round trips (float32 exact, float16 within half precision) and clear failures. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initParams, paramSpecs, type UNetConfig, SEED_CONFIG } from '../src/core/model.ts';
import { encodeWeights, decodeWeights, matchModel, modelTensors, validateManifest } from '../src/core/weights/format.ts';
import { loadProjectWeights, trainingFrom } from '../src/core/weights/load-any.ts';
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

test('a training record names a widened start and the threads of every invocation', () => {
  const cmd = (threads: string, ...rest: string[]) => ['scripts/torch/train.py', '--threads', threads, ...rest];
  const small = {
    step: 5031, images_seen: 643392, epoch: 12.87, wall_time_s: 15629, train_config: { batch: 128 },
    hardware: { cpu: 'AMD EPYC', threads: 2, torch: '1.13' },
    // An older run: only the last invocation's hardware, but every command.
    commands: [cmd('1'), cmd('1', '--resume'), cmd('2', '--resume')],
  };
  const full = trainingFrom({
    step: 190, images_seen: 24320, epoch: 0.49, wall_time_s: 5600, train_config: { batch: 128 }, train_losses: [0.07, 0.066],
    hardware: { cpu: 'AMD EPYC', threads: 2, torch: '1.13' },
    hardware_history: [{ cpu: 'AMD EPYC', threads: 2, torch: '1.13', from_step: 0 }],
    commands: [cmd('2', '--init-from', 'runs/small/ckpt.pt')],
    warm_start: { ...small, from: 'runs/small/ckpt.pt', width: 0.25, method: 'widen.py' },
  }, 'ckpt.pt');
  assert.ok(full);
  assert.equal(full.steps, 190);
  assert.equal(full.hardware, 'AMD EPYC, 2 thread(s), PyTorch 1.13');
  const ws = full.warmStart!;
  assert.deepEqual([ws.width, ws.steps, ws.imagesSeen, ws.method, ws.from], [0.25, 5031, 643392, 'widen.py', 'runs/small/ckpt.pt']);
  assert.equal(ws.hardware, 'AMD EPYC, PyTorch 1.13; threads per invocation (--threads): 1, 1, 2');
  assert.match(ws.command, /--threads 1, then resumed with: .*--threads 2 --resume$/);
  // Per-invocation hardware, when the run kept it, is named with its steps.
  const two = trainingFrom({ step: 30, hardware_history: [{ cpu: 'X', threads: 1, from_step: 0 }, { gpu: 'H200', cpu: 'Y', threads: 16, from_step: 10 }] }, 'c.pt');
  assert.equal(two!.hardware, 'X, 1 thread(s) (steps 1–10); H200, Y, 16 thread(s) (from step 11)');
  assert.equal(two!.warmStart, undefined);
});
