/**
 * Trainer state ⇄ the project's weights format, so a training checkpoint is one more weights
 * folder (or IndexedDB record): raw weights under their own names, the EMA and the Adam
 * moments under prefixes, and the scalar state in the manifest's `extra`.
 */
import type { UNetConfig } from './model.ts';
import type { ScheduleConfig } from './schedule.ts';
import { encodeWeights, decodeWeights, modelTensors, matchModel, validateManifest, type NamedArray, type TrainingRecord, type WeightsManifest } from './weights/format.ts';
import type { TrainerState, TrainConfig } from './trainer.ts';
import type { RngState } from './rng.ts';

export const EMA_PREFIX = 'ema/';
const M_PREFIX = 'adam_m/';
const V_PREFIX = 'adam_v/';

export interface CheckpointExtra {
  kind: 'trainer-checkpoint';
  step: number;
  imagesSeen: number;
  rng: RngState;
  losses: number[];
  wallTimeS: number;
  trainConfig: TrainConfig;
}

export function encodeCheckpoint(state: TrainerState, cfg: UNetConfig, schedule: ScheduleConfig, training: TrainingRecord | null): { manifest: WeightsManifest; shards: Uint8Array[] } {
  const tensors: NamedArray[] = [
    ...modelTensors(state.weights, cfg),
    ...modelTensors(state.ema, cfg, EMA_PREFIX),
    ...modelTensors(state.adamM, cfg, M_PREFIX),
    ...modelTensors(state.adamV, cfg, V_PREFIX),
  ];
  const extra: CheckpointExtra = {
    kind: 'trainer-checkpoint', step: state.step, imagesSeen: state.imagesSeen, rng: state.rng,
    losses: state.losses, wallTimeS: state.wallTimeS, trainConfig: state.config,
  };
  return encodeWeights(tensors, { modelConfig: cfg, schedule, prediction: state.config.prediction, weightsKind: 'raw', training, extra: extra as unknown as Record<string, unknown> });
}

export function isCheckpoint(m: WeightsManifest): boolean {
  return (m.extra as Partial<CheckpointExtra> | undefined)?.kind === 'trainer-checkpoint';
}

export function decodeCheckpoint(manifestJson: unknown, shards: Uint8Array[], source = 'checkpoint'): { state: TrainerState; manifest: WeightsManifest } {
  const manifest = validateManifest(manifestJson, source);
  if (!isCheckpoint(manifest)) throw new Error(`${source} holds weights, not a training checkpoint (no optimizer state to resume from)`);
  const all = decodeWeights(manifest, shards);
  const pick = (prefix: string) => {
    const m = new Map<string, NamedArray>();
    for (const [k, v] of all) {
      if (prefix ? k.startsWith(prefix) : !k.includes('/')) m.set(k.slice(prefix.length), v);
    }
    return matchModel(m, manifest.modelConfig, `${source} (${prefix || 'weights'})`);
  };
  const x = manifest.extra as unknown as CheckpointExtra;
  // the scalar state drives the resumed run: check it as the tensors are checked
  const bad = (why: string) => new Error(`${source} is not a usable training checkpoint: ${why}`);
  const count = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (!count(x.step)) throw bad(`step is ${JSON.stringify(x.step)?.slice(0, 40)}`);
  if (!count(x.imagesSeen)) throw bad(`imagesSeen is ${JSON.stringify(x.imagesSeen)?.slice(0, 40)}`);
  if (!Array.isArray(x.losses) || !x.losses.every((l) => typeof l === 'number')) throw bad('losses is not a list of numbers');
  if (typeof x.wallTimeS !== 'number' || !(x.wallTimeS >= 0)) throw bad('wallTimeS is not a non-negative number');
  if (!x.trainConfig || typeof x.trainConfig !== 'object' || Array.isArray(x.trainConfig)) throw bad('trainConfig is not an object');
  if (!x.rng || typeof x.rng !== 'object') throw bad('rng is not an object');
  return {
    manifest,
    state: {
      config: x.trainConfig, step: x.step, imagesSeen: x.imagesSeen, rng: x.rng, losses: x.losses, wallTimeS: x.wallTimeS,
      weights: pick(''), ema: pick(EMA_PREFIX), adamM: pick(M_PREFIX), adamV: pick(V_PREFIX),
    },
  };
}
