/**
 * The benchmark worker behind the unlisted /bench/ page (driven by `npm run bench`). One task,
 * `run`, measures one backend × width in a fresh worker: weight load, first forward (shader
 * compilation / kernel set-up), ms per forward at batch 1 and 8, time to 8 images with DDIM-50
 * (stopped at a cap, reported as a timeout with its projection), and peak tensor memory; and, when
 * asked, training throughput: the real Trainer (one trainStep = one AdamW step) on a fresh model of
 * that width and a synthetic image set, after the forward measurements (or alone: trainOnly).
 * The backend is started by the site's own code (backend.ts), with training kernels registered
 * (on wasm that includes the XNNPACK-based Conv2DBackpropInput used by the up-sampling layers).
 */
import * as tf from '@tensorflow/tfjs-core';
import { exposeTasks, type TaskContext } from '../pool/expose.ts';
import { initBackend } from './services/backend.ts';
import { stats } from '../core/stats.ts';
import type { BenchArgs, BenchResult, BenchTasks, TrainBench } from '../contracts/bench.ts';
import { SimpleUNet } from '../core/model.ts';
import { makeSchedule, SEED_SCHEDULE } from '../core/schedule.ts';
import { Trainer } from '../core/trainer.ts';
import { IMAGE_BYTES } from '../core/data/cifar.ts';
import { generate, AbortError } from '../core/generate.ts';
import { resolveSampling } from '../core/sampling-defaults.ts';
import { forwardFlops } from '../core/flops.ts';
import { loadProjectWeights } from '../core/weights/load-any.ts';
import { peakTracker } from './services/peak-memory.ts';
import { fetchWeightsFolder } from './services/assets.ts';

type ForwardPart = Pick<BenchResult, 'width' | 'weightsLoaded' | 'weightsSource' | 'loadMs' | 'warmupMs' | 'warmupB8Ms' | 'forward1' | 'forward8' | 'gflops8' | 'ddim' | 'peakTensorBytes' | 'gpuBytes'>;

/** The project's weights folder, or null when it is not there (404). */
async function loadWeights(base: string): Promise<{ model: SimpleUNet; source: string } | null> {
  try {
    const { manifest, shards } = await fetchWeightsFolder(base, { name: 'benchmarked model' });
    const w = loadProjectWeights(manifest, shards, base);
    return { model: new SimpleUNet(w.config, w.weights), source: base };
  } catch (e) {
    if ((e as Error).name === 'NotFoundError') return null;
    throw e;
  }
}

