/**
 * Browser part of the benchmark: serves the built site twice (cross-origin isolated, so wasm may
 * use threads, and not isolated), opens the unlisted /bench/ page in headless Chromium (the
 * system one; never downloads a browser) and runs each case in a fresh page and worker.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BrowserRecord, BrowserTrainRecord, Stats } from './types.ts';
import { DEFAULT_MODEL, shippedModelOfWidth, shippedWeightsPath } from '../../core/shipped-models.ts';

export interface BrowserCase {
  variant: 'webgpu' | 'webgl' | 'wasm-threads' | 'wasm-threads-uncapped' | 'wasm-nothreads';
  width: number;
  repeats1: number;
  repeats8: number;
  ddim: boolean;
  capS: number;
  /** Why DDIM is skipped, when it is. */
  ddimNote?: string;
  /** Whole-case time limit (default 150 s + the DDIM cap). GPU emulation compiles shaders for minutes. */
  limitS?: number;
  /** Skip this case when the same variant's previous case ran a batch-8 forward slower than this. */
  skipIfPrevFwd8OverMs?: number;
  /** Also measure training (after the forwards): a first step, then up to `steps` timed steps within capS. */
  train?: { batch: number; steps: number; capS: number };
  /** Only the training measurement (no weights, forwards or DDIM). */
  trainOnly?: boolean;
  /** Skip the training when the same variant's previous training case took longer than this per step. */
  skipIfPrevStepOverMs?: number;
}

/** 'forward' for the forward/DDIM cases, 'train' for training-only ones (what --variants' train: prefix selects). */
export const caseKind = (c: BrowserCase): 'forward' | 'train' => (c.trainOnly ? 'train' : 'forward');

export interface BrowserOptions {
  root: string;
  dist: string;
  chromium: string;
  cases: BrowserCase[];
  log: (s: string) => void;
  /** Epoch ms after which remaining cases are skipped. */
  deadline?: number;
}

interface PageResult {
  backend: string; requested: string; fallback: boolean; reason: string; threads: number | null; crossOriginIsolated: boolean;
  width: number; weightsLoaded: boolean; weightsSource: string; loadMs: number; warmupMs: number; warmupB8Ms: number;
  forward1: Stats | null; forward8: Stats | null; gflops8: number | null; ddim: BrowserRecord['ddim'];
  peakTensorBytes: number | null; gpuBytes: number | null; uaMemoryBytes: number | null; uaMemoryNote: string;
  train: {
    batch: number; firstStepMs: number; stepMs: Stats | null; imagesPerS: number | null; stepsDone: number; stepsPlanned: number;
    capSeconds: number; peakBytes: number | null; residentBytes: number; leakedTensors: number; status: 'ok' | 'timeout';
  } | null;
}

const PORTS = { isolated: 4471, open: 4472 };

async function waitFor(url: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const r = await fetch(url);
      if (r.ok || r.status === 404) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`server at ${url} did not start`);
}

function serve(root: string, dist: string, port: number, isolated: boolean): ChildProcess {
  const args = [path.join(root, 'scripts', 'serve.mjs'), dist, '--port', String(port)];
  if (!isolated) args.push('--no-isolation');
  return spawn(process.execPath, args, { cwd: root, stdio: 'ignore' });
}

