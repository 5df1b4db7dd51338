/** Shared setup for unit tests: a tfjs backend (wasm by default, the CLI's), and fixture paths. */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initNodeBackend, tf } from '../src/cli/tf-node.ts';
import { loadWeightsPath } from '../src/cli/weights-files.ts';
import { SimpleUNet } from '../src/core/model.ts';
import { makeSchedule } from '../src/core/schedule.ts';
import { generate, initialNoise } from '../src/core/generate.ts';
import { conditionedDenoiser } from '../src/core/guidance.ts';
import { resolveSampling } from '../src/core/sampling-defaults.ts';
import type { GoldenSettings } from '../src/core/golden.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');
export const SHARED_DATA = path.resolve(ROOT, '..', 'shared', 'data', 'cifar-10-batches-bin');

export async function useBackend(name: 'wasm' | 'cpu' = 'wasm') {
  await initNodeBackend(name);
  return tf;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** The first `images` of a golden's samples, regenerated on the current backend. */
export async function regenerateGolden(s: GoldenSettings, images = s.n): Promise<Float32Array> {
  const w = loadWeightsPath(path.join(ROOT, s.weights));
  const model = new SimpleUNet(w.config, w.weights);
  const schedule = makeSchedule(w.meta.schedule);
  const out = await generate(conditionedDenoiser(model, images, { labels: s.labels?.slice(0, images), guidance: s.guidance }), schedule, {
    setting: resolveSampling(s, schedule.T), n: images, seed: s.seed, size: s.size, prediction: w.meta.prediction,
    initNoise: initialNoise(s.seed, s.n, s.size).subarray(0, images * s.size * s.size * 3),
  });
  const got = (await out.data()) as Float32Array;
  out.dispose();
  model.dispose();
  return got;
}
