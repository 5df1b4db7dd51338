/**
 * One entry point for every weights file a user may bring: the project's manifest format,
 * a PyTorch checkpoint (the seed's dict, a bare state_dict, or a training checkpoint with an
 * EMA), or .safetensors. Bytes in, tfjs-layout arrays and metadata out; runs in the page too.
 */
import { SEED_CONFIG, type UNetConfig } from '../model.ts';
import { SEED_SCHEDULE, type ScheduleConfig } from '../schedule.ts';
import type { Prediction } from '../diffusion.ts';
import { checkScheduleAndPrediction, MANIFEST_FILE, matchModel, validateManifest, decodeWeights, type WeightsMeta, type TrainingRecord, type WarmStart } from './format.ts';
import { readTorchCheckpoint, findStateDict } from './torch-checkpoint.ts';
import { readSafetensors } from './safetensors.ts';
import { fromTorchStateDict } from './torch-import.ts';
import { Budget, budgetFor, confinedPath, jsonSafe, LoadLimitError, parseJsonLimited, type LoadLimits } from './limits.ts';
import { ZipReader } from './zip.ts';

export { LoadLimitError, type LoadLimits } from './limits.ts';
export { checkScheduleAndPrediction } from './format.ts';


export interface LoadedWeights {
  config: UNetConfig;
  weights: Map<string, Float32Array>;
  meta: WeightsMeta;
  /** Where the tensors came from inside the file (e.g. 'ema_state_dict'). */
  source: string;
  format: 'project' | 'pytorch' | 'safetensors';
  /** Per-step training losses, when the file carries them (a training checkpoint's train_losses). */
  losses?: number[];
}

export type WeightsFileKind = 'pytorch' | 'safetensors';

/** By content, not name: zip magic for torch ≥ 1.6, an 8-byte length + '{' for safetensors. */
export function sniffWeightsFile(bytes: Uint8Array, fileName: string): WeightsFileKind {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b) return 'pytorch';
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] <= 5) return 'pytorch'; // legacy pickle; the reader explains
  if (bytes.length >= 9 && bytes[8] === 0x7b) return 'safetensors';
  throw new Error(`${fileName} is neither a PyTorch checkpoint (.pth, a zip) nor a .safetensors file`);
}

