import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSchedule, snr, SEED_SCHEDULE } from '../src/core/schedule.ts';

test("linear schedule is the seed's: β from 1e-4 to 0.02 over 1000 steps (float64 constants)", () => {
  const s = makeSchedule();
  assert.equal(s.T, 1000);
  assert.deepEqual(SEED_SCHEDULE, { kind: 'linear', T: 1000, betaStart: 1e-4, betaEnd: 0.02 });
  assert.equal(s.betas[0], 1e-4);
  assert.ok(Math.abs(s.betas[999] - 0.02) < 1e-15);
  assert.ok(Math.abs(s.betas[500] - (1e-4 + (0.0199 * 500) / 999)) < 1e-15);
  // ᾱ values computed independently in float64 (numpy: np.cumprod(1 - np.linspace(1e-4, 0.02, 1000)))
  assert.ok(Math.abs(s.alphasCumprod[0] - 0.9999) < 1e-15);
  assert.ok(Math.abs(s.alphasCumprod[99] - 0.89701814567496) < 1e-12, `ᾱ_99 = ${s.alphasCumprod[99]}`);
  assert.ok(Math.abs(s.alphasCumprod[499] - 0.07858724288177824) < 1e-12, `ᾱ_499 = ${s.alphasCumprod[499]}`);
  assert.ok(Math.abs(s.alphasCumprod[999] - 4.035829765375676e-05) < 1e-15, `ᾱ_999 = ${s.alphasCumprod[999]}`);
  for (let t = 1; t < 1000; t++) assert.ok(s.alphasCumprod[t] < s.alphasCumprod[t - 1]);
});

test('cosine schedule (Nichol & Dhariwal): ᾱ follows cos², β clipped at 0.999', () => {
  const s = makeSchedule({ kind: 'cosine' });
  const f = (t: number) => Math.cos(((t / 1000 + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  for (const t of [0, 10, 250, 500, 900]) {
    assert.ok(Math.abs(s.alphasCumprod[t] - f(t + 1) / f(0)) < 1e-12, `t=${t}`);
  }
  assert.equal(s.betas[999], 0.999);
  assert.ok(Math.max(...s.betas) <= 0.999);
});

test('SNR is ᾱ/(1-ᾱ) and decreases', () => {
  const s = makeSchedule();
  const r = snr(s);
  assert.ok(Math.abs(r[0] - 0.9999 / 0.0001) < 1e-6);
  for (let t = 1; t < 1000; t++) assert.ok(r[t] < r[t - 1]);
});

test('bad schedule configs are refused clearly', () => {
  assert.throws(() => makeSchedule({ T: 1 }), /T must be an integer >= 2/);
  assert.throws(() => makeSchedule({ kind: 'quadratic' as never }), /unknown kind 'quadratic'/);
});
