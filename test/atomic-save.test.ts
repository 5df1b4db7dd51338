/**
 * Checkpoint saving survives a kill at every point: a hook throws before each filesystem step of
 * `writeWeightsDir` (the EMA folder, `import`) and of the training checkpoint write
 * (`writeManifestDir`, what `diffusion train` saves), and afterwards the folder always loads, as
 * either the old or the new one; the next save completes and leaves nothing behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { paramSpecs, SEED_CONFIG, type UNetConfig } from '../src/core/model.ts';
import { SEED_SCHEDULE } from '../src/core/schedule.ts';
import { modelTensors } from '../src/core/weights/format.ts';
import { encodeCheckpoint } from '../src/core/checkpoint.ts';
import type { TrainerState } from '../src/core/trainer.ts';
import { loadWeightsPath, writeManifestDir, writeWeightsDir } from '../src/cli/weights-files.ts';
import { readCheckpointDir } from '../src/cli/commands/train.ts';
import { checkWritableDir, ensureDir } from '../src/cli/fs-safe.ts';
import { UserError } from '../src/cli/command.ts';

const CFG: UNetConfig = { ...SEED_CONFIG, width: 0.125, numClasses: 10 };
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'atomic-'));
process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));

const values = (v: number) => new Map(paramSpecs(CFG).map((s) => [s.name, new Float32Array(s.shape.reduce((a, b) => a * b, 1)).fill(v)]));
const meta = { modelConfig: CFG, schedule: SEED_SCHEDULE, prediction: 'epsilon' as const, weightsKind: 'ema' as const };
const versionOf = (dir: string): number => loadWeightsPath(dir).weights.get('conv1.weight')![0]!;
const leftovers = (dir: string) => fs.readdirSync(path.dirname(dir)).filter((f) => f.startsWith(`${path.basename(dir)}.`));

class Killed extends Error {}

/** The names of the steps one save goes through (a clean run with a recording hook). */
function stepsOf(save: (hook: (s: string) => void) => void): string[] {
  const steps: string[] = [];
  save((s) => steps.push(s));
  return steps;
}

test('writeWeightsDir: killed before any filesystem step, the folder loads as the old or the new weights', () => {
  const dir = path.join(root, 'ema');
  const save = (v: number, hook?: (s: string) => void) =>
    writeWeightsDir(dir, modelTensors(values(v), CFG), meta, { shardBytes: 64 * 1024 }, { 'loss.json': `[${v}]` }, hook);
  save(1);
  const steps = stepsOf((h) => save(2, h));
  assert.ok(steps.length >= 8, `steps: ${steps}`);
  assert.ok(steps.includes('rename tmp to dir') && steps.includes('fsync parent'), steps.join(', '));
  let version = versionOf(dir);
  assert.equal(version, 2);
  const seen = new Set<number>();
  for (let k = 0; k < steps.length; k++) {
    const next = version + 1;
    let i = 0;
    assert.throws(() => save(next, (s) => {
      if (i++ === k) throw new Killed(`killed before '${s}'`);
    }), Killed);
    const got = versionOf(dir); // recovers, then loads
    assert.ok(got === version || got === next, `killed before '${steps[k]}': loaded v${got}, expected v${version} or v${next}`);
    seen.add(got === next ? 1 : 0);
    assert.deepEqual(leftovers(dir), [], `after recovery (killed before '${steps[k]}')`);
    version = got;
  }
  assert.deepEqual([...seen].sort(), [0, 1], 'some kills keep the old folder, later ones the new');
  save(version + 1);
  assert.equal(versionOf(dir), version + 1);
  assert.deepEqual(leftovers(dir), []);
  assert.equal(fs.readFileSync(path.join(dir, 'loss.json'), 'utf8'), `[${version + 1}]`);
});

test('training checkpoint: killed at every point of a save, --resume always finds a complete checkpoint', () => {
  const dir = path.join(root, 'run', 'checkpoint');
  ensureDir(path.dirname(dir));
  const state = (step: number): TrainerState => ({
    config: { batchSize: 2, totalSteps: 100, prediction: 'epsilon' } as TrainerState['config'],
    step, imagesSeen: step * 2, rng: { seed: 0, counter: step } as unknown as TrainerState['rng'], losses: Array.from({ length: step }, (_, i) => 1 / (i + 1)), wallTimeS: step,
    weights: values(step), ema: values(step), adamM: values(0), adamV: values(0),
  });
  const save = (step: number, hook?: (s: string) => void) => {
    const { manifest, shards } = encodeCheckpoint(state(step), CFG, SEED_SCHEDULE, null);
    writeManifestDir(dir, manifest, shards, {}, hook, 0);
  };
  save(10);
  const steps = stepsOf((h) => save(20, h));
  let step = readCheckpointDir(dir).state.step;
  assert.equal(step, 20);
  for (let k = 0; k < steps.length; k++) {
    let i = 0;
    assert.throws(() => save(step + 10, (s) => {
      if (i++ === k) throw new Killed(s);
    }), Killed);
    const r = readCheckpointDir(dir);
    assert.ok(r.state.step === step || r.state.step === step + 10, `killed before '${steps[k]}': resumed at ${r.state.step}`);
    assert.equal(r.state.weights.get('conv1.weight')![0], r.state.step, 'weights belong to the step resumed');
    assert.equal(r.state.losses.length, r.state.step);
    step = r.state.step;
  }
  assert.ok(step > 20, 'later kills keep the new checkpoint');
});

test('an unusable --out fails at once with a message (a file in the way, /proc), not at the first checkpoint', () => {
  const file = path.join(root, 'a-file');
  fs.writeFileSync(file, 'x');
  assert.throws(() => checkWritableDir(path.join(file, 'run')), (e: Error) => e instanceof UserError && /is a file, not a folder/.test(e.message));
  if (fs.existsSync('/proc/self')) {
    const t0 = performance.now();
    assert.throws(() => checkWritableDir('/proc/no-such/run'), (e: Error) => e instanceof UserError && /cannot create \/proc\/no-such \(E[A-Z]+\)/.test(e.message));
    assert.ok(performance.now() - t0 < 5000);
  }
  checkWritableDir(path.join(root, 'fresh', 'deeper'));
  assert.ok(fs.statSync(path.join(root, 'fresh', 'deeper')).isDirectory());
  assert.deepEqual(fs.readdirSync(path.join(root, 'fresh', 'deeper')), []);
});
