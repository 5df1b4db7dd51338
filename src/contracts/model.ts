/**
 * The contract between the pages and the model worker (src/workers/model.worker.ts): the tasks,
 * their arguments, progress and results, and the limits both sides check. No tfjs and no worker
 * code here, so a page may import values from it.
 *
 *   init({ backend })            → BackendInfo
 *   loadWeights({ source })      → ModelInfo        (progress: DownloadProgress)
 *   loadFile({ name, bytes })    → ModelInfo        (a reader's .pth / .safetensors / weights .zip, validated)
 *   generate({ sampler, … })     → GenerateResult   (progress: GenerateProgress, with frames)
 *   describe({ width? })         → ArchitectureInfo (per-block shapes from a real forward pass)
 *   memory()                     → tf.memory() and the backend
 */
import type { TaskContext } from '../pool/types.ts';
import type { BackendChoice, BackendInfo } from './backend.ts';
import type { SamplerName, SamplingRequest } from '../core/sampling-defaults.ts';
import type { Prediction } from '../core/diffusion.ts';
import type { TrainingRecord } from '../core/weights/format.ts';

/** Images one `generate` call draws at most (a class grid: 10 classes × 4, or 64 plain). */
export const MAX_IMAGES_PER_RUN = 64;

export type WeightsSource = { url: string; name?: string } | { idbKey: string; name?: string } | { fileKey: string; name?: string };

export interface DownloadProgress {
  phase: 'download' | 'decode';
  loaded: number;
  /** Total bytes when the server says (Content-Length), else 0. */
  total: number;
}

export interface ModelInfo {
  key: string;
  name: string;
  width: number;
  params: number;
  /** 0: unconditional; 10: asks for a CIFAR-10 class (with classifier-free guidance). */
  numClasses: number;
  weightsKind: 'ema' | 'raw' | 'unknown';
  training: TrainingRecord | null;
  prediction: Prediction;
  bytes: number;
  loadMs: number;
  backend: BackendInfo;
  /** True when these weights were already loaded (nothing was downloaded). */
  cached: boolean;
}

/**
 * The sampling settings (sampler, steps, η, clipping, guidance w) travel as the page read them;
 * the worker completes and checks them against the loaded model's schedule with resolveSampling.
 */
export interface GenerateArgs extends SamplingRequest {
  /** Weights to use; loaded first if they are not the loaded ones (same task, so no other demo slips in between). */
  source?: WeightsSource;
  backend?: BackendChoice;
  sampler: SamplerName;
  seed: number;
  n: number;
  /** Send x_t and x̂₀ frames every this many steps (and always on the last); 0 = never. */
  frameEvery?: number;
  /** Load `source` again even if it is the loaded one (the training lab re-saved under the same key). */
  reload?: boolean;
  /** Class-conditional weights: one class per image (null = any); the guidance w is the setting's. */
  labels?: (number | null)[];
}

export type GenerateProgress = DownloadProgress | StepProgress;

export interface StepProgress {
  phase: 'step';
  /** 1-based steps done, of total. */
  step: number;
  total: number;
  t: number;
  msPerStep: number;
  /** RGBA bytes of all n images (n·32·32·4), only on frame steps. */
  xt?: Uint8ClampedArray;
  x0?: Uint8ClampedArray;
}

export interface GenerateResult {
  rgba: Uint8ClampedArray;
  n: number;
  size: number;
  steps: number;
  totalMs: number;
  /** Mean over steps after the first (the first includes shader compilation on GPUs). */
  msPerStep: number;
  firstStepMs: number;
  backend: BackendInfo;
  sampler: SamplerName;
  seed: number;
}

export interface BlockInfo {
  block: string;
  shape: number[];
  params: number;
}

export interface ArchitectureInfo {
  width: number;
  total: number;
  blocks: BlockInfo[];
  backend: string;
  ms: number;
}

export interface ModelMemory {
  numTensors: number;
  numBytes: number;
  backend: string | null;
  model: string | null;
  modelTensors: number;
}

export type ModelTasks = {
  /** Starts (or switches) the tfjs backend. */
  init(a?: { backend?: BackendChoice }): Promise<BackendInfo>;
  /** Loads weights (URL of a weights folder, or the training lab's IndexedDB record) and keeps them loaded. */
  loadWeights(a: { source: WeightsSource; backend?: BackendChoice; reload?: boolean }, ctx: TaskContext<DownloadProgress>): Promise<ModelInfo>;
  /** Loads a file the reader dropped and keeps it loaded; `ModelInfo.key` is the source (`{ fileKey }`) to generate with. */
  loadFile(a: { name: string; bytes: Uint8Array; backend?: BackendChoice }, ctx: TaskContext<DownloadProgress>): Promise<ModelInfo>;
  /** Runs a sampler on the loaded model, streaming x_t and x̂₀ frames. */
  generate(a: GenerateArgs, ctx: TaskContext<GenerateProgress>): Promise<GenerateResult>;
  /** Per-block output shapes (from a real forward pass) and parameter counts; no weights needed. */
  describe(a?: { width?: number }): Promise<ArchitectureInfo>;
  /** tf.memory() plus what is loaded, to check for leaks. */
  memory(): Promise<ModelMemory>;
};
