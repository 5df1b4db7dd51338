/**
 * One benchmark child process: one tfjs backend configuration (backend + wasm threads), a list
 * of cases, one result line per case on stdout (prefixed with RESULT_PREFIX). A separate process
 * per configuration because the wasm thread count is fixed when the backend starts.
 *
 *   node --import tsx src/cli/bench/node-child.ts '<json ChildSpec>'
 */
import * as tf from '@tensorflow/tfjs-core';
import { initNodeBackend } from '../tf-node.ts';
import { wasmThreadsInUse } from '../wasm-threads.ts';
import { SimpleUNet } from '../../core/model.ts';
import { makeSchedule } from '../../core/schedule.ts';
import { Trainer } from '../../core/trainer.ts';
import { forwardFlops } from '../../core/flops.ts';
import { RESULT_PREFIX, type NodeRecord, type KernelProfile } from './types.ts';
import { stats, mapStats } from '../../core/stats.ts';
import { setFusedGroupNorm } from '../../core/group-norm.ts';
import { explainWasmHeapError } from '../../core/wasm-heap.ts';
import { projectedSkip } from './skip.ts';
import { setFusedAdamW } from '../../core/adamw.ts';
import { setDirectConvFilterGrad } from '../../core/fused/wasm-conv-filter-grad.ts';
import { setTransposeFirstMatMul } from '../../core/wasm-kernels.ts';
import { setWasmRowCopies } from '../../core/fused/wasm-copy.ts';

/** This project's wasm kernels on (as shipped) or off (the op path, OP_PATH in types.ts). */
function setProjectKernels(on: boolean): void {
  setFusedGroupNorm(on);
  setFusedAdamW(on);
  setDirectConvFilterGrad(on);
  setTransposeFirstMatMul(on);
  setWasmRowCopies(on);
}

export interface CaseSpec {
  kind: 'forward' | 'train';
  width: number;
  batch: number;
  warmup: number;
  repeats: number;
  /** Fewer repeats (never under 1) when the warm-up shows they would take longer than this. */
  budgetS: number;
  /** false: the op path, before this project's wasm kernels (OP_PATH; default true). */
  fused?: boolean;
}

export interface ChildSpec {
  backend: 'wasm' | 'cpu';
  /** wasm only: null = tfjs' default in Node (1 thread); n ≥ 2 the CLI's threads path (wasm-threads.ts). */
  threads: number | null;
  cases: CaseSpec[];
  /** Skip cases projected to need longer than this per call. */
  maxCallS: number;
  /** Epoch ms after which remaining cases are skipped. */
  deadline?: number;
  /** Profile one forward of this width/batch with tf.profile (per-kernel times). */
  profile?: { width: number; batch: number } | null;
  /** Further profiles (forward or training step), each with or without the fused kernels. */
  profiles?: { kind: 'forward' | 'train'; width: number; batch: number; fused: boolean }[];
}

