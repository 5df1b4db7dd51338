/**
 * The training lab's worker: tfjs, its backend and ONE training session (model + Trainer +
 * data) that survive between tasks, so a paused run keeps its exact state in memory. All the
 * maths is src/core's Trainer (one optimizer step per `trainStep()`), the same recipe as
 * `diffusion train` in the CLI; this file orchestrates, reports and stores.
 * Its tasks, their arguments and results are the contract in src/contracts/train.ts.
 *
 * Pause / resume / stop (task cancellation, the trainer stays alive): `start` runs until the
 * planned steps are done or its task is cancelled. Cancellation is only looked at BETWEEN
 * optimizer steps, so a step is never cut in half; the loop then returns and the session
 * (weights, EMA, Adam moments, step, RNG, loss history) stays in this worker. The page pauses by
 * aborting the `start` task and then running `save()`, which the pool queues behind the stopping
 * `start`, so it returns the exact step reached and writes a checkpoint. Resuming is
 * `start({ resume: runId })`: the in-memory session when it is that run (exact continuation,
 * same step), otherwise the checkpoint from IndexedDB (after a reload or a worker restart).
 * Stop is the same as pause for the worker; the page just offers a new run instead of Resume.
 */
import * as tf from '@tensorflow/tfjs-core';
import { zipSync } from 'fflate';
import { exposeTasks, transfer } from '../pool/expose.ts';
import { currentBackend } from './services/backend.ts';
import { backendSession } from './services/backend-session.ts';
import * as store from './services/lab-store.ts';
import {
  AVG_WINDOW, DEFAULT_SAVE_EVERY, SAMPLE_CLASSES, SAMPLE_N, SAMPLE_SEED, SAMPLE_STEPS, SAVE_EVERY_MS,
  type CheckpointMeta, type RunInfo, type StartArgs, type TrainProgress, type TrainTasks,
} from '../contracts/train.ts';
import { SimpleUNet, countParams } from '../core/model.ts';
import { makeSchedule, SEED_SCHEDULE, type Schedule } from '../core/schedule.ts';
import { Trainer, SEED_RECIPE, PROJECT_RECIPE, type ImageSet } from '../core/trainer.ts';
import { encodeCheckpoint, decodeCheckpoint } from '../core/checkpoint.ts';
import { encodeWeights, modelTensors, MANIFEST_FILE, shardPaths, type TrainingRecord, type WeightsManifest } from '../core/weights/format.ts';
import { generate } from '../core/generate.ts';
import { chwToRGBA, nhwcToRGBA } from '../core/rgba.ts';
import { conditionedDenoiser } from '../core/guidance.ts';
import { resolveSampling } from '../core/sampling-defaults.ts';
import { loadProjectWeights } from '../core/weights/load-any.ts';
import { IMAGE_BYTES } from '../core/data/cifar.ts';
import { peakTracker } from './services/peak-memory.ts';
import { loadDataSubset } from './services/site-data.ts';
import { fetchWeightsFolder } from './services/assets.ts';

/** Prefix of the weights keys this lab writes into the 'weights' store. */
const WEIGHTS_PREFIX = 'lab-';

interface LabData {
  source: 'cifar' | 'own';
  set: ImageSet;
  label: string;
}

interface Session {
  runId: string;
  createdAt: number;
  model: SimpleUNet;
  trainer: Trainer;
  schedule: Schedule;
  data: LabData;
  sampleEvery: number;
  saveEvery: number;
  seed: number;
  lastSaved: { step: number; at: number } | null;
  finished: boolean;
  /** What the run started from ("the shipped small model") or null for random weights. */
  initLabel: string | null;
}

let session: Session | null = null;
let data: LabData | null = null;
let cifar: Promise<LabData> | null = null;
/** Test hook: the next save fails as if the storage quota were full. */
let failNextSave = false;

// --- backend ---------------------------------------------------------------------------------

