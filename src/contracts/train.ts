/**
 * The contract between the training lab and its worker (src/workers/train.worker.ts): the tasks,
 * their arguments, progress and results, the lab's settings, and the constants the page shows
 * (samples per frame, their sampler and steps, the loss window). No tfjs and no worker code here,
 * so the page imports these values instead of writing them again.
 *
 *   init({ backend })                 → BackendInfo (moves a paused session to the new backend)
 *   setData(cifar | own images)       → DataInfo
 *   start(StartArgs)                  → StartResult   (progress: TrainProgress, every step)
 *   save()                            → CheckpointMeta (throws QuotaExceededError when storage is full)
 *   status()                          → SessionStatus | null
 *   listCheckpoints() / deleteCheckpoint({ key })
 *   exportWeights({ zip? })           → EMA weights, project format ({manifest, shards}) or one .zip
 *   useWeights()                      → { idbKey, label } for the generation demo
 *   debugSample({ noise, n, steps })  → DDIM from given noise on the EMA weights (tests compare with the CLI)
 */
import type { TaskContext } from '../pool/types.ts';
import type { BackendChoice, BackendInfo } from './backend.ts';
import type { WeightsManifest } from '../core/weights/format.ts';

/** Images shown as samples during training, their seed and DDIM steps (fixed, so frames compare). */
export const SAMPLE_N = 4;
export const SAMPLE_SEED = 1234;
export const SAMPLE_STEPS = 10;
/** A conditional model's lab samples ask for these CIFAR-10 classes (automobile, horse, ship, truck). */
export const SAMPLE_CLASSES = [1, 7, 8, 9];
/** Besides every `saveEvery` steps, a checkpoint at least this often (a closed tab loses little). */
export const SAVE_EVERY_MS = 3 * 60_000;
/** Checkpoint every this many steps unless the page asks otherwise. */
export const DEFAULT_SAVE_EVERY = 100;
/** Steps in the loss's running mean. */
export const AVG_WINDOW = 20;

/** `manifest`: the URL of the site's CIFAR-10 data manifest (the page knows the site's paths; the worker does not). */
export type DataArgs = { source: 'cifar'; manifest: string } | { source: 'own'; images: Uint8Array; count: number };

export type DataInfo =
  | { ok: true; source: 'cifar' | 'own'; count: number; label: string; /** RGBA of up to 16 images. */ preview: Uint8ClampedArray; previewCount: number }
  | { ok: false; source: 'cifar' | 'own'; message: string };

export interface StartArgs {
  width: number;
  batch: number;
  lr: number;
  steps: number;
  /** Send SAMPLE_N samples from the EMA weights every this many steps (0 = only at the end). */
  sampleEvery: number;
  /** Checkpoint to IndexedDB every this many steps and at least every SAVE_EVERY_MS (default DEFAULT_SAVE_EVERY; 0 = only on pause/stop/end). */
  saveEvery?: number;
  seed?: number;
  /** A run id: continue that run (from memory when it is the live one, else from its checkpoint). */
  resume?: string;
  /** The CIFAR-10 data manifest's URL, for a checkpoint resumed from storage that trained on CIFAR-10. */
  dataManifest?: string;
  /**
   * Fine-tune: start from these weights (a weights folder's URL, e.g. the shipped small model)
   * instead of random ones; their width wins over `width`. Absent: from scratch.
   */
  init?: { url: string; label: string };
  /**
   * A BroadcastChannel name the page posts to when it is hidden or unloading: the run then saves a
   * checkpoint after its current step (the worker is busy with this task, so a `save` task would wait).
   */
  saveChannel?: string;
}

export interface RunInfo extends RunSettings {
  runId: string;
  lastSaved: { step: number; at: number } | null;
}

