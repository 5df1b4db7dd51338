/**
 * The model worker: holds tfjs, its backend and ONE loaded SimpleUNet between tasks (the "GPU
 * worker" pattern), and runs the generation and architecture demos' work on it. Everything it
 * computes comes from src/core; this file only loads, orchestrates and converts to pixels.
 * Its tasks, their arguments and results are the contract in src/contracts/model.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { exposeTasks, transfer, type TaskContext } from '../pool/expose.ts';
import { currentBackend } from './services/backend.ts';
import { backendSession } from './services/backend-session.ts';
import { MAX_IMAGES_PER_RUN, type DownloadProgress, type ModelInfo, type ModelTasks, type WeightsSource } from '../contracts/model.ts';
import { SimpleUNet, blockParams, countParams, paramSpecs, BLOCKS, SEED_CONFIG, type UNetConfig } from '../core/model.ts';
import { makeSchedule, type Schedule } from '../core/schedule.ts';
import { generate as runSampler } from '../core/generate.ts';
import { nhwcToRGBA } from '../core/rgba.ts';
import { resolveSampling } from '../core/sampling-defaults.ts';
import { conditionedDenoiser } from '../core/guidance.ts';
import { loadProjectWeights, loadWeightsBytes, type LoadedWeights } from '../core/weights/load-any.ts';
import { MAX_PAGE_FILE_BYTES as MAX_DROPPED_BYTES } from '../core/weights/limits.ts';
import { fetchWeightsFolder } from './services/assets.ts';
import * as labStore from './services/lab-store.ts';

interface Loaded {
  key: string;
  name: string;
  weights: LoadedWeights;
  model: SimpleUNet;
  schedule: Schedule;
  bytes: number;
  loadMs: number;
}

let loaded: Loaded | null = null;

const SIZE = 32;

const backends = backendSession({
  onDeviceLost: (m) => exposed.fatal(m),
  // The model's variables live on the old backend; its weights (plain arrays) rebuild it on the new one.
  detach: async () => {
    const l = loaded;
    if (!l) return null;
    loaded = null;
    l.model.dispose();
    return () => {
      l.model = new SimpleUNet(l.weights.config, l.weights.weights);
      loaded = l;
    };
  },
});
function modelInfo(l: Loaded, cached: boolean): ModelInfo {
  const m = l.weights.meta;
  return {
    key: l.key, name: l.name, width: l.weights.config.width, params: countParams(l.weights.config), numClasses: l.weights.config.numClasses,
    weightsKind: m.weightsKind ?? 'unknown', training: m.training ?? null, prediction: m.prediction,
    bytes: l.bytes, loadMs: l.loadMs, backend: currentBackend()!, cached,
  };
}

function friendlyName(src: WeightsSource): string {
  if (src.name) return src.name;
  if ('url' in src) return src.url.replace(/\/$/, '').split('/').pop() || src.url;
  if ('fileKey' in src) return 'your file';
  return `weights "${src.idbKey}" from the training lab`;
}

async function fromUrl(dir: string, name: string, ctx: TaskContext<DownloadProgress>): Promise<{ json: unknown; shards: Uint8Array[]; bytes: number }> {
  let lastSent = 0;
  let last = { loaded: 0, total: 0 };
  const folder = await fetchWeightsFolder(dir, {
    name: `${name} model`, signal: ctx.signal,
    missing: (url) => `The ${name} model is not shipped with this site: its weights are missing (HTTP 404 for ${url}). Choose another model.`,
    onProgress: (loaded, total) => {
      last = { loaded, total };
      const now = performance.now();
      if (loaded === 0 || now - lastSent > 50) {
        lastSent = now;
        ctx.progress({ phase: 'download', loaded, total });
      }
    },
  });
  ctx.progress({ phase: 'download', ...last });
  return { json: folder.manifest, shards: folder.shards, bytes: folder.bytes };
}

async function fromIdb(key: string): Promise<{ json: unknown; shards: Uint8Array[]; bytes: number }> {
  const { manifest, shards } = await labStore.readWeights(key);
  return { json: manifest, shards, bytes: shards.reduce((a, s) => a + s.length, 0) };
}

function sourceKey(src: WeightsSource): string {
  if ('url' in src) return `url:${new URL(src.url, self.location.href).href}`;
  if ('fileKey' in src) return src.fileKey;
  return `idb:${src.idbKey}`;
}

function paramsAsZeros(cfg: UNetConfig): Map<string, Float32Array> {
  const m = new Map<string, Float32Array>();
  for (const s of paramSpecs(cfg)) m.set(s.name, new Float32Array(s.shape.reduce((a, b) => a * b, 1)));
  return m;
}

async function ensureLoaded(source: WeightsSource, ctx: TaskContext<DownloadProgress>, reload = false): Promise<ModelInfo> {
  const key = sourceKey(source);
  if (loaded && loaded.key === key && !reload) return modelInfo(loaded, true);
  const name = friendlyName(source);
  if ('fileKey' in source) {
    // the last dropped file is kept here, so switching models and back needs no new drop
    if (!dropped || dropped.key !== key) throw new Error(`${source.name ?? 'the file you dropped'} is no longer loaded (the model worker was restarted): drop it again`);
    return loadDropped(dropped, ctx);
  }
  const t0 = performance.now();
  const raw = 'url' in source ? await fromUrl(source.url, name, ctx) : await fromIdb(source.idbKey);
  ctx.throwIfAborted();
  ctx.progress({ phase: 'decode', loaded: raw.bytes, total: raw.bytes });
  // Decoding checks every tensor against the model; its error says what does not match.
  const weights = loadProjectWeights(raw.json, raw.shards, `the ${name} weights`);
  if (loaded) {
    loaded.model.dispose();
    loaded = null;
  }
  const model = new SimpleUNet(weights.config, weights.weights);
  loaded = { key, name, weights, model, schedule: makeSchedule(weights.meta.schedule), bytes: raw.bytes, loadMs: performance.now() - t0 };
  return modelInfo(loaded, false);
}

/** The last file a reader dropped (bytes kept so the demo can switch models and back). */
let dropped: { key: string; name: string; bytes: Uint8Array } | null = null;
let droppedCount = 0;

