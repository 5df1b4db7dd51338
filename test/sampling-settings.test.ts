/** resolveSampling: the one place a sampling request becomes the setting the sampler runs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  defaultSteps, resolveSampling, stridedTimesteps, MAX_SAMPLING_STEPS, RECOMMENDED_GUIDANCE, RECOMMENDED_SAMPLING, SAMPLER_INFO,
} from '../src/core/sampling-defaults.ts';

test('an empty request is the recommended setting, the same for the page and the CLI', () => {
  const s = resolveSampling({}, 1000);
  assert.deepEqual(
    { sampler: s.sampler, steps: s.steps, eta: s.eta, guidance: s.guidance },
    { ...RECOMMENDED_SAMPLING, guidance: RECOMMENDED_GUIDANCE },
  );
  assert.deepEqual(s.timesteps, stridedTimesteps(1000, RECOMMENDED_SAMPLING.steps));
  assert.equal(s.clipX0, undefined);
});

test('each sampler defaults to its own steps; only DDIM takes an η', () => {
  assert.equal(defaultSteps('ddim'), RECOMMENDED_SAMPLING.steps);
  for (const name of ['seed', 'ddpm', 'dpmpp2m'] as const) {
    const s = resolveSampling({ sampler: name, eta: 1 }, 1000);
    assert.equal(s.steps, SAMPLER_INFO[name].defaultSteps);
    assert.equal(s.eta, 0, `${name} has no η`);
  }
  assert.equal(resolveSampling({ sampler: 'ddim', eta: 0 }, 1000).eta, 0);
});

test('the steps are checked against the schedule, and the timesteps laid out on it', () => {
  assert.equal(MAX_SAMPLING_STEPS, 1000);
  assert.deepEqual(resolveSampling({ sampler: 'ddim', steps: 4 }, 100).timesteps, [99, 74, 49, 24]);
  assert.equal(resolveSampling({ sampler: 'ddpm' }, 1000).timesteps.length, 1000);
  assert.throws(() => resolveSampling({ sampler: 'ddpm' }, 500), /steps must be an integer in 1\.\.500, got 1000/);
  assert.throws(() => resolveSampling({ steps: 0 }, 1000), /1\.\.1000, got 0/);
  assert.throws(() => resolveSampling({ steps: 2.5 }, 1000), /integer/);
});

test('unknown samplers, η and guidance out of range are refused with one sentence', () => {
  assert.throws(() => resolveSampling({ sampler: '__proto__' }, 1000), /unknown sampler '__proto__'/);
  assert.throws(() => resolveSampling({ sampler: 'ddim', eta: 1.5 }, 1000), /eta must be in \[0, 1\], got 1\.5/);
  assert.throws(() => resolveSampling({ guidance: -1 }, 1000), /guidance must be a number in \[0, 10\], got -1/);
  assert.throws(() => resolveSampling({ guidance: Number.NaN }, 1000), /guidance/);
});
