/**
 * The contract between the unlisted /bench/ page and the benchmark worker
 * (src/workers/bench.worker.ts): one task, `run`, measuring one backend × width.
 */
import type { TaskContext } from '../pool/types.ts';
import type { BackendChoice } from './backend.ts';
import type { Stats } from '../core/stats.ts';

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
  /**
   * Training throughput: one first step (kernel set-up, shader compilation), then up to `steps`
   * timed steps at batch `batch`, stopping once they have taken longer than capS (at least one runs).
   */
  train?: { batch: number; steps: number; capS: number };
  /** Skip weight loading, the forwards and DDIM: only the training measurement. */
  trainOnly?: boolean;
}

export interface TrainBench {
  batch: number;
  /** The first trainStep (+ flush): kernel set-up / shader compilation, first upload of the weights. */
  firstStepMs: number;
  stepMs: Stats | null;
  /** batch ÷ median step seconds. */
  imagesPerS: number | null;
  /** Timed steps that ran (the first step not counted). */
  stepsDone: number;
  stepsPlanned: number;
  capSeconds: number;
  /** Peak tf.memory().numBytes during a step (weights, EMA and Adam moments included); null if not trackable. */
  peakBytes: number | null;
  /** tf.memory().numBytes between steps (the trainer's resident state). */
  residentBytes: number;
  /** Tensors left behind once the trainer and model are disposed (0 = no leak). */
  leakedTensors: number;
  status: 'ok' | 'timeout';
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
  /** null for the forward fields when the case is trainOnly. */
  loadMs: number | null;
  warmupMs: number | null;
  warmupB8Ms: number | null;
  forward1: Stats | null;
  forward8: Stats | null;
  gflops8: number | null;
  ddim: { status: 'ok' | 'timeout' | 'skipped'; seconds: number | null; projectedSeconds: number | null; stepsDone: number; capSeconds: number } | null;
  peakTensorBytes: number | null;
  gpuBytes: number | null;
  train: TrainBench | null;
}

export type BenchTasks = {
  /** Progress: one line of text per phase. */
  run(a: BenchArgs, ctx: TaskContext<string>): Promise<BenchResult>;
};
