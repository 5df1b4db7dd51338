/**
 * Tables from a BenchResults: plain data rows (the docs page renders them as HTML at build time)
 * and the terminal rendering. No Node imports: the Astro component uses it too.
 */
import type { BenchResults, BrowserRecord, BrowserTrainRecord, KernelProfile, KernelProfileRow, NodeRecord, Stats } from './types.ts';

export interface NodeRow {
  runtime: string;
  threads: number;
  kind: 'forward' | 'train';
  width: number;
  batch: number;
  status: string;
  /** images/s median and spread (min–max). */
  ips: Stats | null;
  msMedian: number | null;
  gflops: number | null;
  /** tfjs ÷ PyTorch images/s with the same kind, width, batch and thread count. */
  vsTorch: number | null;
  note: string;
  /** 'ops': the op path, before this project's wasm kernels. */
  groupNorm?: 'ops';
}

export const RUNTIME_LABEL: Record<string, string> = { 'tfjs-wasm': 'tfjs wasm', 'tfjs-cpu': 'tfjs cpu', torch: 'PyTorch' };

export function nodeRows(r: BenchResults): NodeRow[] {
  const torch = new Map<string, NodeRecord>();
  const key = (x: NodeRecord) => `${x.kind}|${x.width}|${x.batch}|${x.threads}`;
  for (const x of r.node) if (x.runtime === 'torch' && x.status === 'ok') torch.set(key(x), x);
  const order = (x: NodeRecord) => [x.kind === 'forward' ? 0 : 1, -x.width, x.batch, x.groupNorm ? 0 : 1, x.runtime === 'torch' ? 2 : x.runtime === 'tfjs-wasm' ? 0 : 1, x.threads];
  const sorted = [...r.node].sort((a, b) => {
    const [p, q] = [order(a), order(b)];
    for (let i = 0; i < p.length; i++) if (p[i] !== q[i]) return (p[i] as number) - (q[i] as number);
    return 0;
  });
  return sorted.map((x) => {
    const t = x.runtime !== 'torch' ? torch.get(key(x)) : undefined;
    const vs = t?.imagesPerS && x.imagesPerS ? x.imagesPerS.median / t.imagesPerS.median : null;
    return {
      runtime: RUNTIME_LABEL[x.runtime] ?? x.runtime, threads: x.threads, kind: x.kind, width: x.width, batch: x.batch, status: x.status,
      ips: x.imagesPerS, msMedian: x.ms?.median ?? null, gflops: x.gflops, vsTorch: vs, note: x.note ?? '', ...(x.groupNorm ? { groupNorm: x.groupNorm } : {}),
    };
  });
}

export interface PivotCell {
  status: string;
  ips: Stats | null;
  gflops: number | null;
  note: string;
}

export interface PivotColumn {
  /** 'tfjs-wasm' | 'torch' | 'tfjs-cpu' | 'ratio' | 'ratio-cpu' (the ratio of process CPU time per call). */
  runtime: string;
  threads: number;
  label: string;
}

export interface PivotRow {
  kind: 'forward' | 'train';
  width: number;
  batch: number;
  /** 'ops': tfjs ran the op path (before the fused kernels); PyTorch's cells are the same run's. */
  groupNorm?: 'ops';
  cells: (PivotCell | number | null)[];
}

/**
 * One row per case (kind, width, batch); columns per thread count: tfjs wasm, PyTorch and their
 * ratio (tfjs ÷ PyTorch images/s), then tfjs cpu.
 */