function emit(kind: string, data: unknown): void {
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify({ kind, data })}\n`);
}

async function time(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

/** Wall and process CPU milliseconds of one call. */
async function timeBoth(f: () => Promise<unknown>): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const wall = await time(f);
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000 };
}

const models = new Map<number, SimpleUNet>();
function model(width: number): SimpleUNet {
  let m = models.get(width);
  if (!m) {
    m = new SimpleUNet({ width });
    models.set(width, m);
  }
  return m;
}

function inputs(batch: number): { x: tf.Tensor4D; t: tf.Tensor1D } {
  return {
    x: tf.randomNormal([batch, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D,
    t: tf.tensor1d(Array.from({ length: batch }, (_, i) => (i * 997) % 1000), 'int32'),
  };
}

/** The call a case times: a forward of a fixed batch, or a real Trainer step. */
function caseCall(c: Pick<CaseSpec, 'kind' | 'width' | 'batch'>): { call: () => Promise<unknown>; cleanup: () => void } {
  const m = model(c.width);
  if (c.kind === 'forward') {
    const { x, t } = inputs(c.batch);
    return {
      call: async () => {
        const y = m.forward(x, t);
        await y.data();
        y.dispose();
      },
      cleanup: () => { x.dispose(); t.dispose(); },
    };
  }
  // A real Trainer step on synthetic bytes (the data only sets pixel values, not the cost).
  const count = c.batch * 2;
  const images = new Uint8Array(count * 3072);
  for (let i = 0; i < images.length; i++) images[i] = (i * 2654435761) >>> 24;
  const trainer = new Trainer(m, makeSchedule(), { images, count }, { batchSize: c.batch, totalSteps: 1000 });
  return { call: () => trainer.trainStep(), cleanup: () => trainer.dispose() };
}

async function runCase(c: CaseSpec, runtime: NodeRecord['runtime'], threads: number): Promise<NodeRecord> {
  const base = { runtime, threads, kind: c.kind, width: c.width, batch: c.batch, warmup: c.warmup, ...(c.fused === false ? { groupNorm: 'ops' as const } : {}) };
  setProjectKernels(c.fused !== false);
  const { call, cleanup } = caseCall(c);
  let peakBytes: number | undefined;
  try {
    const warm: number[] = [];
    for (let i = 0; i < c.warmup; i++) {
      if (i === 0) {
        // Peak tensor memory over one call: tf.profile tracks allocations (the warm-up is not timed).
        const info = await tf.profile(async () => { warm.push(await time(call)); });
        peakBytes = info.peakBytes;
      } else warm.push(await time(call));
    }
    const est = warm.length ? warm[warm.length - 1] : await time(call);
    const repeats = Math.max(1, Math.min(c.repeats, Math.floor((c.budgetS * 1000) / Math.max(est, 1))));
    const runs: { wall: number; cpu: number }[] = [];
    for (let i = 0; i < repeats; i++) runs.push(await timeBoth(call));
    const s = stats(runs.map((r) => r.wall));
    const flops = forwardFlops({ width: c.width }) * (c.kind === 'train' ? 3 : 1) * c.batch;
    return {
      ...base, status: 'ok', ms: s, imagesPerS: mapStats(s, (v) => (c.batch * 1000) / v), cpuMs: stats(runs.map((r) => r.cpu)),
      gflops: s ? flops / (s.median / 1000) / 1e9 : null, peakBytes,
      note: repeats < c.repeats ? `${repeats} of ${c.repeats} repeats (time budget ${c.budgetS} s)` : undefined,
    };
  } finally {
    cleanup();
    setProjectKernels(true);
  }
}

/** Per-kernel time of one call (after a warm-up call); FLOP rates for the convolution and matmul kernels. */
async function profileCall(c: { kind: 'forward' | 'train'; width: number; batch: number; fused: boolean }): Promise<KernelProfile> {
  setProjectKernels(c.fused);
  const { call, cleanup } = caseCall(c);
  try {
    await call();
    const t0 = performance.now();
    const info = await tf.profile(async () => { await call(); });
    const totalMs = performance.now() - t0;
    const rows = new Map<string, { calls: number; ms: number; flops: number }>();
    for (const k of info.kernels) {
      const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : Number(await k.kernelTimeMs) || 0;
      const r = rows.get(k.name) ?? { calls: 0, ms: 0, flops: 0 };
      r.calls++;
      r.ms += ms;
      r.flops += kernelFlops(k.name, k.inputShapes as number[][], k.outputShapes as number[][]);
      rows.set(k.name, r);
    }
    const sum = [...rows.values()].reduce((a, r) => a + r.ms, 0);
    return {
      kind: c.kind, width: c.width, batch: c.batch, groupNorm: c.fused ? 'fused' : 'ops', totalMs,
      rows: [...rows.entries()].sort((a, b) => b[1].ms - a[1].ms).map(([kernel, r]) => ({
        kernel, calls: r.calls, ms: r.ms, share: r.ms / sum, gflops: r.flops > 0 && r.ms > 0 ? r.flops / (r.ms / 1000) / 1e9 : null,
      })),
    };
  } finally {
    cleanup();
    setProjectKernels(true);
  }
}

function kernelFlops(name: string, ins: number[][], outs: number[][]): number {
  const size = (s: number[] | undefined) => (s ?? []).reduce((a, b) => a * b, 1);
  if ((name === 'Conv2D' || name === 'FusedConv2D') && ins[1]) {
    const [kh, kw, ci] = ins[1];
    return 2 * size(outs[0]) * kh * kw * ci;
  }
  if (name === 'Conv2DBackpropInput' && ins[0] && ins[1]) {
    // conv2dTranspose: inputs are (dy, filter [kh, kw, out, in]); each dy element scatters kh·kw·out taps
    const [kh, kw, co] = ins[1];
    return 2 * size(ins[0]) * kh * kw * co;
  }
  if ((name === 'BatchMatMul' || name === '_FusedMatMul') && ins[0] && outs[0]) {
    const o = outs[0];
    const k = size(ins[0]) / (size(o) / o[o.length - 1]);
    return 2 * size(o) * k;
  }
  return 0;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as ChildSpec;
  await initNodeBackend(spec.backend, spec.backend === 'wasm' ? spec.threads ?? 1 : 1);
  const threads = spec.backend === 'wasm' ? wasmThreadsInUse() : 1;
  emit('backend', { backend: spec.backend, threads, requestedThreads: spec.threads });
  const runtime = spec.backend === 'wasm' ? 'tfjs-wasm' : 'tfjs-cpu';
  if (spec.profile) {
    const { width, batch, totalMs, rows } = await profileCall({ kind: 'forward', ...spec.profile, fused: true });
    emit('profile', { width, batch, totalMs, rows });
  }
  for (const p of spec.profiles ?? []) emit('kernel-profile', await profileCall(p));
  const done: NodeRecord[] = [];
  for (const c of spec.cases) {
    const skip = projectedSkip(done, c, spec.maxCallS, spec.deadline ?? Infinity, spec.backend === 'wasm');
    if (skip) {
      emit('record', { runtime, threads, kind: c.kind, width: c.width, batch: c.batch, warmup: c.warmup, status: 'skipped', ms: null, imagesPerS: null, gflops: null, note: skip } satisfies NodeRecord);
      continue;
    }
    try {
      const r = await runCase(c, runtime, threads);
      done.push(r);
      emit('record', r);
    } catch (e) {
      emit('record', { runtime, threads, kind: c.kind, width: c.width, batch: c.batch, warmup: c.warmup, status: 'error', ms: null, imagesPerS: null, gflops: null, note: (explainWasmHeapError(e) as Error).message } satisfies NodeRecord);
    }
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