export type TrainProgress =
  | {
      kind: 'begin';
      run: RunInfo;
      resumedFrom: 'memory' | 'checkpoint' | null;
      /** The loss of every step so far, and the mean of the last AVG_WINDOW at each step (for the curve). */
      losses: Float32Array;
      lossAvgs: Float32Array;
      backend: BackendInfo;
    }
  | {
      kind: 'step';
      step: number;
      totalSteps: number;
      loss: number;
      /** Mean of the last AVG_WINDOW losses. */
      lossAvg: number;
      lr: number;
      imgPerSec: number;
      etaS: number;
      backend: string;
      /** tf.memory().numBytes after the step. */
      memoryBytes: number;
      /** Wall time of this step, and of its part up to the loss (forward + backward) being read. */
      stepMs: number;
      lossMs: number;
      /** Peak tf.memory().numBytes during this step (tensors alive at the busiest moment). */
      peakBytes?: number;
      /** RGBA of SAMPLE_N images from the current EMA weights (DDIM, fixed noise), on sample steps. */
      samples?: Uint8ClampedArray;
      sampleMs?: number;
    }
  | { kind: 'saved'; checkpoint: CheckpointMeta }
  | { kind: 'save-error'; name: string; message: string };

export interface StartResult {
  finished: boolean;
  step: number;
  totalSteps: number;
  saved: CheckpointMeta | null;
  saveError: { name: string; message: string } | null;
}

/** A lab run's settings and progress, shared by the live run (RunInfo) and its saved checkpoint. */
export interface RunSettings {
  step: number;
  totalSteps: number;
  width: number;
  params: number;
  batch: number;
  lr: number;
  sampleEvery: number;
  saveEvery: number;
  data: { source: 'cifar' | 'own'; count: number; label: string };
  /** Fine-tuned from these weights (e.g. "the shipped small model"); null or absent: from scratch. */
  init?: string | null;
}

/** What the lab shows about a saved run (no tensors). */
export interface CheckpointMeta extends RunSettings {
  key: string;
  seed: number;
  /** ms since the epoch. */
  savedAt: number;
  createdAt: number;
  lastLoss: number | null;
  backend: string;
  /** Size of the stored checkpoint (shards + own images), bytes. */
  bytes: number;
  finished: boolean;
}

export type SessionStatus = RunInfo & { losses: Float32Array; lossAvgs: Float32Array; finished: boolean };

export type ExportedWeights =
  | { fileName: string; manifest: WeightsManifest; shards: Uint8Array[] }
  | { fileName: string; zip: Uint8Array };

export type TrainTasks = {
  /** Starts (or switches) the backend; a paused run moves to it with its exact state. */
  init(a?: { backend?: BackendChoice }): Promise<BackendInfo>;
  /** The data the next new run trains on. */
  setData(a: DataArgs): Promise<DataInfo>;
  /** Trains until the planned steps are done or the task is cancelled (= pause). */
  start(a: StartArgs, ctx: TaskContext<TrainProgress>): Promise<StartResult>;
  /** Writes the live run's checkpoint (weights, EMA, Adam moments, step, RNG, losses) to IndexedDB. */
  save(): Promise<CheckpointMeta>;
  /** The live run (null when none), with its loss history. */
  status(): Promise<SessionStatus | null>;
  listCheckpoints(): Promise<CheckpointMeta[]>;
  deleteCheckpoint(a: { key: string }): Promise<void>;
  /** The live run's EMA weights in the project's format; with `zip`, one .zip (what "Download weights" saves). */
  exportWeights(a?: { zip?: boolean }): Promise<ExportedWeights>;
  /** Stores the EMA weights for the generation demo; the page then dispatches `diffusion:use-weights`. */
  useWeights(): Promise<{ idbKey: string; label: string }>;
  /** Test/debug hook: DDIM (η = 0) from the given NHWC noise on the live run's EMA weights; NHWC x₀ back. */
  debugSample(a: { noise: Float32Array; n: number; steps: number }): Promise<Float32Array>;
  /** Test hook: make the next checkpoint save fail with a QuotaExceededError. */
  debugFailNextSave(): Promise<void>;
  memory(): Promise<{ numTensors: number; numBytes: number; backend: string | null }>;
};