export async function runBrowser(o: BrowserOptions): Promise<{ records: BrowserRecord[]; trainRecords: BrowserTrainRecord[]; chromium: string | null; notes: string[] }> {
  const notes: string[] = [];
  if (!fs.existsSync(path.join(o.dist, 'bench', 'index.html'))) {
    return { records: [], trainRecords: [], chromium: null, notes: [`browser part skipped: ${path.relative(o.root, o.dist)}/bench/ is missing (npm run build)`] };
  }
  if (!fs.existsSync(o.chromium)) return { records: [], trainRecords: [], chromium: null, notes: [`browser part skipped: no Chromium at ${o.chromium}`] };
  const { chromium } = await import('@playwright/test');
  const servers = [serve(o.root, o.dist, PORTS.isolated, true), serve(o.root, o.dist, PORTS.open, false)];
  const records: BrowserRecord[] = [];
  const trainRecords: BrowserTrainRecord[] = [];
  let version: string | null = null;
  try {
    await Promise.all([waitFor(`http://localhost:${PORTS.isolated}/`, 15_000), waitFor(`http://localhost:${PORTS.open}/`, 15_000)]);
    const browser = await chromium.launch({
      executablePath: o.chromium,
      args: ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--no-first-run', '--enable-blink-features=ForceEagerMeasureMemory'],
    });
    version = `Chromium ${browser.version()}`;
    /** Variants whose backend did not start, with where that was seen. */
    const unavailable = new Map<string, string>();
    let defaultThreads: number | null = null;
    try {
      for (const c of o.cases) {
        const base = { variant: c.variant, width: c.width };
        // A case that is not run: its forward record (unless training-only) and its training record.
        const notRun = (status: BrowserRecord['status'], note: string) => {
          if (!c.trainOnly) records.push(empty(base, status, note));
          if (c.train) trainRecords.push(emptyTrain(base, c.train.batch, c.train.steps, c.train.capS, status, note));
        };
        if (unavailable.has(c.variant)) {
          notRun('unavailable', `see ${unavailable.get(c.variant)}`);
          continue;
        }
        if (Date.now() > (o.deadline ?? Infinity)) {
          notRun('skipped', 'out of the time budget (--budget)');
          continue;
        }
        const prev = [...records].reverse().find((r) => r.variant === c.variant);
        if (!c.trainOnly && c.skipIfPrevFwd8OverMs && prev && (prev.status !== 'ok' || (prev.forward8?.median ?? Infinity) > c.skipIfPrevFwd8OverMs)) {
          notRun('skipped', prev.status !== 'ok'
            ? `width ${prev.width} did not finish (${prev.status})`
            : `a batch-8 forward at width ${prev.width} took ${((prev.forward8?.median ?? 0) / 1000).toFixed(1)} s; width ${c.width} does ~${Math.round((c.width / prev.width) ** 2)}× the work`);
          continue;
        }
        const prevTrain = [...trainRecords].reverse().find((r) => r.variant === c.variant);
        if (c.trainOnly && c.skipIfPrevStepOverMs && prevTrain && (prevTrain.status === 'error' || prevTrain.status === 'skipped' || (prevTrain.stepMs?.median ?? Infinity) > c.skipIfPrevStepOverMs)) {
          notRun('skipped', !prevTrain.stepMs
            ? `width ${prevTrain.width} did not finish (${prevTrain.status})`
            : `a training step at width ${prevTrain.width} took ${(prevTrain.stepMs.median / 1000).toFixed(1)} s; width ${c.width} does ~${Math.round((c.width / prevTrain.width) ** 2)}× the work`);
          continue;
        }
        if (c.variant === 'wasm-threads-uncapped' && defaultThreads !== null && defaultThreads >= 2) {
          notRun('skipped', `the site's default already uses ${defaultThreads} threads`);
          continue;
        }
        const isolated = c.variant !== 'wasm-nothreads';
        const origin = `http://localhost:${isolated ? PORTS.isolated : PORTS.open}`;
        const backend = c.variant.startsWith('wasm') ? 'wasm' : c.variant;
        const ctx = await browser.newContext();
        const page = await ctx.newPage();
        let last = '';
        page.on('console', (m) => {
          const t = m.text();
          if (t.startsWith('[bench] ')) last = t.slice(8);
          else if (m.type() === 'error') o.log(`    console: ${t.slice(0, 200)}`);
        });
        const t0 = Date.now();
        o.log(`  browser ${c.variant} width ${c.width}${c.trainOnly ? `: training, batch ${c.train?.batch}` : c.train ? ` (+ training, batch ${c.train.batch})` : ''} ...`);
        try {
          await page.goto(`${origin}/bench/`);
          await page.waitForFunction(() => window.__bench?.ready === true, null, { timeout: 30_000 });
          const args = {
            backend, width: c.width, weightsUrl: `/${shippedWeightsPath(shippedModelOfWidth(c.width) ?? DEFAULT_MODEL)}`,
            repeats1: c.repeats1, repeats8: c.repeats8, ddim: c.ddim, capS: c.capS, train: c.train, trainOnly: c.trainOnly,
            fakeCores: c.variant === 'wasm-threads-uncapped' ? 2 * Math.max(2, (await page.evaluate(() => navigator.hardwareConcurrency)) ?? 2) : undefined,
          };
          const limitMs = (c.limitS ?? (c.trainOnly ? 60 : 150 + (c.ddim ? c.capS * 1.2 : 0)) + (c.train ? c.train.capS * 1.5 : 0)) * 1000;
          const r = await page.evaluate(([a, ms]) => window.__bench!.run(a as never, undefined, ms as number), [args, limitMs] as const) as unknown as PageResult;
          if (r.fallback) {
            unavailable.set(c.variant, `width ${c.width}${c.trainOnly ? ' (training)' : ''}: ${r.reason}`);
            notRun('unavailable', r.reason);
          } else {
            if (c.variant === 'wasm-threads') defaultThreads = r.threads;
            if (r.train) {
              const t = r.train;
              trainRecords.push({
                variant: c.variant, backend: r.backend, threads: r.threads, width: c.width, batch: t.batch, status: t.status,
                note: [t.status === 'timeout' ? `${t.stepsDone} of ${t.stepsPlanned} timed steps within the ${t.capSeconds} s cap` : '',
                  t.leakedTensors ? `${t.leakedTensors} tensors leaked` : ''].filter(Boolean).join('; ') || undefined,
                firstStepMs: t.firstStepMs, stepMs: t.stepMs, imagesPerS: t.imagesPerS, stepsDone: t.stepsDone, stepsPlanned: t.stepsPlanned,
                capSeconds: t.capSeconds, peakBytes: t.peakBytes, leakedTensors: t.leakedTensors,
              });
            }
          }
          if (!r.fallback && !c.trainOnly) {
            records.push({
              variant: c.variant, backend: r.backend, threads: r.threads, crossOriginIsolated: r.crossOriginIsolated, width: c.width, status: 'ok',
              note: [c.ddim ? '' : c.ddimNote ?? '', r.weightsLoaded ? '' : 'random init: no weights folder', r.uaMemoryBytes == null ? r.uaMemoryNote : ''].filter(Boolean).join('; ') || undefined,
              weightsLoaded: r.weightsLoaded, weightsSource: r.weightsSource, loadMs: r.loadMs, warmupMs: r.warmupMs, warmupB8Ms: r.warmupB8Ms,
              forward1: r.forward1, forward8: r.forward8, gflops8: r.gflops8, ddim: r.ddim, peakTensorBytes: r.peakTensorBytes, gpuBytes: r.gpuBytes,
              uaMemoryBytes: r.uaMemoryBytes,
            });
          }
        } catch (e) {
          const msg = (e as Error).message.split('\n')[0];
          notRun(/timeout|timed out/i.test(msg) ? 'timeout' : 'error', `${msg}${last ? ` (last progress: ${last})` : ''}`);
        } finally {
          await ctx.close();
        }
        const fr = c.trainOnly ? null : records[records.length - 1];
        const tr = c.train ? trainRecords[trainRecords.length - 1] : null;
        const trText = tr && (tr.status === 'ok' || tr.status === 'timeout') && tr.stepMs
          ? `training ${tr.imagesPerS!.toFixed(2)} images/s (${(tr.stepMs.median / 1000).toFixed(2)} s/step, first ${(tr.firstStepMs! / 1000).toFixed(1)} s${tr.status === 'timeout' ? `, ${tr.stepsDone}/${tr.stepsPlanned} steps` : ''})`
          : tr ? `training ${tr.status}` : '';
        o.log(`    ${[fr?.status, trText].filter(Boolean).join(', ')} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      }
    } finally {
      await browser.close();
    }
  } finally {
    for (const s of servers) s.kill();
  }
  return { records, trainRecords, chromium: version, notes };
}

function empty(base: { variant: string; width: number }, status: BrowserRecord['status'], note: string): BrowserRecord {
  return {
    ...base, backend: '—', threads: null, crossOriginIsolated: false, status, note, weightsLoaded: false, weightsSource: '',
    loadMs: null, warmupMs: null, warmupB8Ms: null, forward1: null, forward8: null, gflops8: null, ddim: null,
    peakTensorBytes: null, gpuBytes: null, uaMemoryBytes: null,
  };
}

function emptyTrain(base: { variant: string; width: number }, batch: number, steps: number, capS: number, status: BrowserTrainRecord['status'], note: string): BrowserTrainRecord {
  return {
    ...base, backend: '—', threads: null, batch, status, note, firstStepMs: null, stepMs: null, imagesPerS: null,
    stepsDone: 0, stepsPlanned: steps, capSeconds: capS, peakBytes: null, leakedTensors: null,
  };
}
