/**
 * The benchmark worker behind the unlisted /bench/ page (driven by `npm run bench`). One task,
 * `run`, measures one backend × width in a fresh worker: weight load, first forward (shader
 * compilation / kernel set-up), ms per forward at batch 1 and 8, time to 8 images with DDIM-50
 * (stopped at a cap, reported as a timeout with its projection), and peak tensor memory.
 * The backend is started by the site's own code (backend.ts), with training kernels registered
 * (on wasm that includes the XNNPACK-based Conv2DBackpropInput used by the up-sampling layers).
 */
import * as tf from '@tensorflow/tfjs-core';
import { exposeTasks, type TaskContext } from './expose.ts';
import { initBackend, type BackendChoice } from './backend.ts';
import { SimpleUNet } from '../core/model.ts';
import { makeSchedule } from '../core/schedule.ts';
import { generate, AbortError } from '../core/generate.ts';
import { forwardFlops } from '../core/flops.ts';
import { loadProjectWeights } from '../core/weights/load-any.ts';
import { MANIFEST_FILE, shardPaths, validateManifest } from '../core/weights/format.ts';

export interface BenchArgs {
  backend: Exclude<BackendChoice, 'auto'>;
  width: number;
  /** Folder URL of the project-format weights for this width (random init when absent). */
  weightsUrl: string | null;
  repeats1: number;
  repeats8: number;
  /** DDIM-50 on 8 images, stopped once it has run (or is projected to run) longer than capS. */
  ddim: boolean;
  capS: number;
  /** wasm: report this many logical cores to the wasm runtime, lifting tfjs' cores/2 thread cap. */
  fakeCores?: number;
}

export interface Stats {
  n: number;
  median: number;
  min: number;
  max: number;
  q1: number;
  q3: number;
}

export interface BenchResult {
  backend: string;
  requested: string;
  fallback: boolean;
  reason: string;
  threads: number | null;
  crossOriginIsolated: boolean;
  width: number;
  weightsLoaded: boolean;
  weightsSource: string;
  loadMs: number;
  warmupMs: number;
  warmupB8Ms: number;
  forward1: Stats | null;
  forward8: Stats | null;
  gflops8: number | null;
  ddim: { status: 'ok' | 'timeout' | 'skipped'; seconds: number | null; projectedSeconds: number | null; stepsDone: number; capSeconds: number } | null;
  peakTensorBytes: number;
  gpuBytes: number | null;
}

function stats(xs: number[]): Stats | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => {
    const i = (s.length - 1) * p;
    const lo = Math.floor(i);
    const hi = Math.ceil(i);
    return s[lo] + (s[hi] - s[lo]) * (i - lo);
  };
  return { n: s.length, median: q(0.5), min: s[0], max: s[s.length - 1], q1: q(0.25), q3: q(0.75) };
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** The project's weights folder, or null when it is not there (404). */
async function loadWeights(base: string): Promise<{ model: SimpleUNet; source: string } | null> {
  const res = await fetch(`${base}${MANIFEST_FILE}`);
  if (!res.ok) return null;
  const m = validateManifest(await res.json(), base);
  const shards = await Promise.all(shardPaths(m).map((p) => fetchBytes(`${base}${p}`)));
  const w = loadProjectWeights(m, shards, base);
  return { model: new SimpleUNet(w.config, w.weights), source: base };
}

const tasks = {
  async run(a: BenchArgs, ctx: TaskContext<string>): Promise<BenchResult> {
    if (a.fakeCores) {
      // tfjs' wasm runtime uses at most hardwareConcurrency / 2 threads; report more cores so a
      // 2-core machine gets 2 threads (measures what lifting that cap would buy).
      Object.defineProperty(self.navigator, 'hardwareConcurrency', { get: () => a.fakeCores, configurable: true });
    }
    const info = await initBackend(a.backend, { training: true });
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
          const out = await generate((x, t) => model.forward(x, t), makeSchedule(), {
            sampler: 'ddim', steps: 50, n: 8, seed: 0, signal: ac.signal,
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
        backend: info.label, requested: a.backend, fallback: info.fallback, reason: info.reason, threads: info.threads ?? null,
        crossOriginIsolated: Boolean(globalThis.crossOriginIsolated), width: model.config.width,
        weightsLoaded: Boolean(loaded), weightsSource: loaded?.source ?? `random init (no weights at ${a.weightsUrl ?? '—'})`,
        loadMs, warmupMs, warmupB8Ms, forward1: stats(f1), forward8: s8,
        gflops8: s8 ? (forwardFlops({ width: model.config.width }) * 8) / (s8.median / 1000) / 1e9 : null,
        ddim, peakTensorBytes: peak, gpuBytes: gpuPeak,
      };
    } finally {
      model.dispose();
    }
  },
};

exposeTasks(tasks);
export type BenchTasks = typeof tasks;
