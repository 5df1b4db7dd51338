/**
 * `diffusion eval --images DIR` scores samples made elsewhere (PyTorch, the recipe study) and,
 * with --grid, draws them like every other eval: real CIFAR-10 test images as the samples.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ROOT, SHARED_DATA } from './helpers.ts';
import { writeNpy } from '../src/cli/npy.ts';
import { IMAGE_BYTES, RECORD_BYTES, TEST_FILE } from '../src/core/data/cifar.ts';

test('eval --images scores a folder of .npy samples and writes the --grid and --json it is given', { skip: !fs.existsSync(SHARED_DATA) && 'no CIFAR-10 data' }, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eval-images-'));
  try {
    const n = 12;
    const raw = fs.readFileSync(path.join(SHARED_DATA, TEST_FILE)).subarray(0, n * RECORD_BYTES);
    const data = new Float32Array(n * IMAGE_BYTES);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < IMAGE_BYTES; j++) data[i * IMAGE_BYTES + j] = raw[i * RECORD_BYTES + 1 + j]! / 127.5 - 1;
    }
    fs.mkdirSync(path.join(tmp, 'samples'));
    writeNpy(path.join(tmp, 'samples', 'samples.npy'), { shape: [n, 3, 32, 32], data });
    const grid = path.join(tmp, 'grid.png');
    const json = path.join(tmp, 'eval.json');
    await promisify(execFile)(process.execPath, [path.join(ROOT, 'bin/diffusion.mjs'), 'eval', '--images', path.join(tmp, 'samples'),
      '--n', String(n), '--no-kid', '--grid', grid, '--json', json, '--data', SHARED_DATA], { cwd: tmp, timeout: 240_000 });
    const png = fs.readFileSync(grid);
    assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
    assert.ok(png.readUInt32BE(16) >= 32 && png.readUInt32BE(20) >= 32, 'a grid of 32-pixel images');
    const r = JSON.parse(fs.readFileSync(json, 'utf8')) as { n: number; grid: string; swd: { average: number } };
    assert.equal(r.n, n);
    assert.equal(path.resolve(tmp, r.grid), grid);
    assert.ok(Number.isFinite(r.swd.average) && r.swd.average > 0);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
