/**
 * The project's weights format: tfjs' layout (a JSON manifest plus binary shards, float32 or
 * float16 via tfjs' `quantization: {dtype: 'float16'}`), with a metadata record: the model
 * config, the schedule and the honest training record. Framework-neutral: bytes in, bytes out;
 * Node writes files, the page fetches or stores them in IndexedDB.
 */
import { SEED_CONFIG, paramSpecs, type UNetConfig } from '../model.ts';
import { SEED_SCHEDULE, scheduleProblem, type ScheduleConfig } from '../schedule.ts';
import { confinedPath, DEFAULT_LIMITS, LoadLimitError, type LoadLimits } from './limits.ts';
import type { Prediction } from '../diffusion.ts';
import { float16ToFloat32, float32ToFloat16 } from './half.ts';

export const FORMAT = 'simple-unet-weights';
export const FORMAT_VERSION = 1;
export const MANIFEST_FILE = 'weights.json';

export interface TrainingRecord {
  steps: number;
  imagesSeen: number;
  epochs: number;
  batchSize: number;
  finalLoss: number | null;
  bestLoss: number | null;
  wallTimeS: number;
  hardware: string;
  command: string;
  recipe?: Record<string, unknown>;
  /** File beside the manifest with the loss curve, if any. */
  lossCurve?: string;
  notes?: string;
  /**
   * The run started from another run's weights (e.g. a narrower network widened so it computes the
   * same function): that run's own record. The counters above cover only this run; a chain of
   * runs nests (the record's own `warmStart`), and `trainingStages` in lineage.ts flattens it.
   */
  warmStart?: WarmStart;
}

export interface WarmStart extends Omit<TrainingRecord, 'finalLoss' | 'bestLoss' | 'lossCurve'> {
  /** Width of the network the weights came from. */
  width: number;
  /** How they were carried over, e.g. "widen.py (Net2WiderNet, function-preserving)". */
  method: string;
  from: string;
}

export interface WeightsMeta {
  modelConfig: UNetConfig;
  schedule: ScheduleConfig;
  prediction: Prediction;
  /** 'ema' for shipped weights; 'raw' for the optimizer's current weights. */
  weightsKind?: 'ema' | 'raw';
  training?: TrainingRecord | null;
  /** Free-form extra state (e.g. a trainer checkpoint's step and RNG). */
  extra?: Record<string, unknown>;
}

export interface ManifestEntry {
  name: string;
  shape: number[];
  dtype: 'float32';
  quantization?: { dtype: 'float16'; original_dtype: 'float32' };
}

export interface WeightsManifest extends WeightsMeta {
  format: typeof FORMAT;
  formatVersion: number;
  layout: 'tfjs';
  weightsManifest: { paths: string[]; weights: ManifestEntry[] }[];
}

