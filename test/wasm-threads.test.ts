/**
 * The CLI's wasm threads path (src/cli/wasm-threads.ts): on 2 threads the small model's golden
 * samples are bit-for-bit those of 1 thread (and within the golden's tolerance), and a threaded
 * CLI command exits by itself once done (the pthread workers must not keep the process alive).
 * Each configuration is a child process: the thread count is fixed when the backend loads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from './helpers.ts';

function child(args: string[], timeoutS: number) {
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: timeoutS * 1000 });
  assert.equal(r.status, 0, `${args.join(' ')} exited with ${r.status ?? r.signal}: ${r.stderr.slice(-2000)}`);
  return r;
}

test('2 wasm threads regenerate the golden samples bit-for-bit like 1 thread', () => {
  const run = (threads: number) => JSON.parse(child(['--import', 'tsx', path.join('test', 'golden-child.ts'), String(threads)], 600).stdout.trim().split('\n').pop()!) as
    { threads: number; sha256: string; maxAbs: number; ok: boolean };
  const one = run(1);
  const two = run(2);
  assert.equal(one.threads, 1);
  assert.equal(two.threads, 2, 'the threaded build started 2 threads');
  assert.ok(one.ok && two.ok, `within the golden tolerance: 1 thread ${one.maxAbs}, 2 threads ${two.maxAbs}`);
  assert.equal(two.sha256, one.sha256, 'the same bytes on 1 and 2 threads');
});

test('a threaded CLI command reports its threads and exits by itself', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'threads-sample-'));
  try {
    const r = child(['bin/diffusion.mjs', 'sample', '--weights', 'public/weights/simple-unet-small', '--n', '1', '--steps', '2', '--threads', '2',
      '--out', path.join(dir, 'sample.png')], 300);
    assert.match(r.stderr, /on wasm \(2 threads\)/);
    assert.ok(fs.statSync(path.join(dir, 'sample.png')).size > 0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
