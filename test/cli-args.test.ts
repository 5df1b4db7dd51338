/**
 * The CLI checks every argument before any work (no weights loaded, no data read, nothing
 * written), and says what is wrong in one line without a stack trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './helpers.ts';

const run = promisify(execFile);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-args-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

async function cli(args: string[]): Promise<{ code: number; stderr: string; ms: number }> {
  const t0 = performance.now();
  try {
    await run(process.execPath, [path.join(ROOT, 'bin/diffusion.mjs'), ...args], { cwd: tmp, timeout: 120_000 });
    return { code: 0, stderr: '', ms: performance.now() - t0 };
  } catch (e) {
    const err = e as { code: number; stderr: string };
    return { code: err.code, stderr: String(err.stderr), ms: performance.now() - t0 };
  }
}

const png = path.join(tmp, 'ok.png');
const cases: [string[], RegExp][] = [
  [['sample', '--n', '-1'], /^error: --n must be at least 1, got -1$/],
  [['sample', '--sampler', '__proto__'], /^error: --sampler must be one of seed, ddim, ddpm, dpmpp2m, got '__proto__'$/],
  [['sample', '--eta', '2'], /^error: --eta must be at most 1, got 2$/],
  [['sample', '--scale', '0'], /^error: --scale must be at least 1, got 0$/],
  [['sample', '--seed', '1.5'], /^error: --seed must be a whole number, got 1\.5$/],
  [['sample', '--out', '/proc/no-such/x.png'], /^error: --out \/proc\/no-such\/x\.png: cannot create \/proc\/no-such \(E[A-Z]+\)$/],
  [['sample', '--out', png, '--out-npy', '/proc/no-such/x.npy'], /^error: --out-npy \/proc\/no-such\/x\.npy: cannot create \/proc\/no-such/],
  [['sample', '--weights', 'nowhere'], /^error: no weights at nowhere$/],
  [['eval', '--json', '/proc/no-such/x.json'], /^error: --json \/proc\/no-such\/x\.json: cannot create \/proc\/no-such/],
  [['eval', '--sampler', '__proto__'], /^error: --sampler must be one of seed, ddim, ddpm, dpmpp2m, got '__proto__'$/],
  [['eval', '--table', '--out-md', '/proc/no-such/q.md'], /^error: --out-md \/proc\/no-such\/q\.md: cannot create \/proc\/no-such/],
  [['train', '--out', '/proc/no-such'], /^error: --out \/proc\/no-such: cannot create \/proc\/no-such \(E[A-Z]+\)$/],
  [['train', '--batch', '0'], /^error: --batch must be at least 1, got 0$/],
  [['train', '--resume', '--out', 'fresh-run'], /^error: nothing to resume: .*fresh-run\/checkpoint\/weights\.json does not exist$/],
  [['import', 'nope.pth', '--out', 'x'], /^error: no file at nope\.pth$/],
  [['export', '--out', '/proc/no-such/m.safetensors'], /^error: --out \/proc\/no-such\/m\.safetensors: cannot create/],
];

for (const [args, want] of cases) {
  test(`diffusion ${args.join(' ')}: refused before any work`, async () => {
    const r = await cli(args);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr.trim(), want);
    assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
    assert.equal(fs.existsSync(png), false, 'nothing written');
  });
}