export interface NamedArray {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface EncodeOptions {
  dtype?: 'float32' | 'float16';
  shardBytes?: number;
}

/** Tensors → manifest + shards (tfjs naming: group1-shard1ofN.bin). */
export function encodeWeights(tensors: NamedArray[], meta: WeightsMeta, opts: EncodeOptions = {}): { manifest: WeightsManifest; shards: Uint8Array[] } {
  const dtype = opts.dtype ?? 'float32';
  const shardBytes = opts.shardBytes ?? 4 * 1024 * 1024;
  const parts: Uint8Array[] = [];
  const entries: ManifestEntry[] = [];
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new Error(`${t.name}: shape ${JSON.stringify(t.shape)} needs ${n} values, got ${t.data.length}`);
    const body = dtype === 'float16' ? float32ToFloat16(t.data) : t.data;
    parts.push(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
    entries.push(dtype === 'float16'
      ? { name: t.name, shape: t.shape, dtype: 'float32', quantization: { dtype: 'float16', original_dtype: 'float32' } }
      : { name: t.name, shape: t.shape, dtype: 'float32' });
  }
  const total = parts.reduce((a, p) => a + p.length, 0);
  const all = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  const nShards = Math.max(1, Math.ceil(total / shardBytes));
  const shards: Uint8Array[] = [];
  const paths: string[] = [];
  for (let i = 0; i < nShards; i++) {
    shards.push(all.slice(i * shardBytes, Math.min(total, (i + 1) * shardBytes)));
    paths.push(`group1-shard${i + 1}of${nShards}.bin`);
  }
  return {
    manifest: { format: FORMAT, formatVersion: FORMAT_VERSION, layout: 'tfjs', ...meta, weightsManifest: [{ paths, weights: entries }] },
    shards,
  };
}

/** The one check of a file's schedule and prediction, whatever format carried them. */
export function checkScheduleAndPrediction(schedule: unknown, prediction: unknown, source: string): { schedule: ScheduleConfig; prediction: Prediction } {
  if (schedule === null || typeof schedule !== 'object' || Array.isArray(schedule)) throw new LoadLimitError(`${source}: the schedule is not an object`);
  const s = { ...SEED_SCHEDULE, ...(schedule as Partial<ScheduleConfig>) };
  const problem = scheduleProblem(s);
  if (problem) throw new LoadLimitError(`${source}: unusable noise schedule: ${problem}`);
  if (prediction !== 'epsilon' && prediction !== 'v') throw new LoadLimitError(`${source}: unknown prediction ${JSON.stringify(String(prediction)).slice(0, 80)} (expected 'epsilon' or 'v')`);
  return { schedule: { kind: s.kind, T: s.T, betaStart: s.betaStart, betaEnd: s.betaEnd }, prediction };
}

/**
 * Checks a parsed manifest, every field the loaders use: the groups, shard paths (confined to
 * the manifest's folder), tensor entries (shapes of non-negative integers, an element total
 * within the budget), the model config, the schedule and the prediction. Throws with what is wrong.
 */
export function validateManifest(m: unknown, source = 'weights manifest', limits: Partial<LoadLimits> = {}): WeightsManifest {
  const bad = (why: string) => new LoadLimitError(`${source} is not a valid ${FORMAT} manifest: ${why}`);
  const isObj = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
  if (!isObj(m)) throw bad('not a JSON object');
  const w = m as Partial<WeightsManifest>;
  if (w.format !== FORMAT) throw bad(`"format" is ${JSON.stringify(w.format)?.slice(0, 80)}, expected "${FORMAT}"`);
  if (typeof w.formatVersion !== 'number' || !Number.isInteger(w.formatVersion) || w.formatVersion < 1 || w.formatVersion > FORMAT_VERSION) {
    throw bad(`unsupported formatVersion ${JSON.stringify(w.formatVersion)?.slice(0, 40)} (this build reads up to ${FORMAT_VERSION})`);
  }
  if (!Array.isArray(w.weightsManifest) || w.weightsManifest.length === 0) throw bad('no weightsManifest groups');
  const maxElements = limits.maxElements ?? DEFAULT_LIMITS.maxElements;
  let elements = 0;
  w.weightsManifest.forEach((g, gi) => {
    if (!isObj(g)) throw bad(`weightsManifest[${gi}] is not an object`);
    if (!Array.isArray(g.paths)) throw bad(`weightsManifest[${gi}].paths is not a list`);
    if (!Array.isArray(g.weights)) throw bad(`weightsManifest[${gi}].weights is not a list`);
    for (const p of g.paths) confinedPath(p, source);
    g.weights.forEach((e, ei) => {
      if (!isObj(e) || typeof e.name !== 'string') throw bad(`weightsManifest[${gi}].weights[${ei}] has no name`);
      if (!Array.isArray(e.shape) || e.shape.length > 8 || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
        throw bad(`${e.name.slice(0, 80)}: shape must be a list of at most 8 non-negative integers`);
      }
      if (e.quantization !== undefined && !isObj(e.quantization)) throw bad(`${e.name.slice(0, 80)}: quantization is not an object`);
      elements += e.shape.reduce((a, b) => a * b, 1);
      if (elements > maxElements) throw bad(`its tensors hold more than the ${maxElements.toLocaleString('en-US')} elements this reader allows per file`);
    });
  });
  if (!isObj(w.modelConfig)) throw bad('no modelConfig object');
  const modelConfig = { ...SEED_CONFIG, ...w.modelConfig };
  if (typeof modelConfig.width !== 'number' || !(modelConfig.width > 0 && modelConfig.width <= 64)) throw bad(`modelConfig.width must be a number in (0, 64], got ${JSON.stringify(modelConfig.width)?.slice(0, 40)}`);
  if (!Number.isInteger(modelConfig.numClasses) || modelConfig.numClasses < 0 || modelConfig.numClasses > 100_000) {
    throw bad(`modelConfig.numClasses must be a whole number >= 0, got ${JSON.stringify(modelConfig.numClasses)?.slice(0, 40)}`);
  }
  if (w.extra !== undefined && !isObj(w.extra)) throw bad('"extra" is not an object');
  if (w.training !== undefined && w.training !== null && !isObj(w.training)) throw bad('"training" is not an object');
  const { schedule, prediction } = checkScheduleAndPrediction(w.schedule ?? {}, w.prediction ?? 'epsilon', source);
  return { ...w, modelConfig, schedule, prediction } as WeightsManifest;
}

/** All shard paths in order. */
export function shardPaths(m: WeightsManifest): string[] {
  return m.weightsManifest.flatMap((g) => g.paths);
}

/** Manifest + shard bytes → named float32 arrays; errors name the tensor and the byte counts. */
export function decodeWeights(m: WeightsManifest, shards: Uint8Array[]): Map<string, NamedArray> {
  const out = new Map<string, NamedArray>();
  let shardIndex = 0;
  for (const group of m.weightsManifest) {
    const groupShards = shards.slice(shardIndex, shardIndex + group.paths.length);
    shardIndex += group.paths.length;
    if (groupShards.length !== group.paths.length) throw new Error(`weights: expected ${group.paths.length} shard files, got ${groupShards.length}`);
    const total = groupShards.reduce((a, s) => a + s.length, 0);
    const buf = new Uint8Array(total);
    let o = 0;
    for (const s of groupShards) {
      buf.set(s, o);
      o += s.length;
    }
    let off = 0;
    for (const e of group.weights) {
      const n = e.shape.reduce((a, b) => a * b, 1);
      const half = e.quantization?.dtype === 'float16';
      if (e.quantization && !half) throw new Error(`weights: ${e.name} uses quantization ${e.quantization.dtype}, which this reader does not support`);
      if (e.dtype !== 'float32') throw new Error(`weights: ${e.name} has dtype ${e.dtype}; only float32 (optionally stored as float16) is supported`);
      const bytes = n * (half ? 2 : 4);
      if (off + bytes > total) {
        throw new Error(`weights are truncated or corrupt: ${e.name} needs bytes ${off}..${off + bytes} but the shards hold ${total} bytes`);
      }
      const slice = buf.slice(off, off + bytes); // copy: aligned and independent of `buf`
      const data = half ? float16ToFloat32(new Uint16Array(slice.buffer)) : new Float32Array(slice.buffer);
      out.set(e.name, { name: e.name, shape: e.shape, data });
      off += bytes;
    }
    if (off !== total) throw new Error(`weights shards hold ${total} bytes but the manifest describes ${off}: the files do not belong together`);
  }
  return out;
}

/**
 * Checks decoded weights against the network the config describes; returns the tfjs-layout
 * arrays in a Map keyed by parameter name. Lists every missing, unexpected and misshapen tensor.
 */
export function matchModel(weights: Map<string, NamedArray>, cfg: UNetConfig, source = 'weights'): Map<string, Float32Array> {
  const specs = paramSpecs(cfg);
  const missing: string[] = [];
  const wrong: string[] = [];
  const out = new Map<string, Float32Array>();
  for (const s of specs) {
    const w = weights.get(s.name);
    if (!w) {
      missing.push(s.name);
      continue;
    }
    if (w.shape.join() !== s.shape.join()) {
      wrong.push(`${s.name}: file [${w.shape}] vs model [${s.shape}]`);
      continue;
    }
    if (!w.data.every(Number.isFinite)) wrong.push(`${s.name}: holds NaN or infinite values`);
    out.set(s.name, w.data);
  }
  const known = new Set(specs.map((s) => s.name));
  const extra = [...weights.keys()].filter((k) => !known.has(k));
  if (missing.length || wrong.length || extra.length) {
    const list = (title: string, xs: string[]) => (xs.length ? `\n  ${title} (${xs.length}): ${xs.slice(0, 12).join('; ')}${xs.length > 12 ? '; …' : ''}` : '');
    throw new Error(`${source} do not match SimpleUNet(width ${cfg.width}):${list('missing', missing)}${list('wrong shape', wrong)}${list('unexpected', extra)}`);
  }
  return out;
}

/** Tensors of a model, in spec order, ready for encodeWeights. */
export function modelTensors(values: Map<string, Float32Array>, cfg: UNetConfig, prefix = ''): NamedArray[] {
  return paramSpecs(cfg).map((s) => {
    const data = values.get(s.name);
    if (!data) throw new Error(`missing parameter ${s.name}`);
    return { name: prefix + s.name, shape: s.shape, data };
  });
}
