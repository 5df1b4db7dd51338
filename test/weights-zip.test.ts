/**
 * `loadWeightsPath` on a .zip of the project's weights format (what the page's training lab
 * downloads): same arrays as the folder it came from, at the top of the zip or inside a folder,
 * stored or deflated; clear errors for a zip without weights.json or with a missing shard; a
 * PyTorch checkpoint (also a zip) still goes to the PyTorch reader.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { zipSync } from 'fflate';
import { initParams, paramSpecs } from '../src/core/model.ts';
import { encodeWeights, modelTensors, shardPaths, MANIFEST_FILE } from '../src/core/weights/format.ts';
import { SEED_SCHEDULE } from '../src/core/schedule.ts';
import { loadWeightsPath } from '../src/cli/weights-files.ts';
import { UserError } from '../src/cli/command.ts';

const cfg = { width: 0.125, timeEmbDim: 128, dropout: 0.1, groups: 8, numClasses: 0 };
const values = initParams(cfg, 3);
// Small shards, so the zip holds several.
const { manifest, shards } = encodeWeights(modelTensors(values, cfg), {
  modelConfig: cfg, schedule: SEED_SCHEDULE, prediction: 'epsilon', weightsKind: 'ema', training: null,
}, { shardBytes: 256 * 1024 });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weights-zip-'));
const enc = (s: string) => new TextEncoder().encode(s);

function files(prefix = ''): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = { [prefix + MANIFEST_FILE]: enc(JSON.stringify(manifest)), [`${prefix}loss.json`]: enc('{"losses":[1,0.5]}') };
  shardPaths(manifest).forEach((p, i) => (out[prefix + p] = shards[i]));
  return out;
}

function write(name: string, zipped: Uint8Array): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, zipped);
  return p;
}

function assertSame(loaded: ReturnType<typeof loadWeightsPath>) {
  assert.equal(loaded.format, 'project');
  assert.equal(loaded.config.width, 0.125);
  assert.equal(loaded.meta.weightsKind, 'ema');
  for (const s of paramSpecs(cfg)) assert.deepEqual(loaded.weights.get(s.name), values.get(s.name), s.name);
}

test('the manifest holds several shards (the test exercises shard order)', () => {
  assert.ok(shardPaths(manifest).length > 1);
});

test('a deflated zip with weights.json at the top loads the same arrays', () => {
  assertSame(loadWeightsPath(write('top.zip', zipSync(files(), { level: 6 }))));
});

test('a stored zip of a folder (weights.json one level down) loads too', () => {
  assertSame(loadWeightsPath(write('folder.zip', zipSync(files('simple-unet-lab/'), { level: 0 }))));
});

test('a zip without weights.json is refused with a message naming what is expected', () => {
  const p = write('other.zip', zipSync({ 'readme.txt': enc('hello') }));
  assert.throws(() => loadWeightsPath(p), (e: Error) => e instanceof UserError && /without weights\.json/.test(e.message));
});

test('a zip missing a shard names the shard', () => {
  const f = files();
  const gone = shardPaths(manifest)[1];
  delete f[gone];
  const p = write('missing.zip', zipSync(f));
  assert.throws(() => loadWeightsPath(p), (e: Error) => e instanceof UserError && e.message.includes(gone));
});

test('a corrupt shard inside the zip is reported, not loaded', () => {
  const f = files();
  const first = shardPaths(manifest)[0];
  f[first] = f[first].slice(0, 100);
  const p = write('short.zip', zipSync(f));
  assert.throws(() => loadWeightsPath(p), (e: Error) => e instanceof UserError && /truncated|bytes/.test(e.message));
});

test('a PyTorch-style zip (data.pkl, no weights.json) still goes to the PyTorch reader', () => {
  const p = write('model.pth', zipSync({ 'archive/data.pkl': new Uint8Array([0x80, 2, 0x7d, 0x2e]) }));
  // The torch reader rejects this toy pickle, but with its own (non-zip) message.
  assert.throws(() => loadWeightsPath(p), (e: Error) => e instanceof UserError && !/without weights\.json/.test(e.message));
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