export function pivot(r: BenchResults): { columns: PivotColumn[]; rows: PivotRow[] } {
  const threads = [...new Set(r.node.filter((x) => x.runtime !== 'tfjs-cpu').map((x) => x.threads))].sort((a, b) => a - b);
  const columns: PivotColumn[] = [];
  for (const t of threads) {
    columns.push({ runtime: 'tfjs-wasm', threads: t, label: `wasm ${t}t` }, { runtime: 'torch', threads: t, label: `torch ${t}t` }, { runtime: 'ratio', threads: t, label: `× ${t}t` });
    if (t === 1 && r.node.some((x) => x.cpuMs)) columns.push({ runtime: 'ratio-cpu', threads: 1, label: '× 1t cpu' });
  }
  if (r.node.some((x) => x.runtime === 'tfjs-cpu')) columns.push({ runtime: 'tfjs-cpu', threads: 1, label: 'cpu 1t' });
  const cases = new Map<string, PivotRow>();
  const sorted = [...r.node].sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'forward' ? -1 : 1) || b.width - a.width || a.batch - b.batch
    || (a.groupNorm ? 0 : 1) - (b.groupNorm ? 0 : 1));
  for (const x of sorted) {
    const k = `${x.kind}|${x.width}|${x.batch}|${x.groupNorm ?? ''}`;
    if (!cases.has(k)) cases.set(k, { kind: x.kind, width: x.width, batch: x.batch, ...(x.groupNorm ? { groupNorm: x.groupNorm } : {}), cells: columns.map(() => null) });
  }
  for (const row of cases.values()) {
    // PyTorch has no "before": an op-path row compares with the same PyTorch record as the shipped row.
    const find = (runtime: string, t: number) => r.node.find((x) => x.runtime === runtime && x.threads === t && x.kind === row.kind && x.width === row.width && x.batch === row.batch
      && (runtime === 'torch' || x.groupNorm === row.groupNorm));
    row.cells = columns.map((c) => {
      if (c.runtime === 'ratio') {
        const a = find('tfjs-wasm', c.threads);
        const b = find('torch', c.threads);
        return a?.imagesPerS && b?.imagesPerS ? a.imagesPerS.median / b.imagesPerS.median : null;
      }
      if (c.runtime === 'ratio-cpu') {
        const a = find('tfjs-wasm', c.threads);
        const b = find('torch', c.threads);
        return a?.cpuMs && b?.cpuMs ? b.cpuMs.median / a.cpuMs.median : null;
      }
      const x = find(c.runtime, c.threads);
      return x ? { status: x.status, ips: x.imagesPerS, gflops: x.gflops, note: x.note ?? '' } : null;
    });
  }
  return { columns, rows: [...cases.values()] };
}

export const caseLabel = (row: { kind: string; width: number; batch: number; groupNorm?: 'ops' }) =>
  `${row.kind === 'forward' ? 'forward' : 'train'} w${row.width} b${row.batch}${row.groupNorm ? ' (op path)' : ''}`;

/** Kernel names in a profile table: the fused kernels and tf.customGrad's wrapper read better spelled out. */
export const kernelLabel = (k: string) => (k === 'unnamed scope' ? 'unnamed scope (customGrad wrapper)' : k);

/**
 * The profiles of one case before and after, merged per kernel: share of the summed kernel time in
 * each (kernels nest under 'unnamed scope', so shares are of a sum that counts nested time twice).
 */
export function profilePairs(r: BenchResults): { kind: string; width: number; batch: number; before: KernelProfile | null; after: KernelProfile | null;
  rows: { kernel: string; before: KernelProfileRow | null; after: KernelProfileRow | null }[] }[] {
  const ps = r.profiles ?? [];
  const keys = [...new Set(ps.map((p) => `${p.kind}|${p.width}|${p.batch}`))];
  return keys.map((k) => {
    const of = (g: 'ops' | 'fused') => ps.find((p) => `${p.kind}|${p.width}|${p.batch}` === k && p.groupNorm === g) ?? null;
    const before = of('ops');
    const after = of('fused');
    const names = [...new Set([...(before?.rows ?? []), ...(after?.rows ?? [])].sort((a, b) => b.ms - a.ms).map((x) => x.kernel))];
    const [kind, width, batch] = k.split('|');
    return {
      kind, width: Number(width), batch: Number(batch), before, after,
      rows: names.map((kernel) => ({ kernel, before: before?.rows.find((x) => x.kernel === kernel) ?? null, after: after?.rows.find((x) => x.kernel === kernel) ?? null })),
    };
  });
}

export interface BrowserRow {
  variant: string;
  backend: string;
  width: number;
  status: string;
  load: string;
  warmup: string;
  fwd1: string;
  fwd8: string;
  gflops: string;
  ddim: string;
  memory: string;
  note: string;
}