const backends = backendSession({
  training: true,
  onDeviceLost: (m) => exposed.fatal(m),
  // Moving a session to another backend: read its whole state, rebuild it there.
  detach: async () => {
    const s = session;
    if (!s) return null;
    const state = await s.trainer.state();
    s.trainer.dispose();
    s.model.dispose();
    return () => {
      s.model = new SimpleUNet(s.model.config, state.weights);
      s.trainer = Trainer.restore(s.model, s.schedule, s.data.set, state);
    };
  },
});

// --- data ------------------------------------------------------------------------------------

async function loadCifar(manifest: string): Promise<LabData> {
  const d = await loadDataSubset(manifest, 'train');
  if (!d.ok) throw new Error(`${d.message} You can train on your own images instead.`);
  // Class labels let a class-conditional model keep learning its classes.
  return { source: 'cifar', set: { images: d.images, count: d.count, labels: d.labels }, label: `CIFAR-10 training subset (${d.count.toLocaleString('en-US')} images)` };
}

function getCifar(manifest: string | undefined): Promise<LabData> {
  if (!manifest) return Promise.reject(new Error('the page did not say where the CIFAR-10 data is (no data manifest URL)'));
  cifar ??= loadCifar(manifest).catch((e) => {
    cifar = null;
    throw e;
  });
  return cifar;
}

function ownData(images: Uint8Array, count: number): LabData {
  if (!Number.isInteger(count) || count < 1) throw new Error('no images to train on: add at least one image');
  if (!(images instanceof Uint8Array) || images.length !== count * IMAGE_BYTES) {
    throw new Error(`own images: expected ${count} × ${IMAGE_BYTES} bytes (32×32 RGB, planes R, G, B), got ${images?.length ?? 0}`);
  }
  return { source: 'own', set: { images, count }, label: `your ${count.toLocaleString('en-US')} image${count === 1 ? '' : 's'}` };
}

function preview(d: LabData): { preview: Uint8ClampedArray; previewCount: number } {
  const k = Math.min(16, d.set.count);
  return { preview: chwToRGBA(d.set.images, 0, k), previewCount: k };
}

// --- session -----------------------------------------------------------------------------------

function runInfo(s: Session): RunInfo {
  const c = s.trainer.config;
  return {
    runId: s.runId, step: s.trainer.step, totalSteps: c.totalSteps, width: s.model.config.width, params: countParams(s.model.config),
    batch: c.batchSize, lr: c.lr, sampleEvery: s.sampleEvery, saveEvery: s.saveEvery,
    data: { source: s.data.source, count: s.data.set.count, label: s.data.label }, lastSaved: s.lastSaved, init: s.initLabel,
  };
}

function disposeSession(): void {
  if (!session) return;
  session.trainer.dispose();
  session.model.dispose();
  session = null;
}

function record(s: Session): TrainingRecord {
  const t = s.trainer;
  const b = currentBackend();
  return {
    steps: t.step, imagesSeen: t.imagesSeen, epochs: t.imagesSeen / s.data.set.count, batchSize: t.config.batchSize,
    finalLoss: t.losses.at(-1) ?? null, bestLoss: t.losses.length ? Math.min(...t.losses) : null, wallTimeS: t.wallTimeS,
    hardware: `a web browser, TensorFlow.js ${b?.label ?? tf.getBackend()}`,
    command: `the article's training lab (${s.initLabel ? `fine-tuning ${s.initLabel}` : 'from scratch'}, width ${s.model.config.width}, batch ${t.config.batchSize}, lr ${t.config.lr}, ${t.config.totalSteps} planned steps)`,
    recipe: { ...SEED_RECIPE, ...t.config }, lossCurve: 'loss.json', notes: `trained on ${s.data.label}`,
  };
}

