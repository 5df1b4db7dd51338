/**
 * The model worker: holds tfjs, its backend and ONE loaded SimpleUNet between tasks (the "GPU
 * worker" pattern), and runs the generation and architecture demos' work on it. Everything it
 * computes comes from src/core; this file only loads, orchestrates and converts to pixels.
 * Its tasks, their arguments and results are the contract in src/contracts/model.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { exposeTasks, transfer, type TaskContext } from '../pool/expose.ts';
import { initBackend, currentBackend } from './backend.ts';
import type { BackendChoice, BackendInfo } from '../contracts/backend.ts';
import { MAX_IMAGES_PER_RUN, type DownloadProgress, type ModelInfo, type ModelTasks, type WeightsSource } from '../contracts/model.ts';
import { SimpleUNet, blockParams, countParams, paramSpecs, BLOCKS, SEED_CONFIG, type UNetConfig } from '../core/model.ts';
import { makeSchedule, type Schedule } from '../core/schedule.ts';
import { generate as runSampler } from '../core/generate.ts';
import { nhwcToRGBA } from '../core/rgba.ts';
import { SAMPLER_INFO } from '../core/sampling-defaults.ts';
import { conditionedDenoiser } from '../core/guidance.ts';
import { loadProjectWeights, loadWeightsBytes, type LoadedWeights } from '../core/weights/load-any.ts';
import { MAX_PAGE_FILE_BYTES as MAX_DROPPED_BYTES, parseJsonLimited } from '../core/weights/limits.ts';
import { MANIFEST_FILE, shardPaths, validateManifest } from '../core/weights/format.ts';

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
let requestedBackend: BackendChoice = 'auto';

const SIZE = 32;

async function ensureBackend(choice?: BackendChoice): Promise<BackendInfo> {
  const want = choice ?? requestedBackend;
  const cur = currentBackend();
  if (cur && cur.requested === want && tf.getBackend() === cur.backend) return cur;
  // Switching backends: rebuild the model's variables on the new one (the arrays stay in memory).
  const before = tf.engine().backendName;
  const info = await initBackend(want, { onDeviceLost: (m) => exposed.fatal(m) });
  requestedBackend = want;
  if (loaded && info.backend !== before) {
    const l = loaded;
    loaded = null;
    l.model.dispose(); // its variables live on the old backend
    l.model = new SimpleUNet(l.weights.config, l.weights.weights);
    loaded = l;
  }
  return info;
}

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

/** fetch + read with byte progress; a 404 names what is missing. */
async function fetchBytes(url: string, what: string, onChunk: (n: number, total: number) => void, signal: AbortSignal, missing?: string): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url, { signal });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new Error(`could not download ${what} (${url}): ${(e as Error).message}`);
  }
  if (res.status === 404) throw new Error(missing ?? `${what} is missing from this site (HTTP 404 for ${url})`);
  if (!res.ok) throw new Error(`could not download ${what}: HTTP ${res.status} ${res.statusText} for ${url}`);
  const total = Number(res.headers.get('content-length') ?? 0);
  if (!res.body) {
    const b = new Uint8Array(await res.arrayBuffer());
    onChunk(b.length, total);
    return b;
  }
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let got = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    got += value.length;
    onChunk(value.length, total);
  }
  const out = new Uint8Array(got);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

async function fromUrl(dir: string, name: string, ctx: TaskContext<DownloadProgress>): Promise<{ json: unknown; shards: Uint8Array[]; bytes: number }> {
  const base = dir.endsWith('/') ? dir : `${dir}/`;
  const manifestUrl = new URL(MANIFEST_FILE, new URL(base, self.location.href)).href;
  let loadedBytes = 0;
  let totalBytes = 0;
  const manifestBytes = await fetchBytes(manifestUrl, `the ${name} model's weights`, () => {}, ctx.signal,
    `The ${name} model is not shipped with this site: its weights are missing (HTTP 404 for ${manifestUrl}). Choose another model.`);
  let json: unknown;
  try {
    json = parseJsonLimited(new TextDecoder().decode(manifestBytes), manifestUrl);
  } catch {
    throw new Error(`the ${name} model's weights are not shipped with this site (${manifestUrl} is not a JSON manifest)`);
  }
  const m = validateManifest(json, manifestUrl);
  const paths = shardPaths(m);
  // Expected size from the manifest (float16 = 2 bytes per value), for a progress total before headers arrive.
  for (const g of m.weightsManifest) for (const w of g.weights) totalBytes += w.shape.reduce((a, b) => a * b, 1) * (w.quantization?.dtype === 'float16' ? 2 : 4);
  ctx.progress({ phase: 'download', loaded: 0, total: totalBytes });
  let lastSent = 0;
  const shards = await Promise.all(
    paths.map((p) =>
      fetchBytes(new URL(p, manifestUrl).href, `weights shard ${p} of the ${name} model`, (n) => {
        loadedBytes += n;
        const now = performance.now();
        if (now - lastSent > 50) {
          lastSent = now;
          ctx.progress({ phase: 'download', loaded: loadedBytes, total: Math.max(totalBytes, loadedBytes) });
        }
      }, ctx.signal),
    ),
  );
  ctx.progress({ phase: 'download', loaded: loadedBytes, total: Math.max(totalBytes, loadedBytes) });
  return { json, shards, bytes: loadedBytes + manifestBytes.length };
}

