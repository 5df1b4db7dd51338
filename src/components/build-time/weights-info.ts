/**
 * Build-time (Node only) reader of the shipped weights' records: `public/weights/<id>/weights.json`
 * (its `training` record and model config) and `loss.json`. Pages and MDX use it from component
 * frontmatter, so the article states what was actually trained, and a missing or broken folder
 * becomes a sentence instead of a failed build. Never import this from a client script.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { countParams, SEED_CONFIG, type UNetConfig } from '../../core/model.ts';
import type { TrainingRecord, WeightsManifest } from '../../core/weights/format.ts';

import { SHIPPED_MODELS, shippedWeightsPath, type ShippedModelId } from '../../core/shipped-models.ts';

export type WeightsFolderId = ShippedModelId;

export interface LossSummary {
  batchSize: number | null;
  steps: number;
  /** Mean of the first and last `window` steps (single steps are noisy). */
  window: number;
  first: number;
  last: number;
  min: number;
  /** Mean loss per bucket of steps, for small static plots and tables. */
  buckets: { fromStep: number; toStep: number; mean: number }[];
}

export interface WeightsInfo {
  id: WeightsFolderId;
  folder: string;
  /** Site-relative folder, e.g. "weights/simple-unet-small/". */
  publicPath: string;
  exists: boolean;
  /** Why the folder could not be read (missing, invalid JSON…), for the page. */
  problem: string | null;
  modelConfig: UNetConfig | null;
  params: number | null;
  weightsKind: string | null;
  dtype: 'float16' | 'float32' | null;
  /** Bytes of all shards listed in the manifest that exist on disk. */
  shardBytes: number;
  training: TrainingRecord | null;
  /** Images in the training set, derived from imagesSeen / epochs. */
  trainImages: number | null;
  loss: LossSummary | null;
}