async function restoreFromCheckpoint(key: string, dataManifest: string | undefined): Promise<Session> {
  const { meta, data: stored } = await store.readCheckpoint(key);
  let d: LabData;
  if (meta.data.source === 'own') {
    if (!stored.images) throw new Error(`checkpoint "${key}" was trained on your own images, but they were not saved with it`);
    d = ownData(stored.images, meta.data.count);
  } else {
    d = await getCifar(dataManifest);
  }
  const { state, manifest } = decodeCheckpoint(stored.manifest, stored.shards, `saved checkpoint "${key}"`);
  const schedule = makeSchedule(manifest.schedule);
  disposeSession();
  const model = new SimpleUNet(manifest.modelConfig, state.weights);
  const trainer = Trainer.restore(model, schedule, d.set, state);
  data = d;
  return {
    runId: key, createdAt: meta.createdAt, model, trainer, schedule, data: d, sampleEvery: meta.sampleEvery, saveEvery: meta.saveEvery,
    seed: meta.seed, lastSaved: { step: meta.step, at: meta.savedAt }, finished: trainer.step >= trainer.config.totalSteps, initLabel: meta.init ?? null,
  };
}

function checkNumber(v: unknown, what: string, min: number, max: number, int = false): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max || (int && !Number.isInteger(n))) throw new Error(`${what} must be ${int ? 'an integer ' : ''}between ${min} and ${max}, got ${String(v)}`);
  return n;
}

/** Weights to fine-tune from: a weights folder's manifest and shards, checked like any load. */
async function fetchInitWeights(init: { url: string; label: string }) {
  const { manifest, shards } = await fetchWeightsFolder(init.url, { name: init.label });
  return loadProjectWeights(manifest, shards, init.label);
}

async function newSession(a: StartArgs): Promise<Session> {
  if (!data) throw new Error('choose the training data first');
  const batch = checkNumber(a.batch, 'batch size', 1, 256, true);
  const lr = checkNumber(a.lr, 'learning rate', 1e-6, 1e-1);
  const steps = checkNumber(a.steps, 'number of steps', 1, 1_000_000, true);
  const seed = Math.floor(a.seed ?? 0);
  const init = a.init ? await fetchInitWeights(a.init) : null;
  const width = init ? init.config.width : checkNumber(a.width, 'width', 0.125, 1);
  disposeSession();
  const schedule = makeSchedule(init?.meta.schedule ?? SEED_SCHEDULE);
  const model = init ? new SimpleUNet(init.config, init.weights) : new SimpleUNet({ width }, undefined, seed);
  // Fine-tuning continues the shipped model's recipe (a fresh optimizer: short warm-up); from scratch is the seed's.
  const recipe = init ? { ...PROJECT_RECIPE, warmupSteps: Math.min(50, Math.ceil(steps / 10)) } : SEED_RECIPE;
  const trainer = new Trainer(model, schedule, data.set, { ...recipe, batchSize: batch, lr, totalSteps: steps, seed, prediction: init?.meta.prediction ?? 'epsilon' });
  const now = Date.now();
  return {
    initLabel: a.init?.label ?? null,
    runId: `run-${now.toString(36)}`, createdAt: now, model, trainer, schedule, data, seed,
    sampleEvery: Math.max(0, Math.floor(a.sampleEvery)), saveEvery: Math.max(0, Math.floor(a.saveEvery ?? DEFAULT_SAVE_EVERY)), lastSaved: null, finished: false,
  };
}

/** Classes the lab's samples ask for (a conditional model trained on CIFAR); own images train as "no class". */
function sampleConditioning(s: Session, guidance: number) {
  if (!s.model.config.numClasses || s.data.source !== 'cifar') return {};
  return { labels: Array.from({ length: SAMPLE_N }, (_, i) => SAMPLE_CLASSES[i % SAMPLE_CLASSES.length]), guidance };
}

async function sampleEma(s: Session): Promise<Uint8ClampedArray> {
  // DDIM with the page's η and w: fresh noise each step hides a young network's grain (same seed, so frames compare).
  const setting = resolveSampling({ sampler: 'ddim', steps: SAMPLE_STEPS }, s.schedule.T);
  const out = await generate(conditionedDenoiser(s.model, SAMPLE_N, sampleConditioning(s, setting.guidance), s.trainer.emaParams), s.schedule, {
    setting, n: SAMPLE_N, seed: SAMPLE_SEED, prediction: s.trainer.config.prediction,
  });
  try {
    return nhwcToRGBA((await out.data()) as Float32Array);
  } finally {
    out.dispose();
  }
}