const ms = (v: number | null | undefined) => (v == null ? '—' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v.toFixed(v < 10 ? 1 : 0)} ms`);
const statMs = (s: Stats | null) => (s ? `${ms(s.median)} (${ms(s.min)}–${ms(s.max)})` : '—');
export const mb = (b: number | null | undefined) => (b == null ? '—' : `${(b / 2 ** 20).toFixed(0)} MB`);

export function browserRows(r: BenchResults): BrowserRow[] {
  return r.browser.map((b: BrowserRecord) => {
    const d = b.ddim;
    const ddim = !d ? '—'
      : d.status === 'ok' ? `${d.seconds!.toFixed(1)} s`
      : d.status === 'timeout' ? `timeout (> ${d.capSeconds} s${d.projectedSeconds ? `, ≈ ${d.projectedSeconds.toFixed(0)} s projected from ${d.stepsDone ? `${d.stepsDone} steps` : 'the batch-8 forward'}` : ''})`
      : 'skipped';
    return {
      variant: b.variant, backend: b.backend, width: b.width, status: b.status,
      load: b.status === 'ok' ? `${ms(b.loadMs)}${b.weightsLoaded ? '' : ' (random init)'}` : '—',
      warmup: ms(b.warmupMs), fwd1: statMs(b.forward1), fwd8: statMs(b.forward8),
      gflops: b.gflops8 == null ? '—' : b.gflops8.toFixed(2), ddim,
      memory: [b.peakTensorBytes != null ? `tensors ${mb(b.peakTensorBytes)}` : '', b.gpuBytes != null ? `GPU ${mb(b.gpuBytes)}` : '', b.uaMemoryBytes != null ? `page after run ${mb(b.uaMemoryBytes)}` : ''].filter(Boolean).join(', ') || '—',
      note: b.note ?? '',
    };
  });
}

export interface BrowserTrainRow {
  variant: string;
  backend: string;
  threads: number | null;
  width: number;
  batch: number;
  status: string;
  firstStep: string;
  /** ms per step: median, and (min–max, n steps). */
  step: string;
  stepSpread: string;
  ips: string;
  memory: string;
  note: string;
}

/** Rows of the browser training table ([] for results files without training data). */
export function browserTrainRows(r: BenchResults): BrowserTrainRow[] {
  return (r.browserTrain ?? []).map((t: BrowserTrainRecord) => ({
    variant: t.variant, backend: t.backend, threads: t.threads, width: t.width, batch: t.batch, status: t.status,
    firstStep: ms(t.firstStepMs), step: ms(t.stepMs?.median),
    stepSpread: !t.stepMs ? '' : t.stepMs.n < 2 ? 'one step' : `${ms(t.stepMs.min)}–${ms(t.stepMs.max)}, ${t.stepMs.n} steps`,
    ips: t.imagesPerS == null ? '—' : t.imagesPerS.toFixed(t.imagesPerS >= 100 ? 0 : t.imagesPerS >= 10 ? 1 : 2),
    memory: mb(t.peakBytes), note: t.note ?? '',
  }));
}

export const fmtIps = (s: Stats | null) => (s ? `${s.median >= 100 ? s.median.toFixed(0) : s.median.toFixed(s.median >= 10 ? 1 : 2)}` : '—');
export const fmtSpread = (s: Stats | null) => (s ? (s.n < 2 ? 'n=1' : `${s.min.toPrecision(3)}–${s.max.toPrecision(3)}`) : '');

/** Fixed-width text table. */
export function textTable(header: string[], rows: string[][], leftCols = 1): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i < leftCols ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ').trimEnd();
  return [line(header), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

export function renderText(r: BenchResults): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`Machine: ${m.cpuModel}, ${m.cores} cores @ ${m.mhz.toFixed(0)} MHz, ${m.simd}; load ${m.load.join(' ')}; Node ${m.node}`);
  out.push(`Rough theoretical peak: ${m.peak.formula}`);
  if (m.torch) out.push(`PyTorch ${m.torch.version}: get_num_threads() = ${m.torch.defaultThreads} by default, MKL-DNN ${m.torch.mkldnn ? 'on' : 'off'}`);
  out.push(`Forward FLOPs per image: width 1 = ${(r.flopsPerImage['1'] / 1e9).toFixed(3)} GFLOP, width 0.25 = ${(r.flopsPerImage['0.25'] / 1e9).toFixed(4)} GFLOP (training step ≈ 3×)`);
  if (r.node.length) {
    const pv = pivot(r);
    out.push('');
    out.push('Node: images/s, median (min–max) of the timed runs. wasm / cpu = tfjs backends, torch = PyTorch, Nt = threads;');
    out.push('× = tfjs wasm ÷ PyTorch at the same thread count (above 1: tfjs is faster); × 1t cpu = the same ratio in process CPU time per call (steadier on a loaded machine)');
    const cell = (v: PivotCell | number | null) => {
      if (v == null) return '';
      if (typeof v === 'number') return v.toFixed(2);
      if (v.status !== 'ok') return v.status;
      return `${fmtIps(v.ips)}${v.ips && v.ips.n > 1 ? ` (${fmtSpread(v.ips)})` : ''}`;
    };
    out.push(textTable(['case', ...pv.columns.map((c) => c.label)], pv.rows.map((row) => [caseLabel(row), ...row.cells.map(cell)])));
    out.push('');
    out.push('Achieved GFLOP/s (analytic FLOPs ÷ median time; training = 3× forward FLOPs)');
    const gcols = pv.columns.map((c, i) => ({ c, i })).filter(({ c }) => !c.runtime.startsWith('ratio'));
    out.push(textTable(['case', ...gcols.map(({ c }) => c.label)], pv.rows.map((row) => [caseLabel(row), ...gcols.map(({ i }) => {
      const v = row.cells[i];
      return v && typeof v !== 'number' && v.gflops != null ? v.gflops.toFixed(2) : '';
    })])));
  }
  if (r.profile) {
    out.push('');
    out.push(`tf.profile of one forward, width ${r.profile.width}, batch ${r.profile.batch}, Node wasm (${r.profile.totalMs.toFixed(0)} ms wall):`);
    out.push(textTable(['kernel', 'calls', 'ms', 'share', 'GFLOP/s'], r.profile.rows.slice(0, 10).map((k) => [
      k.kernel, String(k.calls), k.ms.toFixed(0), `${(k.share * 100).toFixed(1)}%`, k.gflops == null ? '' : k.gflops.toFixed(2),
    ])));
  }
  for (const pp of profilePairs(r)) {
    out.push('');
    const ms = (p: KernelProfile | null) => (p ? `${p.totalMs.toFixed(0)} ms` : '—');
    out.push(`tf.profile of one ${pp.kind === 'forward' ? 'forward' : 'training step'}, width ${pp.width}, batch ${pp.batch}, Node wasm 1 thread: before (op path, ${ms(pp.before)} wall) and after (fused, ${ms(pp.after)} wall)`);
    const cell = (x: KernelProfileRow | null) => (x ? `${x.ms.toFixed(0)} ms ${(x.share * 100).toFixed(1)}% ×${x.calls}` : '');
    out.push(textTable(['kernel', 'before', 'after'], pp.rows.slice(0, 14).map((x) => [kernelLabel(x.kernel), cell(x.before), cell(x.after)])));
  }
  if (r.browser.length) {
    out.push('');
    out.push(`Browser (${m.chromium ?? 'Chromium'}, headless; ms per forward: median (min–max))`);
    out.push(textTable(['variant', 'backend', 'w', 'load', 'warm-up', 'fwd b1', 'fwd b8', 'GFLOP/s', 'DDIM-50 ×8', 'memory'],
      browserRows(r).map((b) => [b.variant, b.status === 'ok' ? b.backend.slice(0, 40) : `${b.status}: ${b.note}`.slice(0, 60), String(b.width), b.status === 'ok' ? b.load : '', b.warmup, b.fwd1, b.fwd8, b.gflops, b.ddim, b.memory]), 2));
  }
  const trows = browserTrainRows(r);
  if (trows.length) {
    out.push('');
    out.push('Browser training (one AdamW step = forward + backward + update; ms/step: median (min–max, steps); peak = tf.memory() during a step)');
    out.push(textTable(['variant', 'backend', 'w', 'batch', 'first step', 'ms/step', 'images/s', 'peak memory'],
      trows.map((t) => {
        const ran = t.status === 'ok' || t.status === 'timeout';
        return [t.variant, ran ? `${t.backend.slice(0, 40)}${t.status === 'timeout' ? ' (capped)' : ''}` : `${t.status}: ${t.note}`.slice(0, 60), String(t.width), String(t.batch),
          ran ? t.firstStep : '', ran ? `${t.step}${t.stepSpread ? ` (${t.stepSpread})` : ''}` : '', ran ? t.ips : '', ran ? t.memory : ''];
      }), 2));
  }
  if (r.notes.length) {
    out.push('');
    for (const n of r.notes) out.push(`- ${n}`);
  }
  return out.join('\n');
}
