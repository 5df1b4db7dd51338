/**
 * Hostile and broken weights files (generated at test time by test/hostile/make-inputs.ts): each
 * is refused, in a fresh process, within its time and peak-memory budget, with its message. The
 * budgets are ~10x what an idle machine needs (the machine running tests is shared); before the
 * validation layer several of these took gigabytes or minutes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { CASES, pickle, smallStateDict, torchZip, validSmallPth, Raw } from './hostile/make-inputs.ts';
import { ROOT } from './helpers.ts';
import { unpickle } from '../src/core/weights/pickle.ts';
import { readTorchCheckpoint } from '../src/core/weights/torch-checkpoint.ts';
import { loadTorchOrSafetensors } from '../src/core/weights/load-any.ts';
import { boundedCopy, confinedPath, jsonDepth, LoadLimitError, parseJsonLimited } from '../src/core/weights/limits.ts';
import { ZipReader } from '../src/core/weights/zip.ts';
import { zipSync } from 'fflate';

const run = promisify(execFile);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostile-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

interface Result {
  ok: boolean;
  message: string;
  ms: number;
  maxRssMB: number;
  baseRssMB: number;
}

async function loadInChild(file: string): Promise<Result> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/hostile/run-case.ts'), file], {
    cwd: ROOT,
    timeout: 180_000,
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Result;
}

for (const c of CASES) {
  test(`hostile: ${c.name} (${c.what}) is refused within ${c.maxSeconds} s and ${c.maxRssMB} MB`, async () => {
    const file = c.make(dir);
    const r = await loadInChild(file);
    assert.equal(r.ok, false, `loaded instead of being refused: ${r.message}`);
    assert.match(r.message, c.message);
    assert.ok(!r.message.includes('\n'), `one line: ${r.message}`);
    assert.ok(r.ms < c.maxSeconds * 1000, `took ${r.ms.toFixed(0)} ms`);
    assert.ok(r.maxRssMB < c.maxRssMB, `peak RSS ${r.maxRssMB.toFixed(0)} MB`);
    console.log(`  ${c.name}: ${r.ms.toFixed(0)} ms, peak RSS ${r.maxRssMB.toFixed(0)} MB (process start ${r.baseRssMB.toFixed(0)} MB)`);
  });
}

test('a valid small .pth with a schedule and a recipe still loads', () => {
  const w = loadTorchOrSafetensors(new Uint8Array(fs.readFileSync(validSmallPth(dir))), 'valid-small.pth');
  assert.equal(w.config.width, 0.125);
  assert.deepEqual(w.meta.schedule, { kind: 'linear', T: 1000, betaStart: 1e-4, betaEnd: 0.02 });
  assert.equal(w.meta.prediction, 'epsilon');
  assert.deepEqual(w.meta.training?.recipe, { lr: 2e-4 });
});

test('LONG4 is parsed in linear time and exactly (4 KB integer, negative, at the limit)', () => {
  const n = 4096;
  const body = new Uint8Array(n);
  for (let i = 0; i < n; i++) body[i] = (i * 37 + 11) & 255;
  body[n - 1] = 0x80; // negative
  const pkl = new Uint8Array([0x80, 0x02, 0x8b, n & 255, n >> 8, 0, 0, ...body, 0x2e]);
  const t0 = performance.now();
  const v = unpickle(pkl) as bigint;
  assert.ok(performance.now() - t0 < 2000);
  let want = 0n;
  for (let i = n - 1; i >= 0; i--) want = (want << 8n) | BigInt(body[i]!);
  want -= 1n << BigInt(8 * n);
  assert.equal(v, want);
  assert.equal(unpickle(new Uint8Array([0x80, 0x02, 0x8a, 2, 0xff, 0x7f, 0x2e])), 0x7fff);
  assert.equal(unpickle(new Uint8Array([0x80, 0x02, 0x8a, 1, 0xff, 0x2e])), -1);
});

test('metadata is copied as a tree: shared references become independent copies, values intact', () => {
  // memo sharing: d = {'a': L, 'b': L} with L = [1, 2]
  const shared = new Raw(new Uint8Array([0x5d, 0x28, 0x4b, 1, 0x4b, 2, 0x65, 0x71, 0x00]));
  const pkl = pickle(new Map<string, unknown>([['model_state_dict', smallStateDict().sd], ['train_config', new Map<string, unknown>([['a', shared], ['b', new Raw(new Uint8Array([0x68, 0x00]))]])]]));
  const ck = readTorchCheckpoint(torchZip(pkl, { '0': smallStateDict().storage }), 'shared.pth');
  const tc = ck.meta.train_config as { a: number[]; b: number[] };
  assert.deepEqual(tc, { a: [1, 2], b: [1, 2] });
  assert.notEqual(tc.a, tc.b);
});

test('limits are per call: a smaller budget refuses what the default accepts', () => {
  const bytes = new Uint8Array(fs.readFileSync(validSmallPth(dir)));
  assert.throws(() => readTorchCheckpoint(bytes, 'valid-small.pth', { maxElements: 1000 }), (e: Error) => e instanceof LoadLimitError && /valid-small\.pth: tensor of shape .* over the 1,000 this reader allows/.test(e.message));
  assert.throws(() => boundedCopy({ a: { b: { c: 1 } } }, 'meta.json', { limits: { maxDepth: 1 } }), /meta\.json: metadata is nested more than 1 levels deep/);
});

test('JSON depth, confined paths', () => {
  assert.equal(jsonDepth('{"a":[1,{"b":"[[[["}]}'), 3);
  assert.throws(() => parseJsonLimited('[[[1]]]', 'x.json', { maxDepth: 2 }), /x\.json: JSON nested 3 levels deep, over the 2 allowed/);
  assert.throws(() => parseJsonLimited('{', 'x.json'), /x\.json is not valid JSON/);
  assert.equal(confinedPath('group1-shard1of2.bin', 'm'), 'group1-shard1of2.bin');
  assert.equal(confinedPath('sub/a.bin', 'm'), 'sub/a.bin');
  for (const bad of ['/etc/passwd', '../a', 'a/../../b', 'C:\\x', 'a\\..\\b', '%2e%2e/x', '', 'a//b', 3]) {
    assert.throws(() => confinedPath(bad, 'm'), LoadLimitError, String(bad));
  }
});

test('zip: legitimate deflated entries inflate exactly (streamed in small chunks)', () => {
  const data = new Uint8Array(300_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 251;
  const zip = new ZipReader(zipSync({ 'a.bin': [data, { level: 6 }], 'e.bin': [new Uint8Array(0), { level: 6 }] } as never), 'x.zip');
  assert.deepEqual(zip.read('a.bin'), data);
  assert.equal(zip.read('e.bin').length, 0);
});

test('CLI: a hostile checkpoint gives one error line and no stack trace; --debug shows the stack; no temporary folder is left', () => {
  const file = CASES.find((c) => c.name === 'cyclic.pth')!.make(dir);
  const out = path.join(dir, 'imported');
  const cli = (extra: string[]) => {
    try {
      execFileSync(process.execPath, [path.join(ROOT, 'bin/diffusion.mjs'), 'import', file, '--out', out, ...extra], { cwd: ROOT, encoding: 'utf8', stdio: 'pipe' });
      return { code: 0, stderr: '' };
    } catch (e) {
      return { code: (e as { status: number }).status, stderr: String((e as { stderr: string }).stderr) };
    }
  };
  const plain = cli([]);
  assert.equal(plain.code, 1);
  assert.match(plain.stderr.trim(), /^error: .*cyclic\.pth: metadata contains a cycle \(a container that holds itself\)$/);
  assert.ok(!/\n\s+at /.test(plain.stderr), plain.stderr);
  const debug = cli(['--debug']);
  assert.match(debug.stderr, /\n\s+at /);
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('imported')), []);
});