async function saveSession(s: Session): Promise<CheckpointMeta> {
  if (failNextSave) {
    failNextSave = false;
    throw store.storageError(new DOMException('simulated by a test', 'QuotaExceededError'), `saving the checkpoint at step ${s.trainer.step}`);
  }
  const st = await s.trainer.state();
  const { manifest, shards } = encodeCheckpoint(st, s.model.config, s.schedule.config, record(s));
  const images = s.data.source === 'own' ? s.data.set.images : undefined;
  const bytes = shards.reduce((a, b) => a + b.length, 0) + (images?.length ?? 0);
  const now = Date.now();
  const c = s.trainer.config;
  const meta: CheckpointMeta = {
    key: s.runId, step: st.step, totalSteps: c.totalSteps, width: s.model.config.width, params: countParams(s.model.config),
    batch: c.batchSize, lr: c.lr, sampleEvery: s.sampleEvery, saveEvery: s.saveEvery, seed: s.seed, savedAt: now, createdAt: s.createdAt,
    data: { source: s.data.source, count: s.data.set.count, label: s.data.label }, init: s.initLabel, lastLoss: st.losses.at(-1) ?? null,
    backend: currentBackend()?.label ?? tf.getBackend(), bytes, finished: st.step >= c.totalSteps,
  };
  await store.saveCheckpoint(meta, { manifest, shards, images });
  s.lastSaved = { step: st.step, at: now };
  return meta;
}

function emaWeights(s: Session): Promise<{ manifest: WeightsManifest; shards: Uint8Array[]; losses: number[] }> {
  return (async () => {
    const ema = new Map<string, Float32Array>();
    for (const [k, t] of s.trainer.emaParams) ema.set(k, (await t.data()) as Float32Array);
    // float32: exactly the weights the page samples with, so the CLI reproduces its output.
    const { manifest, shards } = encodeWeights(modelTensors(ema, s.model.config), {
      modelConfig: s.model.config, schedule: s.schedule.config, prediction: s.trainer.config.prediction, weightsKind: 'ema', training: record(s),
    });
    return { manifest, shards, losses: [...s.trainer.losses] };
  })();
}

/** Waits until the GPU has done everything queued so far (reads the smallest EMA tensor, which the step wrote last). */
async function flush(s: Session): Promise<void> {
  let small: tf.Tensor | null = null;
  for (const t of s.trainer.emaParams.values()) if (!small || t.size < small.size) small = t;
  if (small) await small.data();
}

/** Mean of the last `w` values at every index (fewer at the start). */
function trailingMean(xs: number[], w: number): Float32Array {
  const out = new Float32Array(xs.length);
  let sum = 0;
  for (let i = 0; i < xs.length; i++) {
    sum += xs[i];
    if (i >= w) sum -= xs[i - w];
    out[i] = sum / Math.min(i + 1, w);
  }
  return out;
}

function needSession(): Session {
  if (!session) throw new Error('there is no training run in this tab yet: start one (or resume a saved checkpoint) first');
  return session;
}

function errInfo(e: unknown): { name: string; message: string } {
  const err = e as Error;
  return { name: err?.name ?? 'Error', message: err?.message ?? String(e) };
}