function num(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

/** The seed's diffusion_config {num_timesteps, beta_start, beta_end[, schedule]}, if present; anything there must be usable. */
function scheduleFrom(meta: Record<string, unknown>, fileName: string): ScheduleConfig {
  const raw = meta.diffusion_config ?? {};
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new LoadLimitError(`${fileName}: diffusion_config is not a dict`);
  const d = raw as Record<string, unknown>;
  const field = (key: string, fallback: number): unknown => (d[key] === undefined || d[key] === null ? fallback : typeof d[key] === 'bigint' ? Number(d[key]) : d[key]);
  return {
    T: field('num_timesteps', SEED_SCHEDULE.T),
    betaStart: field('beta_start', SEED_SCHEDULE.betaStart),
    betaEnd: field('beta_end', SEED_SCHEDULE.betaEnd),
    kind: d.schedule === undefined || d.schedule === null ? 'linear' : d.schedule,
  } as ScheduleConfig;
}

/** Mean of the last `w` values, and the lowest mean over any `w` consecutive values (per-step losses are noisy). */
export function smoothedLosses(losses: number[], w = 100): { final: number | null; best: number | null } {
  if (!losses.length) return { final: null, best: null };
  const k = Math.min(w, losses.length);
  let sum = 0;
  for (let i = 0; i < k; i++) sum += losses[i];
  let best = sum / k;
  for (let i = k; i < losses.length; i++) {
    sum += losses[i] - losses[i - k];
    best = Math.min(best, sum / k);
  }
  return { final: sum / k, best };
}

function hardwareText(h: unknown): string {
  if (h && typeof h === 'object' && !Array.isArray(h)) {
    const o = h as Record<string, unknown>;
    return [o.gpu, o.cpu, o.threads !== undefined ? `${String(o.threads)} thread(s)` : null, o.torch ? `PyTorch ${String(o.torch)}` : null].filter(Boolean).join(', ');
  }
  return h === undefined ? 'unknown' : String(h);
}

/** train.py keeps one hardware entry per invocation (`from_step`): name each distinct one with its steps. */
function hardwareOf(meta: Record<string, unknown>): string {
  const hist = Array.isArray(meta.hardware_history) ? (meta.hardware_history as unknown[]).filter((h) => h && typeof h === 'object') as Record<string, unknown>[] : [];
  if (hist.length < 2) {
    // Older runs kept only the last invocation's hardware: say how many threads each command asked for.
    const cmds = Array.isArray(meta.commands) ? (meta.commands as unknown[]).filter(Array.isArray) as unknown[][] : [];
    const threads = cmds.map((c) => {
      const i = c.indexOf('--threads');
      return i >= 0 && i + 1 < c.length ? String(c[i + 1]) : 'default';
    });
    const text = hardwareText(meta.hardware);
    if (hist.length === 0 && new Set(threads).size > 1) return `${text.replace(/, \d+ thread\(s\)/, '')}; threads per invocation (--threads): ${threads.join(', ')}`;
    return text;
  }
  const spans: { text: string; from: number }[] = [];
  for (const h of hist) {
    const text = hardwareText(h);
    if (spans.at(-1)?.text !== text) spans.push({ text, from: num(h.from_step, 0) });
  }
  if (spans.length < 2) return spans[0].text;
  return spans.map((s, i) => `${s.text} (${i + 1 < spans.length ? `steps ${s.from + 1}–${spans[i + 1].from}` : `from step ${s.from + 1}`})`).join('; ');
}

/** The exact command(s): a run resumed across invocations lists every one (train.py keeps `commands`). */
function commandText(meta: Record<string, unknown>, source: string): string {
  const argv = (c: unknown) => (Array.isArray(c) ? c.map(String).join(' ') : String(c));
  const all = Array.isArray(meta.commands) ? (meta.commands as unknown[]).filter(Array.isArray) : [];
  if (all.length > 1) return all.map(argv).join(', then resumed with: ');
  if (meta.command !== undefined) return argv(meta.command);
  return all.length ? argv(all[0]) : `imported from ${source}`;
}

export function trainingFrom(meta: Record<string, unknown>, source: string): TrainingRecord | null {
  // The project's PyTorch trainer (scripts/torch/train.py) writes these keys; the seed's notebook only epoch/loss/train_losses.
  const losses = Array.isArray(meta.train_losses) ? (meta.train_losses as unknown[]).filter((x): x is number => typeof x === 'number') : [];
  const steps = num(meta.step, 0);
  if (!losses.length && !steps && meta.epoch === undefined) return null;
  const images = num(meta.images_seen, 0);
  const tc = (meta.train_config ?? {}) as Record<string, unknown>;
  const { final, best } = smoothedLosses(losses);
  return {
    steps, imagesSeen: images, epochs: num(meta.epoch, images / 50000), batchSize: num(tc.batch ?? meta.batch_size, 128),
    finalLoss: final ?? (num(meta.loss, NaN) || null), bestLoss: best,
    wallTimeS: num(meta.wall_time_s, 0), hardware: hardwareOf(meta),
    command: commandText(meta, source),
    recipe: Object.keys(tc).length ? (jsonSafe(tc, source) as Record<string, unknown>) : undefined,
    notes: losses.length ? 'finalLoss: mean of the last 100 optimizer steps; bestLoss: lowest 100-step mean' : undefined,
    warmStart: warmStartFrom(meta.warm_start, source),
  };
}

/** Runs started from runs: deeper chains than this are cut (a hostile file could nest without end). */
export const MAX_WARM_START_DEPTH = 16;

/** train.py --init-from keeps the source run's record under `warm_start`, and that run's own inside it. */
function warmStartFrom(w: unknown, source: string, depth = 1): WarmStart | undefined {
  if (!w || typeof w !== 'object' || Array.isArray(w) || depth > MAX_WARM_START_DEPTH) return undefined;
  const o = w as Record<string, unknown>;
  const images = num(o.images_seen, 0);
  const tc = (o.train_config ?? {}) as Record<string, unknown>;
  return {
    from: String(o.from ?? 'unknown'), width: num(o.width, NaN), method: String(o.method ?? 'unknown'),
    steps: num(o.step, 0), imagesSeen: images, epochs: num(o.epoch, images / 50000), batchSize: num(tc.batch, 128),
    wallTimeS: num(o.wall_time_s, 0), hardware: hardwareOf(o), command: commandText(o, source),
    recipe: Object.keys(tc).length ? (jsonSafe(tc, source) as Record<string, unknown>) : undefined,
    warmStart: warmStartFrom(o.warm_start, source, depth + 1),
  };
}

export function loadTorchOrSafetensors(bytes: Uint8Array, fileName: string, prefer: 'ema' | 'model' = 'ema', limits?: Budget | Partial<LoadLimits>): LoadedWeights {
  const budget = budgetFor(fileName, limits);
  const kind = sniffWeightsFile(bytes, fileName);
  if (kind === 'safetensors') {
    const f = readSafetensors(bytes, fileName, budget);
    const { config, weights } = fromTorchStateDict(f.tensors, fileName);
    let extra: Partial<WeightsMeta> = {};
    if (f.metadata.simple_unet) {
      let parsed: unknown = null;
      try {
        parsed = parseJsonLimited(f.metadata.simple_unet, `${fileName} (metadata simple_unet)`, budget.limits);
      } catch (e) {
        if (!(e instanceof LoadLimitError) || !/is not valid JSON/.test(e.message)) throw e; // foreign metadata: ignore
      }
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) extra = parsed as Partial<WeightsMeta>;
    }
    const checked = checkScheduleAndPrediction(extra.schedule ?? {}, extra.prediction ?? 'epsilon', `${fileName} (metadata simple_unet)`);
    const training = extra.training && typeof extra.training === 'object' && !Array.isArray(extra.training) ? extra.training : null;
    const weightsKind = extra.weightsKind === 'ema' || extra.weightsKind === 'raw' ? extra.weightsKind : undefined;
    return {
      config, weights, source: 'safetensors', format: 'safetensors',
      meta: { modelConfig: config, schedule: checked.schedule, prediction: checked.prediction, training, weightsKind },
    };
  }
  const ck = readTorchCheckpoint(bytes, fileName, budget);
  const found = findStateDict(ck.root, { prefer, fileName });
  const { config, weights } = fromTorchStateDict(found.stateDict, fileName);
  const mc = (ck.meta.model_config ?? {}) as Record<string, unknown>;
  if (mc.time_emb_dim !== undefined && mc.time_emb_dim !== SEED_CONFIG.timeEmbDim) {
    throw new Error(`${fileName}: model_config.time_emb_dim is ${String(mc.time_emb_dim)}; SimpleUNet here uses ${SEED_CONFIG.timeEmbDim}`);
  }
  const checked = checkScheduleAndPrediction(scheduleFrom(ck.meta, fileName), ck.meta.prediction ?? 'epsilon', fileName);
  const losses = Array.isArray(ck.meta.train_losses) ? (ck.meta.train_losses as unknown[]).filter((x): x is number => typeof x === 'number') : undefined;
  return {
    config, weights, source: found.source, format: 'pytorch', losses,
    meta: {
      modelConfig: config, schedule: checked.schedule, prediction: checked.prediction,
      weightsKind: found.source.startsWith('ema') ? 'ema' : 'raw', training: trainingFrom(ck.meta, fileName),
    },
  };
}