function toBytes(x: unknown): Uint8Array {
  if (x instanceof Uint8Array) return x;
  if (x instanceof ArrayBuffer) return new Uint8Array(x);
  if (ArrayBuffer.isView(x)) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  throw new Error('a stored weights shard is not binary data');
}

async function fromIdb(key: string): Promise<{ json: unknown; shards: Uint8Array[]; bytes: number }> {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const req = indexedDB.open('diffusion-lab');
    req.onerror = () => reject(new Error(`could not open the training lab's saved weights (IndexedDB): ${req.error?.message ?? 'unknown error'}`));
    req.onsuccess = () => resolve(req.result);
  });
  try {
    if (!db.objectStoreNames.contains('weights')) throw new Error('the training lab has not saved any weights in this browser yet');
    const rec = await new Promise<unknown>((resolve, reject) => {
      const req = db.transaction('weights', 'readonly').objectStore('weights').get(key);
      req.onerror = () => reject(new Error(`reading saved weights "${key}" failed: ${req.error?.message ?? 'unknown error'}`));
      req.onsuccess = () => resolve(req.result);
    });
    if (!rec || typeof rec !== 'object') throw new Error(`no saved weights named "${key}" in this browser (they may have been cleared)`);
    const r = rec as { manifest?: unknown; shards?: unknown[] };
    if (!r.manifest || !Array.isArray(r.shards)) throw new Error(`saved weights "${key}" are not in the expected {manifest, shards} form`);
    const shards = r.shards.map(toBytes);
    return { json: r.manifest, shards, bytes: shards.reduce((a, s) => a + s.length, 0) };
  } finally {
    db.close();
  }
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
    return ensureBackend(a.backend ?? requestedBackend);
  },

  /** Loads weights (URL of a weights folder, or the training lab's IndexedDB record) and keeps them loaded. */
  async loadWeights(a, ctx) {
    await ensureBackend(a.backend);
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
    await ensureBackend(a.backend);
    const d = { key: `file:${++droppedCount}:${name}`, name, bytes: a.bytes };
    const info = await loadDropped(d, ctx);
    dropped = d; // only once it loaded: a refused file never replaces a good one
    return info;
  },

  /** Runs a sampler on the loaded model, streaming x_t and x̂₀ frames. */
  async generate(a, ctx) {
    const backend = await ensureBackend(a.backend);
    if (a.source) await ensureLoaded(a.source, ctx as TaskContext<DownloadProgress>, a.reload);
    if (!loaded) throw new Error('no model is loaded yet: load weights first');
    const l = loaded;
    if (!(a.sampler in SAMPLER_INFO)) throw new Error(`unknown sampler '${a.sampler}'`);
    const n = Math.floor(a.n);
    if (!(n >= 1 && n <= MAX_IMAGES_PER_RUN)) throw new Error(`n must be 1..${MAX_IMAGES_PER_RUN} images, got ${a.n}`);
    const steps = a.steps ?? SAMPLER_INFO[a.sampler].defaultSteps;
    const frameEvery = Math.max(0, Math.floor(a.frameEvery ?? 1));
    const t0 = performance.now();
    let last = t0;
    let firstStepMs = 0;
    let restMs = 0;
    // Checks the labels against the model (an unconditional model refuses a class) before any work.
    const denoise = conditionedDenoiser(l.model, n, { labels: a.labels, guidance: a.guidance });
    const out = await runSampler(denoise, l.schedule, {
      sampler: a.sampler, steps, n, seed: a.seed, eta: a.eta, clipX0: a.clipX0, prediction: l.weights.meta.prediction,
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
      { rgba, n, size: SIZE, steps, totalMs, msPerStep: steps > 1 ? restMs / (steps - 1) : firstStepMs, firstStepMs, backend, sampler: a.sampler, seed: a.seed },
      [rgba.buffer],
    );
  },

  /** Per-block output shapes (from a real forward pass) and parameter counts; no weights needed. */
  async describe(a = {}) {
    const backend = await ensureBackend();
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