const tasks: TrainTasks = {
  /** Starts (or switches) the backend; a paused run moves to it with its exact state. */
  async init(a = {}) {
    return backends.ensure(a.backend);
  },

  /** The data the next new run trains on. */
  async setData(a) {
    try {
      data = a.source === 'cifar' ? await getCifar(a.manifest) : ownData(a.images, a.count);
    } catch (e) {
      return { ok: false, source: a.source, message: (e as Error).message };
    }
    const p = preview(data);
    return transfer({ ok: true as const, source: data.source, count: data.set.count, label: data.label, ...p }, [p.preview.buffer]);
  },

  /** Trains until the planned steps are done or the task is cancelled (= pause); see the header. */
  async start(a, ctx) {
    const backend = await backends.ensure();
    let resumedFrom: 'memory' | 'checkpoint' | null = null;
    if (a.resume && session?.runId === a.resume) {
      resumedFrom = 'memory';
    } else if (a.resume) {
      session = await restoreFromCheckpoint(a.resume, a.dataManifest);
      resumedFrom = 'checkpoint';
    } else {
      session = await newSession(a);
    }
    const s = session!;
    const tr = s.trainer;
    const goal = tr.config.totalSteps;
    const B = tr.config.batchSize;
    const losses = Float32Array.from(tr.losses);
    const lossAvgs = trailingMean(tr.losses, AVG_WINDOW);
    ctx.progress(transfer({ kind: 'begin' as const, run: runInfo(s), resumedFrom, losses, lossAvgs, backend }, [losses.buffer, lossAvgs.buffer]));

    const cancelled = () => {
      try {
        ctx.throwIfAborted();
        return false;
      } catch {
        return true;
      }
    };
    const times: number[] = [];
    let stepsThisRun = 0;
    const peak = peakTracker();
    // The page leaving (tab hidden, closed, reloaded) asks for a save now, not at the next 100 steps.
    let saveRequested = false;
    const channel = a.saveChannel && typeof BroadcastChannel === 'function' ? new BroadcastChannel(a.saveChannel) : null;
    if (channel) channel.onmessage = () => { saveRequested = true; };
    try {
      while (tr.step < goal) {
        await ctx.checkpoint().catch(() => {});
        if (cancelled()) break; // pause/stop: only ever between two whole optimizer steps
        const t0 = performance.now();
        peak?.reset();
        const r = await tr.trainStep();
        const peakBytes = peak?.peak;
        const lossMs = performance.now() - t0;
        // trainStep returns once the loss is read; the optimizer and EMA updates may still be
        // queued on a GPU. Wait for them too, so the timing (and a pause) covers the whole step.
        await flush(s);
        stepsThisRun++;
        times.push(performance.now() - t0);
        if (times.length > 20) times.shift();
        // The first step of a run includes shader compilation / warm-up: leave it out once there are others.
        const recent = times.length > 1 && stepsThisRun <= 20 ? times.slice(1) : times;
        const msPerStep = recent.reduce((x, y) => x + y, 0) / recent.length;
        const last = tr.losses.slice(-AVG_WINDOW);
        const msg: TrainProgress = {
          kind: 'step', step: r.step, totalSteps: goal, loss: r.loss, lossAvg: last.reduce((x, y) => x + y, 0) / last.length, lr: r.lr,
          imgPerSec: (B * 1000) / msPerStep, etaS: ((goal - r.step) * msPerStep) / 1000, backend: backend.backend,
          memoryBytes: tf.memory().numBytes, stepMs: times.at(-1)!, lossMs,
        };
        if (peakBytes !== undefined) msg.peakBytes = peakBytes;
        const sampleNow = r.step === goal || (s.sampleEvery > 0 && r.step % s.sampleEvery === 0);
        if (sampleNow && !cancelled()) {
          const ts = performance.now();
          msg.samples = await sampleEma(s);
          msg.sampleMs = performance.now() - ts;
        }
        if (msg.samples) ctx.progress(transfer(msg, [msg.samples.buffer]));
        else ctx.progress(msg);
        const due = (s.saveEvery > 0 && (r.step % s.saveEvery === 0 || Date.now() - (s.lastSaved?.at ?? s.createdAt) > SAVE_EVERY_MS))
          || (saveRequested && s.lastSaved?.step !== r.step);
        if (due && r.step < goal && !cancelled()) {
          saveRequested = false;
          try {
            ctx.progress({ kind: 'saved', checkpoint: await saveSession(s) });
          } catch (e) {
            ctx.progress({ kind: 'save-error', ...errInfo(e) });
          }
        }
      }
    } finally {
      peak?.stop();
      channel?.close();
    }
    const finished = tr.step >= goal;
    s.finished = finished;
    let saved: CheckpointMeta | null = null;
    let saveError: { name: string; message: string } | null = null;
    if (finished && !cancelled()) {
      try {
        saved = await saveSession(s);
      } catch (e) {
        saveError = errInfo(e);
      }
    }
    return { finished, step: tr.step, totalSteps: goal, saved, saveError };
  },

  /** Writes the live run's checkpoint (weights, EMA, Adam moments, step, RNG, losses) to IndexedDB. */
  async save() {
    return saveSession(needSession());
  },

  /** The live run (null when none), with its loss history. */
  async status() {
    if (!session) return null;
    const losses = Float32Array.from(session.trainer.losses);
    const lossAvgs = trailingMean(session.trainer.losses, AVG_WINDOW);
    return transfer({ ...runInfo(session), losses, lossAvgs, finished: session.finished }, [losses.buffer, lossAvgs.buffer]);
  },

  async listCheckpoints() {
    return store.listCheckpoints();
  },

  async deleteCheckpoint(a) {
    await store.deleteCheckpoint(a.key);
  },

  /**
   * The live run's EMA weights in the project's format. With `zip`, one .zip holding
   * weights.json, the shard(s) and loss.json (what "Download weights" saves; `diffusion sample
   * --weights FILE.zip` loads it).
   */
  async exportWeights(a = {}) {
    const s = needSession();
    const { manifest, shards, losses } = await emaWeights(s);
    const base = `simple-unet-lab-w${s.model.config.width}-step${s.trainer.step}`;
    if (!a.zip) return transfer({ fileName: base, manifest, shards }, shards.map((x) => x.buffer as ArrayBuffer));
    const files: Record<string, Uint8Array> = { [MANIFEST_FILE]: new TextEncoder().encode(JSON.stringify(manifest, null, 1)) };
    shardPaths(manifest).forEach((p, i) => (files[p] = shards[i]));
    files['loss.json'] = new TextEncoder().encode(JSON.stringify({ batchSize: s.trainer.config.batchSize, losses }));
    const zip = zipSync(files, { level: 6 });
    return transfer({ fileName: `${base}.zip`, zip }, [zip.buffer as ArrayBuffer]);
  },

  /** Stores the EMA weights for the generation demo; the page then dispatches `diffusion:use-weights`. */
  async useWeights() {
    const s = needSession();
    const { manifest, shards } = await emaWeights(s);
    const idbKey = `${WEIGHTS_PREFIX}${s.runId}-step${s.trainer.step}`;
    const label = `your lab run (width ${s.model.config.width}, step ${s.trainer.step}, ${s.data.label})`;
    await store.saveWeights(idbKey, { manifest, shards, label, savedAt: Date.now() }, WEIGHTS_PREFIX);
    return { idbKey, label };
  },

  /**
   * Test/debug hook: DDIM (η = 0, `steps` steps) from the given starting noise (NHWC float32,
   * n·32·32·3) on the live run's EMA weights; returns x₀ as NHWC float32.
   */
  async debugSample(a) {
    const s = needSession();
    const out = await generate((x, t) => s.model.forward(x, t, {}, s.trainer.emaParams), s.schedule, {
      setting: resolveSampling({ sampler: 'ddim', steps: a.steps, eta: 0 }, s.schedule.T), n: a.n, seed: 0, initNoise: a.noise, prediction: s.trainer.config.prediction,
    });
    try {
      const v = (await out.data()) as Float32Array;
      return transfer(v, [v.buffer as ArrayBuffer]);
    } finally {
      out.dispose();
    }
  },

  /** Test hook: make the next checkpoint save fail with a QuotaExceededError. */
  async debugFailNextSave() {
    failNextSave = true;
  },

  async memory() {
    const m = tf.memory();
    return { numTensors: m.numTensors, numBytes: m.numBytes, backend: currentBackend()?.backend ?? null };
  },
};

const exposed = exposeTasks(tasks);