/** The project's format from a manifest object and its shard bytes. */
export function loadProjectWeights(manifestJson: unknown, shards: Uint8Array[], source: string, limits?: Partial<LoadLimits>): LoadedWeights {
  const m = validateManifest(manifestJson, source, limits);
  const weights = matchModel(decodeWeights(m, shards), m.modelConfig, source);
  const { format: _f, formatVersion: _v, layout: _l, weightsManifest: _w, ...meta } = m;
  return { config: m.modelConfig, weights, meta, source, format: 'project' };
}

/** Shard paths of a parsed (not yet validated) manifest, each confined to the manifest's folder. */
function manifestPaths(json: unknown, source: string): string[] {
  const groups = json !== null && typeof json === 'object' ? (json as { weightsManifest?: unknown }).weightsManifest : undefined;
  if (!Array.isArray(groups)) return [];
  return groups
    .flatMap((g) => (g !== null && typeof g === 'object' && Array.isArray((g as { paths?: unknown }).paths) ? (g as { paths: unknown[] }).paths : []))
    .map((p) => confinedPath(p, source));
}

/**
 * The project's format zipped (weights.json and its shards, at the top of the archive or in one
 * folder), unzipped in memory. Returns null for any other file, so a PyTorch checkpoint (also a
 * zip, but without weights.json) goes on to the PyTorch reader.
 */
export function loadProjectZip(bytes: Uint8Array, p: string, limits?: Budget | Partial<LoadLimits>): LoadedWeights | null {
  if (!ZipReader.isZip(bytes)) return null;
  const budget = budgetFor(p, limits);
  const zip = new ZipReader(bytes, p, budget);
  const manifests = [...zip.entries.keys()].filter((n) => n === MANIFEST_FILE || n.endsWith(`/${MANIFEST_FILE}`));
  if (manifests.length === 0) {
    if (p.toLowerCase().endsWith('.zip')) {
      const torch = [...zip.entries.keys()].some((n) => n.endsWith('/data.pkl') || n === 'data.pkl');
      if (!torch) throw new LoadLimitError(`${p} is a zip without ${MANIFEST_FILE}: expected the project's weights (${MANIFEST_FILE} + shards, e.g. from the training lab's "Download weights")`);
    }
    return null;
  }
  // The shallowest weights.json wins (a zipped folder holds one).
  const entry = manifests.sort((a, b) => a.split('/').length - b.split('/').length)[0]!;
  const dir = entry.slice(0, entry.length - MANIFEST_FILE.length);
  const source = `${p} (${entry})`;
  const json = parseJsonLimited(new TextDecoder().decode(zip.read(entry)), source, budget.limits);
  const shards = manifestPaths(json, source).map((s) => {
    const name = dir + s;
    if (!zip.has(name)) throw new LoadLimitError(`${p}: weights shard ${name} is missing from the zip`);
    return zip.read(name);
  });
  return loadProjectWeights(json, shards, source, budget.limits);
}

/**
 * Any weights file a reader may bring, as bytes (the page's drop zone; the CLI reads files the
 * same way): the project's zipped folder, a PyTorch checkpoint, or .safetensors, all through the
 * same validation layer and one byte/element budget.
 */
export function loadWeightsBytes(bytes: Uint8Array, fileName: string, prefer: 'ema' | 'model' = 'ema', limits?: Budget | Partial<LoadLimits>): LoadedWeights {
  const budget = budgetFor(fileName, limits);
  budget.chargeBytes(bytes.length, `the file itself (${bytes.length} bytes)`);
  return loadProjectZip(bytes, fileName, budget) ?? loadTorchOrSafetensors(bytes, fileName, prefer, budget);
}