/**
 * A reader's file through the same validated loaders as the CLI (limits.ts: byte and element
 * budget, bounded metadata, checked schedule and finite weights): a hostile file is refused
 * with one line naming it, in bounded time and memory, and the page never parses anything.
 */
async function loadDropped(d: { key: string; name: string; bytes: Uint8Array }, ctx: TaskContext<DownloadProgress>): Promise<ModelInfo> {
  const t0 = performance.now();
  ctx.progress({ phase: 'decode', loaded: d.bytes.length, total: d.bytes.length });
  const weights = loadWeightsBytes(d.bytes, d.name);
  ctx.throwIfAborted();
  if (loaded) {
    loaded.model.dispose();
    loaded = null;
  }
  const model = new SimpleUNet(weights.config, weights.weights);
  loaded = { key: d.key, name: d.name, weights, model, schedule: makeSchedule(weights.meta.schedule), bytes: d.bytes.length, loadMs: performance.now() - t0 };
  return modelInfo(loaded, false);
}

const tasks: ModelTasks = {
  /** Starts (or switches) the tfjs backend. */
  async init(a = {}) {
    return backends.ensure(a.backend);
  },

  /** Loads weights (URL of a weights folder, or the training lab's IndexedDB record) and keeps them loaded. */
  async loadWeights(a, ctx) {
    await backends.ensure(a.backend);
    return ensureLoaded(a.source, ctx, a.reload);
  },

  /**
   * Loads a file the reader dropped (.pth, .safetensors or a weights .zip) and keeps it loaded;
   * `ModelInfo.key` is the source (`{ fileKey }`) to generate with.
   */
  async loadFile(a, ctx) {
    const name = String(a.name ?? 'dropped file').slice(0, 200);
    if (!(a.bytes instanceof Uint8Array)) throw new Error(`${name}: not a file's bytes`);
    if (a.bytes.length > MAX_DROPPED_BYTES) throw new Error(`${name}: ${a.bytes.length} bytes, over the ${MAX_DROPPED_BYTES} this page accepts`);
    await backends.ensure(a.backend);
    const d = { key: `file:${++droppedCount}:${name}`, name, bytes: a.bytes };
    const info = await loadDropped(d, ctx);
    dropped = d; // only once it loaded: a refused file never replaces a good one
    return info;
  },

  /** Runs a sampler on the loaded model, streaming x_t and x̂₀ frames. */
  async generate(a, ctx) {
    const backendInfo = await backends.ensure(a.backend);
    if (a.source) await ensureLoaded(a.source, ctx as TaskContext<DownloadProgress>, a.reload);
    if (!loaded) throw new Error('no model is loaded yet: load weights first');
    const l = loaded;
    const n = Math.floor(a.n);
    if (!(n >= 1 && n <= MAX_IMAGES_PER_RUN)) throw new Error(`n must be 1..${MAX_IMAGES_PER_RUN} images, got ${a.n}`);
    // The page's settings, completed and checked against this model's schedule, once.
    const setting = resolveSampling(a, l.schedule.T);
    const { steps } = setting;
    const frameEvery = Math.max(0, Math.floor(a.frameEvery ?? 1));
    const t0 = performance.now();
    let last = t0;
    let firstStepMs = 0;
    let restMs = 0;
    // Checks the labels against the model (an unconditional model refuses a class) before any work.
    const denoise = conditionedDenoiser(l.model, n, { labels: a.labels, guidance: setting.guidance });
    const out = await runSampler(denoise, l.schedule, {
      setting, n, seed: a.seed, prediction: l.weights.meta.prediction,
      signal: ctx.signal,
      onStep: async ({ index, total, t, x, x0 }) => {
        const frame = frameEvery > 0 && ((index + 1) % frameEvery === 0 || index === total - 1 || index === 0);
        // Reading x also waits for the GPU, so the timing is honest and a cancel lands between steps.
        const xs = (await x.data()) as Float32Array;
        const x0s = frame ? ((await x0.data()) as Float32Array) : null;
        const now = performance.now();
        if (index === 0) firstStepMs = now - last;
        else restMs += now - last;
        last = now;
        const msPerStep = index === 0 ? firstStepMs : restMs / index;
        if (frame && x0s) {
          const xt = nhwcToRGBA(xs);
          const x0r = nhwcToRGBA(x0s);
          ctx.progress(transfer({ phase: 'step' as const, step: index + 1, total, t, msPerStep, xt, x0: x0r }, [xt.buffer, x0r.buffer]));
        } else {
          ctx.progress({ phase: 'step', step: index + 1, total, t, msPerStep });
        }
        await ctx.checkpoint();
      },
    });
    let data: Float32Array;
    try {
      data = (await out.data()) as Float32Array;
    } finally {
      out.dispose();
    }
    const rgba = nhwcToRGBA(data);
    const totalMs = performance.now() - t0;
    return transfer(
      { rgba, n, size: SIZE, steps, totalMs, msPerStep: steps > 1 ? restMs / (steps - 1) : firstStepMs, firstStepMs, backend: backendInfo, sampler: setting.sampler, seed: a.seed },
      [rgba.buffer],
    );
  },

  /** Per-block output shapes (from a real forward pass) and parameter counts; no weights needed. */
  async describe(a = {}) {
    const backend = await backends.ensure();
    const t0 = performance.now();
    const cfg: UNetConfig = { ...SEED_CONFIG, width: a.width ?? 1 };
    // Shapes do not depend on the values: zeros skip drawing 16.8 M random numbers.
    const m = new SimpleUNet(cfg, paramsAsZeros(cfg));
    const shapes = new Map<string, number[]>();
    try {
      const y = m.forward(tf.zeros([1, SIZE, SIZE, 3]) as tf.Tensor4D, tf.tensor1d([0], 'int32'), { trace: (b, s) => shapes.set(b, [...s]) });
      await y.data();
      y.dispose();
    } finally {
      m.dispose();
    }
    const per = blockParams(cfg);
    return {
      width: cfg.width, total: countParams(cfg),
      blocks: BLOCKS.map((b) => ({ block: b, shape: shapes.get(b) ?? [], params: per[b] ?? 0 })),
      backend: backend.backend === 'cpu' ? 'cpu' : backend.backend === 'wasm' ? 'wasm' : backend.backend === 'webgpu' ? 'WebGPU' : 'WebGL', ms: performance.now() - t0,
    };
  },

  /** tf.memory() plus what is loaded, to check for leaks. */
  async memory() {
    const mem = tf.engine().backendName ? tf.memory() : { numTensors: 0, numBytes: 0 };
    return { numTensors: mem.numTensors, numBytes: mem.numBytes, backend: currentBackend()?.backend ?? null, model: loaded?.name ?? null, modelTensors: loaded?.model.params.size ?? 0 };
  },
};

const exposed = exposeTasks(tasks);