/** The project root: the nearest folder up from the working directory holding astro.config.mjs. */
export function projectRoot(start = process.cwd()): string {
  let dir = path.resolve(start);
  for (;;) {
    if (fs.existsSync(path.join(dir, 'astro.config.mjs'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(start);
    dir = up;
  }
}

function summarizeLoss(raw: unknown): LossSummary | null {
  if (!raw || typeof raw !== 'object') return null;
  const r = raw as { batchSize?: unknown; losses?: unknown };
  if (!Array.isArray(r.losses)) return null;
  const losses = r.losses.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (losses.length === 0) return null;
  const n = losses.length;
  const window = Math.max(1, Math.min(100, Math.floor(n / 10)));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const nb = Math.min(10, n);
  const buckets: LossSummary['buckets'] = [];
  for (let b = 0; b < nb; b++) {
    const from = Math.floor((b * n) / nb);
    const to = Math.floor(((b + 1) * n) / nb);
    buckets.push({ fromStep: from + 1, toStep: to, mean: mean(losses.slice(from, to)) });
  }
  return {
    batchSize: typeof r.batchSize === 'number' ? r.batchSize : null,
    steps: n,
    window,
    first: mean(losses.slice(0, window)),
    last: mean(losses.slice(n - window)),
    min: Math.min(...losses),
    buckets,
  };
}

const numOr = (x: unknown, d: number) => (typeof x === 'number' && Number.isFinite(x) ? x : d);
const numOrNull = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : null);

/** Text for a hardware field that may be a string or an object such as {cpu, threads, torch}. */
function hardwareText(h: unknown): string {
  if (typeof h === 'string' && h !== '' && h !== '[object Object]') return h;
  if (h && typeof h === 'object') {
    const o = h as Record<string, unknown>;
    const parts = [o.gpu, o.cpu, o.threads !== undefined ? `${String(o.threads)} threads` : undefined, o.torch !== undefined ? `PyTorch ${String(o.torch)}` : undefined, o.backend]
      .filter((x) => x !== undefined && x !== null && x !== '')
      .map(String);
    if (parts.length) return parts.join(', ');
  }
  return 'unrecorded hardware';
}

/** A training record with every field present and of the right type (files from other tools may differ). */
function normalizeRecord(raw: unknown): TrainingRecord | null {
  if (!raw || typeof raw !== 'object') return null;
  const r = raw as Record<string, unknown>;
  const imagesSeen = numOr(r.imagesSeen, 0);
  return {
    ...(r as Partial<TrainingRecord>),
    steps: numOr(r.steps, 0),
    imagesSeen,
    epochs: numOr(r.epochs, imagesSeen / 50_000),
    batchSize: numOr(r.batchSize, 128),
    finalLoss: numOrNull(r.finalLoss),
    bestLoss: numOrNull(r.bestLoss),
    wallTimeS: numOr(r.wallTimeS, 0),
    hardware: hardwareText(r.hardware),
    command: Array.isArray(r.command) ? r.command.map(String).join(' ') : typeof r.command === 'string' ? r.command : 'unrecorded',
    notes: typeof r.notes === 'string' ? r.notes : undefined,
    lossCurve: typeof r.lossCurve === 'string' ? r.lossCurve : undefined,
  };
}

/** Reads one shipped weights folder; never throws. `root` defaults to the project root. */
export function readWeightsInfo(id: WeightsFolderId, root = projectRoot()): WeightsInfo {
  const folder = SHIPPED_MODELS[id].folder;
  const dir = path.join(root, 'public', 'weights', folder);
  const info: WeightsInfo = {
    id, folder, publicPath: shippedWeightsPath(id), exists: false, problem: null, modelConfig: null, params: null,
    weightsKind: null, dtype: null, shardBytes: 0, training: null, trainImages: null, loss: null,
  };
  const manifestFile = path.join(dir, 'weights.json');
  if (!fs.existsSync(manifestFile)) {
    info.problem = `public/${info.publicPath} has no weights.json (these weights are not part of this build)`;
    return info;
  }
  let manifest: Partial<WeightsManifest>;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as Partial<WeightsManifest>;
  } catch (e) {
    info.problem = `public/${info.publicPath}weights.json is not valid JSON: ${(e as Error).message}`;
    return info;
  }
  info.exists = true;
  const cfg: UNetConfig = { ...SEED_CONFIG, ...(manifest.modelConfig ?? {}) };
  info.modelConfig = cfg;
  try {
    info.params = countParams(cfg);
  } catch (e) {
    info.problem = `model config does not describe a SimpleUNet: ${(e as Error).message}`;
  }
  info.weightsKind = manifest.weightsKind ?? null;
  const entries = (manifest.weightsManifest ?? []).flatMap((g) => g.weights ?? []);
  info.dtype = entries.length === 0 ? null : entries.some((e) => e.quantization?.dtype === 'float16') ? 'float16' : 'float32';
  for (const p of (manifest.weightsManifest ?? []).flatMap((g) => g.paths ?? [])) {
    try {
      info.shardBytes += fs.statSync(path.join(dir, p)).size;
    } catch {
      info.problem ??= `shard ${p} listed in weights.json is missing`;
    }
  }
  const t = normalizeRecord(manifest.training);
  info.training = t;
  if (t && t.epochs > 0 && t.imagesSeen > 0) info.trainImages = Math.round(t.imagesSeen / t.epochs);
  const lossFile = path.join(dir, path.basename(t?.lossCurve ?? 'loss.json'));
  if (fs.existsSync(lossFile)) {
    try {
      info.loss = summarizeLoss(JSON.parse(fs.readFileSync(lossFile, 'utf8')));
    } catch {
      info.loss = null;
    }
  }
  return info;
}

export function readAllWeightsInfo(root = projectRoot()): Record<WeightsFolderId, WeightsInfo> {
  return { small: readWeightsInfo('small', root), full: readWeightsInfo('full', root) };
}

/** "1 h 12 min", "43 s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return 'unknown time';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  const m = Math.round(seconds / 60);
  if (m < 90) return `${m} min`;
  const h = Math.floor(m / 60);
  return `${h} h ${m % 60} min`;
}

export const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
export const fmtLoss = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(4));
export const fmtMB = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