/** Forward timings: weight load, first forwards, batch 1 and 8, DDIM-50, peak tensor memory. */
async function forwardBench(a: BenchArgs, ctx: TaskContext<string>): Promise<ForwardPart> {
  let peak = 0;
  let gpuPeak: number | null = null;
  const sample = () => {
    const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
    peak = Math.max(peak, m.numBytes);
    if (typeof m.numBytesInGPU === 'number') gpuPeak = Math.max(gpuPeak ?? 0, m.numBytesInGPU);
  };

  ctx.progress('loading weights');
  const t0 = performance.now();
  const loaded = a.weightsUrl ? await loadWeights(a.weightsUrl).catch(() => null) : null;
  const model = loaded?.model ?? new SimpleUNet({ width: a.width });
  const loadMs = performance.now() - t0;
  sample();

  const input = (b: number) => ({
    x: tf.randomNormal([b, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D,
    t: tf.tensor1d(Array.from({ length: b }, (_, i) => (i * 997) % 1000), 'int32'),
  });
  const forward = async (b: number): Promise<number> => {
    const { x, t } = input(b);
    const s = performance.now();
    const y = model.forward(x, t);
    await y.data();
    const ms = performance.now() - s;
    sample();
    tf.dispose([x, t, y]);
    return ms;
  };

  try {
    ctx.progress('warm-up');
    const warmupMs = await forward(1);
    // The first batch-8 forward (new shapes) doubles as the memory probe: tf.profile tracks the
    // engine's peak bytes (absolute, weights included) over the call.
    let warmupB8Ms = 0;
    const prof = await tf.profile(async () => {
      warmupB8Ms = await forward(8);
    });
    peak = Math.max(peak, prof.peakBytes);
    ctx.progress('forward');
    const f1: number[] = [];
    for (let i = 0; i < a.repeats1; i++) {
      await ctx.checkpoint();
      f1.push(await forward(1));
    }
    const f8: number[] = [];
    for (let i = 0; i < a.repeats8; i++) {
      await ctx.checkpoint();
      f8.push(await forward(8));
    }

    let ddim: BenchResult['ddim'] = { status: 'skipped', seconds: null, projectedSeconds: null, stepsDone: 0, capSeconds: a.capS };
    const s8 = stats(f8);
    const fromForward = s8 ? (s8.median * 50) / 1000 : null;
    if (a.ddim && fromForward !== null && fromForward > 2 * a.capS) {
      // Hopeless within the cap: report the projection from the batch-8 forward without running it.
      ddim = { status: 'timeout', seconds: null, projectedSeconds: fromForward, stepsDone: 0, capSeconds: a.capS };
    } else if (a.ddim) {
      ctx.progress('DDIM-50');
      const ac = new AbortController();
      const start = performance.now();
      let done = 0;
      let projected: number | null = null;
      try {
        const schedule = makeSchedule();
        const out = await generate((x, t) => model.forward(x, t), schedule, {
          setting: resolveSampling({ sampler: 'ddim', steps: 50, eta: 0 }, schedule.T), n: 8, seed: 0, signal: ac.signal,
          onStep: async (s) => {
            await s.x.data(); // sync, so the clock measures finished work
            sample();
            done = s.index + 1;
            const el = (performance.now() - start) / 1000;
            projected = (el / done) * s.total;
            ctx.progress(`DDIM step ${done}/${s.total}`);
            if (el > a.capS || (done >= 2 && projected > a.capS * 1.15)) ac.abort();
          },
        });
        await out.data();
        out.dispose();
        ddim = { status: 'ok', seconds: (performance.now() - start) / 1000, projectedSeconds: null, stepsDone: done, capSeconds: a.capS };
      } catch (e) {
        if (!(e instanceof AbortError) && (e as Error).name !== 'AbortError') throw e;
        ddim = { status: 'timeout', seconds: null, projectedSeconds: projected, stepsDone: done, capSeconds: a.capS };
      }
    }
    return {
      width: model.config.width,
      weightsLoaded: Boolean(loaded), weightsSource: loaded?.source ?? `random init (no weights at ${a.weightsUrl ?? '—'})`,
      loadMs, warmupMs, warmupB8Ms, forward1: stats(f1), forward8: s8,
      gflops8: s8 ? (forwardFlops({ width: model.config.width }) * 8) / (s8.median / 1000) / 1e9 : null,
      ddim, peakTensorBytes: peak, gpuBytes: gpuPeak,
    };
  } finally {
    model.dispose();
  }
}

/** 256 random 32×32 RGB images in CIFAR's planar layout (the values do not change the speed). */
function syntheticImages(count = 256): { images: Uint8Array; count: number } {
  const images = new Uint8Array(count * IMAGE_BYTES);
  let s = 0x9e3779b9;
  for (let i = 0; i < images.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    images[i] = s & 0xff;
  }
  return { images, count };
}

/** Training throughput of the real Trainer on a fresh model of this width (random init). */
async function trainBench(width: number, o: NonNullable<BenchArgs['train']>, ctx: TaskContext<string>): Promise<TrainBench> {
  const tensorsBefore = tf.memory().numTensors;
  const model = new SimpleUNet({ width }, undefined, 0);
  const trainer = new Trainer(model, makeSchedule(SEED_SCHEDULE), syntheticImages(), {
    batchSize: o.batch, lr: 1e-4, totalSteps: 1000, seed: 0,
  });
  // The smallest EMA tensor is written last by a step: reading it waits for the whole update
  // (trainStep returns once the loss is read; on a GPU the optimizer may still be queued).
  let smallest: tf.Tensor | null = null;
  for (const t of trainer.emaParams.values()) if (!smallest || t.size < smallest.size) smallest = t;
  const tracker = peakTracker();
  let peak = 0;
  const step = async (): Promise<number> => {
    tracker?.reset();
    const s = performance.now();
    await trainer.trainStep();
    await smallest!.data();
    const ms = performance.now() - s;
    if (tracker) peak = Math.max(peak, tracker.peak);
    return ms;
  };
  let r: TrainBench;
  try {
    ctx.progress(`training: first step (batch ${o.batch})`);
    const firstStepMs = await step();
    const residentBytes = tf.memory().numBytes;
    const times: number[] = [];
    const start = performance.now();
    for (let i = 0; i < o.steps; i++) {
      if (i > 0 && (performance.now() - start) / 1000 > o.capS) break;
      await ctx.checkpoint();
      ctx.progress(`training: step ${i + 1}/${o.steps}`);
      times.push(await step());
    }
    const st = stats(times);
    r = {
      batch: o.batch, firstStepMs, stepMs: st, imagesPerS: st ? o.batch / (st.median / 1000) : null,
      stepsDone: times.length, stepsPlanned: o.steps, capSeconds: o.capS, peakBytes: tracker ? peak : null, residentBytes,
      leakedTensors: 0, status: times.length < o.steps ? 'timeout' : 'ok',
    };
  } finally {
    tracker?.stop();
    trainer.dispose();
    model.dispose();
  }
  r.leakedTensors = tf.memory().numTensors - tensorsBefore;
  return r;
}

const tasks: BenchTasks = {
  async run(a, ctx) {
    if (a.fakeCores) {
      // tfjs' wasm runtime uses at most hardwareConcurrency / 2 threads; report more cores so a
      // 2-core machine gets 2 threads (measures what lifting that cap would buy).
      Object.defineProperty(self.navigator, 'hardwareConcurrency', { get: () => a.fakeCores, configurable: true });
    }
    const info = await initBackend(a.backend, { training: true });
    const fwd: ForwardPart = a.trainOnly
      ? {
        width: a.width, weightsLoaded: false, weightsSource: '', loadMs: null, warmupMs: null, warmupB8Ms: null,
        forward1: null, forward8: null, gflops8: null, ddim: null, peakTensorBytes: null, gpuBytes: null,
      }
      : await forwardBench(a, ctx);
    // After the forwards (their model is disposed by then), so neither disturbs the other.
    const train = a.train ? await trainBench(a.width, a.train, ctx) : null;
    return {
      backend: info.label, requested: a.backend, fallback: info.fallback, reason: info.reason, threads: info.threads ?? null,
      crossOriginIsolated: Boolean(globalThis.crossOriginIsolated), ...fwd, train,
    };
  },
};

exposeTasks(tasks);
