/**
 * The benchmark's result format (bench/results.json) and small helpers shared by the runner,
 * its child processes and the docs page that renders the table at build time.
 */
import type { Stats } from '../../core/stats.ts';

export type { Stats };

export type Status = 'ok' | 'skipped' | 'timeout' | 'unavailable' | 'error';

/** One Node-side case: a forward pass or a training step, on one runtime. */
export interface NodeRecord {
  /** 'tfjs-wasm' | 'tfjs-cpu' | 'torch'. */
  runtime: 'tfjs-wasm' | 'tfjs-cpu' | 'torch';
  /** Threads the runtime really used (wasm: XNNPACK's pool; torch: get_num_threads()). */
  threads: number;
  kind: 'forward' | 'train';
  width: number;
  batch: number;
  status: Status;
  /** Milliseconds per call (one forward of the batch, or one optimizer step). */
  ms: Stats | null;
  imagesPerS: Stats | null;
  /** Achieved GFLOP/s at the median (analytic FLOPs; training counted as 3× forward). */
  gflops: number | null;
  /** Largest tf.memory().numBytes seen by tf.profile over one call (tfjs only). */
  peakBytes?: number;
  /**
   * Process CPU milliseconds per call (user + system, all threads): on a loaded machine a 1-thread
   * run's CPU time is its work, where wall time also counts the time it waited for a core.
   */
  cpuMs?: Stats | null;
  /** 'ops': the op path, before this project's wasm kernels (BenchResults.opPath says which); absent: as shipped. */
  groupNorm?: 'ops';
  /** Warm-up calls, not timed. */
  warmup: number;
  note?: string;
}

/** One browser case: a backend variant × width. */
export interface BrowserRecord {
  /** e.g. 'webgpu', 'webgl', 'wasm-threads', 'wasm-nothreads', 'wasm-threads-uncapped'. */
  variant: string;
  /** What the page's backend code reported (label, adapter, threads, fallback). */
  backend: string;
  threads: number | null;
  crossOriginIsolated: boolean;
  width: number;
  status: Status;
  note?: string;
  /** True when the shipped weights were loaded; false = random init (folder absent). */
  weightsLoaded: boolean;
  weightsSource: string;
  loadMs: number | null;
  /** First forward (batch 1): shader compilation / kernel set-up plus the lazy upload of the weights. */
  warmupMs: number | null;
  /** First forward at batch 8 (new shapes: more shaders on GPU backends). */
  warmupB8Ms: number | null;
  forward1: Stats | null;
  forward8: Stats | null;
  /** Achieved GFLOP/s of the batch-8 forward at its median. */
  gflops8: number | null;
  /** 8 images with DDIM-50: total seconds, or the projection when it hit the cap. */
  ddim: { status: Status; seconds: number | null; projectedSeconds: number | null; stepsDone: number; capSeconds: number } | null;
  /** max tf.memory().numBytes seen (includes the weights). */
  peakTensorBytes: number | null;
  /** numBytesInGPU (webgl) / GPU buffer bytes (webgpu) when the backend reports them. */
  gpuBytes: number | null;
  /** performance.measureUserAgentSpecificMemory() total, when available (cross-origin isolated pages). */
  uaMemoryBytes: number | null;
}

/**
 * One browser training case: the real Trainer (one trainStep = one AdamW step: noising, forward,
 * backward, clipping, AdamW, EMA) on a fresh model of this width and 256 synthetic images.
 */
export interface BrowserTrainRecord {
  variant: string;
  backend: string;
  threads: number | null;
  width: number;
  batch: number;
  status: Status;
  note?: string;
  /** The first step: kernel set-up / shader compilation and the first upload of the weights. */
  firstStepMs: number | null;
  /** Timed steps after the first (each waits for the optimizer update to finish). */
  stepMs: Stats | null;
  /** batch ÷ the median step, in seconds. */
  imagesPerS: number | null;
  stepsDone: number;
  stepsPlanned: number;
  /** Timed steps stop once they have taken longer than this (at least one runs). */
  capSeconds: number;
  /** Peak tf.memory().numBytes during a step (weights, EMA, Adam moments, activations, gradients). */
  peakBytes: number | null;
  /** Tensors left once the trainer and model were disposed (0 = no leak). */
  leakedTensors: number | null;
}

export interface KernelProfileRow {
  kernel: string;
  calls: number;
  ms: number;
  share: number;
  /** GFLOP/s for the FLOP-bearing kernels (Conv2D, Conv2DBackpropInput, BatchMatMul, FusedConv2D, _FusedMatMul). */
  gflops: number | null;
}

/** tf.profile of one call (a forward or a training step), per kernel. */
export interface KernelProfile {
  kind: 'forward' | 'train';
  width: number;
  batch: number;
  /** 'ops': the op path (BenchResults.opPath); 'fused': as shipped. */
  groupNorm: 'fused' | 'ops';
  totalMs: number;
  rows: KernelProfileRow[];
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  mhz: number;
  simd: string;
  /** Rough theoretical peaks (GFLOP/s) with the formula used. */
  peak: { nativeGflops: number; wasmGflops: number; formula: string };
  node: string;
  platform: string;
  load: number[];
  torch: { version: string; defaultThreads: number; mkldnn: boolean } | null;
  chromium: string | null;
}

export interface BenchResults {
  version: 1;
  date: string;
  quick: boolean;
  command: string;
  wallSeconds: number;
  machine: MachineInfo;
  /** Forward FLOPs per image (analytic, src/core/flops.ts). */
  flopsPerImage: Record<string, number>;
  node: NodeRecord[];
  browser: BrowserRecord[];
  /** Browser training cases (absent in results files from before they existed). */
  browserTrain?: BrowserTrainRecord[];
  /** tf.profile of one full-width batch-8 forward on Node wasm (1 thread). */
  profile: { width: number; batch: number; totalMs: number; rows: KernelProfileRow[] } | null;
  /** Profiles of the small model, before (the op path) and after the fused kernels. */
  profiles?: KernelProfile[];
  /**
   * What the op-path ("before") rows ran in place of this project's wasm kernels. Absent in files
   * from before the filter-gradient and AdamW kernels: there only GroupNorm + SiLU ran as tfjs ops.
   */
  opPath?: string;
  /** When the browser part was not re-run: the date of the run it was carried over from. */
  browserFrom?: string;
  notes: string[];
}

/** What a bench case with `fused: false` runs (node-child.ts turns this project's wasm kernels off). */
export const OP_PATH = 'GroupNorm, its affine and SiLU as tfjs ops; the filter gradient as transposes around an XNNPACK convolution; linear-layer gradients through tfjs\' own BatchMatMul; AdamW and the EMA as tfjs ops; Slice, Concat and SplitV as tfjs\' kernels';

/** The op path of results files without opPath. */
export const OP_PATH_GROUP_NORM = 'GroupNorm, its affine and SiLU as separate tfjs ops';

/** Marker for result lines a child process prints on stdout. */
export const RESULT_PREFIX = '@@bench ';
