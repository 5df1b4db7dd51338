/**
 * `diffusion bench` (npm run bench): how fast the U-Net runs here, on tfjs wasm and cpu in Node,
 * next to PyTorch on the same CPU, and on WebGPU / WebGL / wasm in headless Chromium.
 * A benchmark, not a test: nothing asserts, CI does not run it.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from '../command.ts';
import { parse, num } from '../args.ts';
import { UserError } from '../command.ts';
import { forwardFlops } from '../../core/flops.ts';
import { machineInfo } from '../bench/machine.ts';
import { renderText } from '../bench/report.ts';
import { runBrowser, caseKind, type BrowserCase } from '../bench/browser.ts';
import { RESULT_PREFIX, OP_PATH, type BenchResults, type NodeRecord, type KernelProfileRow, type KernelProfile } from '../bench/types.ts';
import type { CaseSpec, ChildSpec } from '../bench/node-child.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const USAGE = `Usage: diffusion bench [--quick] [--parts node,torch,browser] [--out FILE] [--repeats N] [--no-build]

Times SimpleUNet (width 1 and 0.25): forward images/s at batch 1, 8, 16, 64 and training images/s
(a real Trainer.trainStep) at batch 32 and 128, on tfjs wasm (1 thread, and 2 threads through the
CLI's threads path) and cpu, and PyTorch (bench/torch_bench.py) with the same batches and threads,
in wall time and in process CPU time; the cases the fused GroupNorm kernels target run also
"before" (the op path: this project's wasm kernels off, e.g. GroupNorm and AdamW as tfjs ops),
with kernel profiles of both;
then, in headless Chromium (/usr/bin/chromium), the /bench/ page on WebGPU, WebGL and wasm with
and without threads: weight load, first forward, ms per forward, 8 images with DDIM-50; and
training in the browser (Trainer.trainStep, one AdamW step) on wasm at widths 0.125–1 and WebGPU
at 0.125 and 0.25: first step, ms per step, images/s, peak tensor memory.
Prints a table and writes JSON (default bench/results.json; with --quick
bench/results-local/quick.json). The docs page docs/benchmarks shows bench/results.json.

  --quick           a ~2-minute subset (small width, few repeats); skips the browser part
                    unless the site is already built
  --parts LIST      which parts to run (default node,torch,browser)
  --out FILE        where to write the JSON
  --repeats N       scale every case's timed runs by N/default (e.g. 2 = twice as many)
  --budget MIN      time budget in minutes (default 20; 2 with --quick): node ≈ 40%, PyTorch
                    ≈ 25%, browser the rest; cases past their part's share are skipped, and say so
  --max-call S      skip a case whose single call is projected (from a smaller batch) to take
                    longer than S seconds (default 150; 30 with --quick)
  --no-build        do not build the site when dist/bench/ is missing (skips the browser part)
  --dist DIR        the built site to serve (default dist/)
  --variants LIST   browser cases to run (default: all). An item is [forward:|train:]VARIANT[@WIDTH]
                    or just 'forward' / 'train' (every case of that kind); without a prefix
                    both kinds match. E.g. webgpu,wasm-threads@0.25 or train:wasm-threads,train:webgpu@0.125
  --python PATH     python with torch (default /usr/bin/python3)
  --chromium PATH   browser (default /usr/bin/chromium, or CHROMIUM_PATH)

Run it on a quiet machine: other processes skew every number.`;

type Part = 'node' | 'torch' | 'browser';

/** A browser case that only measures training (no weights, forwards or DDIM). */
const trainCase = (variant: BrowserCase['variant'], width: number, train: NonNullable<BrowserCase['train']>): BrowserCase => ({
  variant, width, repeats1: 0, repeats8: 0, ddim: false, capS: 0, train, trainOnly: true,
});

/** --variants: items [forward:|train:]VARIANT[@WIDTH], or 'forward' / 'train' alone. */
export function matchVariants(list: string, c: BrowserCase): boolean {
  return list.split(',').map((x) => x.trim()).filter(Boolean).some((item) => {
    const m = /^(?:(forward|train)(?::|$))?(.*)$/.exec(item)!;
    const kind = m[1];
    if (kind && kind !== caseKind(c)) return false;
    const rest = m[2];
    if (!rest) return true;
    const [variant, width] = rest.split('@');
    return variant === c.variant && (width === undefined || Number(width) === c.width);
  });
}

const c = (kind: CaseSpec['kind'], width: number, batch: number, warmup: number, repeats: number, budgetS: number): CaseSpec => ({ kind, width, batch, warmup, repeats, budgetS });

/** The cases the fused kernels were made for, also run "before" (the op path, OP_PATH), on 1 thread. */
const BEFORE_AFTER = new Set(['forward|0.25|8', 'forward|0.25|16', 'train|0.25|32', 'forward|1|8']);
const withOpPath = (cases: CaseSpec[]): CaseSpec[] =>
  cases.flatMap((x) => (BEFORE_AFTER.has(`${x.kind}|${x.width}|${x.batch}`) ? [{ ...x, fused: false }, x] : [x]));
/** Kernel profiles of the small model, before and after the fused kernels. */
const SMALL_PROFILES: NonNullable<ChildSpec['profiles']> = [
  { kind: 'forward', width: 0.25, batch: 8, fused: false }, { kind: 'forward', width: 0.25, batch: 8, fused: true },
  { kind: 'train', width: 0.25, batch: 32, fused: false }, { kind: 'train', width: 0.25, batch: 32, fused: true },
];

/** Cases per configuration. Budgets cap each case's timed runs (never fewer than one). */
function plan(quick: boolean) {
  if (quick) {
    const base = [c('forward', 0.25, 1, 1, 5, 3), c('forward', 0.25, 8, 1, 3, 4), c('forward', 0.25, 16, 1, 3, 4), c('train', 0.25, 32, 1, 1, 5), c('forward', 1, 8, 1, 1, 5)];
    return {
      wasm1: withOpPath(base), wasm2: [] as CaseSpec[], cpu: [c('forward', 0.25, 1, 1, 2, 5)], torch1: base, torchN: [] as CaseSpec[],
      profile: { width: 1, batch: 8 }, profiles: SMALL_PROFILES,
      // WebGPU/WebGL on an emulated GPU need minutes of shader compilation: not in --quick.
      browser: [
        { variant: 'wasm-threads', width: 0.25, repeats1: 3, repeats8: 2, ddim: true, capS: 20 },
        trainCase('wasm-threads', 0.125, { batch: 8, steps: 3, capS: 8 }),
      ] as BrowserCase[],
    };
  }
  const all = [
    c('forward', 0.25, 1, 2, 10, 8), c('forward', 0.25, 8, 2, 7, 10), c('forward', 0.25, 16, 2, 5, 10), c('forward', 0.25, 64, 1, 4, 15),
    c('train', 0.25, 32, 1, 4, 15), c('train', 0.25, 128, 1, 2, 20),
    c('forward', 1, 1, 1, 5, 10), c('forward', 1, 8, 1, 3, 15), c('forward', 1, 64, 1, 2, 30),
    // Full width: fewer timed steps; batch 128's warm-up is the batch-32 case just before it.
    c('train', 1, 32, 1, 2, 40), c('train', 1, 128, 0, 1, 1),
  ];
  // 2 threads: everything at width 0.25, and the full-width forwards at batch 1 and 8.
  const threaded = all.filter((x) => !(x.width === 1 && x.batch >= 32));
  // wasm first (what most readers get), then the GPU backends, which on an emulated GPU
  // (SwiftShader: headless, no GPU) compile shaders for a minute and run a small batch-8 forward
  // in tens of seconds: few repeats, long limits, full width only when the small model's batch-8
  // forward took under 2 s (a real GPU).
  const browser: BrowserCase[] = [];
  for (const width of [0.25, 1]) {
    const r = width < 1 ? { repeats1: 5, repeats8: 3 } : { repeats1: 3, repeats8: 2 };
    for (const variant of ['wasm-threads', 'wasm-threads-uncapped', 'wasm-nothreads'] as const) browser.push({ variant, width, ...r, ddim: true, capS: 60 });
  }
  // Training (one Trainer.trainStep = one AdamW step) on the site as shipped, batch 8; full width
  // only when the half-width step took under 12 s (≈ 4× the work).
  browser.push(
    trainCase('wasm-threads', 0.125, { batch: 8, steps: 8, capS: 10 }),
    trainCase('wasm-threads', 0.25, { batch: 8, steps: 6, capS: 15 }),
    trainCase('wasm-threads', 0.5, { batch: 8, steps: 4, capS: 20 }),
    { ...trainCase('wasm-threads', 1, { batch: 8, steps: 2, capS: 30 }), skipIfPrevStepOverMs: 12_000, limitS: 240 },
  );
  for (const width of [0.25, 1]) {
    const gpu = { repeats1: 2, repeats8: 1, limitS: 420, skipIfPrevFwd8OverMs: width < 1 ? undefined : 2000, ddim: true, capS: 60 };
    for (const variant of ['webgpu', 'webgl'] as const) browser.push({ variant, width, ...gpu });
    // WebGPU training, batch 4, 2 steps after the first, before the full-width GPU forwards (usually
    // skipped on an emulated GPU). SwiftShader: first step ≈ 40–60 s, then ≈ 10–25 s per step.
    if (width < 1) {
      browser.push(
        { ...trainCase('webgpu', 0.125, { batch: 4, steps: 2, capS: 45 }), limitS: 240 },
        { ...trainCase('webgpu', 0.25, { batch: 4, steps: 2, capS: 60 }), limitS: 300 },
      );
    }
  }
  return {
    wasm1: withOpPath(all), wasm2: threaded,
    cpu: [c('forward', 0.25, 1, 1, 3, 15), c('forward', 0.25, 8, 1, 2, 20), c('forward', 1, 1, 0, 1, 1)],
    torch1: all, torchN: threaded, profile: { width: 1, batch: 8 }, profiles: SMALL_PROFILES, browser,
  };
}

interface ChildOutput {
  records: NodeRecord[];
  other: { kind: string; data: unknown }[];
}

function runChild(cmd: string, args: string[], log: (s: string) => void, timeoutS: number): Promise<ChildOutput> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: ChildOutput = { records: [], other: [] };
    let buf = '';
    let err = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutS * 1000);
    p.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!line.startsWith(RESULT_PREFIX)) continue;
        const msg = JSON.parse(line.slice(RESULT_PREFIX.length)) as { kind: string; data: unknown };
        if (msg.kind === 'record') {
          const r = msg.data as NodeRecord;
          out.records.push(r);
          log(`    ${r.runtime} ${r.threads}t ${r.kind} w${r.width} b${r.batch}: ${r.status === 'ok' ? `${r.imagesPerS!.median.toFixed(2)} images/s` : r.note?.startsWith(r.status) ? r.note : `${r.status}${r.note ? `: ${r.note}` : ''}`}`);
        } else out.other.push(msg);
      }
    });
    p.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    p.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) log(`    (exited with ${code}${err ? `: ${err.trim().split('\n').slice(-3).join(' | ')}` : ''})`);
      resolve(out);
    });
  });
}

function scale(cases: CaseSpec[], f: number): CaseSpec[] {
  return cases.map((x) => ({ ...x, repeats: Math.max(1, Math.round(x.repeats * f)), budgetS: x.budgetS * f }));
}

export const benchCommand: Command = {
  name: 'bench',
  summary: 'Benchmark: tfjs (Node wasm/cpu, browser WebGPU/WebGL/wasm) vs PyTorch on this machine',
  usage: USAGE,
  async run(argv) {
    const { values } = parse(argv, {
      quick: { type: 'boolean' }, parts: { type: 'string' }, out: { type: 'string' }, repeats: { type: 'string' },
      'no-build': { type: 'boolean' }, python: { type: 'string' }, chromium: { type: 'string' }, dist: { type: 'string' },
      variants: { type: 'string' }, 'max-call': { type: 'string' }, budget: { type: 'string' },
    }, USAGE);
    const started = Date.now();
    const quick = Boolean(values.quick);
    const parts = new Set((values.parts ?? 'node,torch,browser').split(',').map((s) => s.trim()) as Part[]);
    for (const p of parts) if (!['node', 'torch', 'browser'].includes(p)) throw new UserError(`--parts: unknown part '${p}'`);
    const maxCallS = values['max-call'] ? num(values['max-call'], 'max-call', { min: 1 }) : quick ? 30 : 150;
    // Time budget: each part gets a deadline (a cumulative share of it); cases that would start
    // after their deadline, or are projected to overrun it, are skipped and say so.
    const budgetMin = values.budget ? num(values.budget, 'budget', { min: 0.5 }) : quick ? 2 : 20;
    const at = (share: number) => started + share * budgetMin * 60_000;
    const factor = values.repeats ? num(values.repeats, 'repeats', { min: 0.1, max: 20 }) : 1;
    const outFile = path.resolve(values.out ?? path.join(ROOT, 'bench', quick ? 'results-local/quick.json' : 'results.json'));
    const python = values.python ?? '/usr/bin/python3';
    const chromiumPath = values.chromium ?? process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
    const p = plan(quick);
    const log = (s: string) => process.stderr.write(`${s}\n`);
    const machine = machineInfo();
    const notes: string[] = [];
    const node: NodeRecord[] = [];
    let profile: BenchResults['profile'] = null;
    const profiles: KernelProfile[] = [];
    const flopsPerImage = { '1': forwardFlops({ width: 1 }), '0.25': forwardFlops({ width: 0.25 }) };
    if (machine.load[0] > machine.cores * 0.5) notes.push(`machine was busy when the run started (load ${machine.load[0]} on ${machine.cores} cores): numbers are noisy`);
    log(`bench${quick ? ' --quick' : ''}: ${machine.cpuModel}, ${machine.cores} cores, load ${machine.load[0]}`);

    if (parts.has('node')) {
      const child = (spec: ChildSpec, what: string, timeoutS: number) => {
        log(`  Node ${what} ...`);
        return runChild(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'bench', 'node-child.ts'), JSON.stringify(spec)], log, timeoutS);
      };
      const w1 = await child({ backend: 'wasm', threads: null, cases: scale(p.wasm1, factor), maxCallS, deadline: at(0.3), profile: p.profile, profiles: p.profiles }, 'tfjs wasm, 1 thread', 1500);
      node.push(...w1.records);
      const prof = w1.other.find((o) => o.kind === 'profile');
      if (prof) profile = prof.data as { width: number; batch: number; totalMs: number; rows: KernelProfileRow[] };
      profiles.push(...w1.other.filter((o) => o.kind === 'kernel-profile').map((o) => o.data as KernelProfile));
      notes.push(`Rows marked "op path" run the path before this project's wasm kernels (src/core/fused/, src/core/wasm-kernels.ts): ${OP_PATH}; the others run as shipped.`);
      if (p.wasm2.length && machine.cores >= 2) {
        const w2 = await child({ backend: 'wasm', threads: 2, cases: scale(p.wasm2, factor), maxCallS, deadline: at(0.38) }, 'tfjs wasm, 2 threads (workaround)', 1200);
        node.push(...w2.records);
        const b = w2.other.find((o) => o.kind === 'backend')?.data as { threads: number } | undefined;
        if (b && b.threads < 2) notes.push(`the Node wasm threads workaround did not start 2 threads (got ${b.threads})`);
      }
      const cpu = await child({ backend: 'cpu', threads: null, cases: scale(p.cpu, factor), maxCallS, deadline: at(0.42) }, 'tfjs cpu (plain JS)', 900);
      node.push(...cpu.records);
      notes.push('tfjs cpu (plain JavaScript kernels) runs only small cases and one full-width batch-1 forward: it is ~10–30× slower than wasm, so training and large batches would take minutes each.');
      notes.push('Node wasm threads: tfjs 4.22 disables wasm threads in Node (WASM_HAS_MULTITHREAD_SUPPORT is false there) and caps the thread pool at cores/2; the 2-thread rows use the CLI\'s threads path (src/cli/wasm-threads.ts), which lifts both.');
    }

    if (parts.has('torch')) {
      const hasTorch = await new Promise<boolean>((res) => spawn(python, ['-c', 'import torch'], { stdio: 'ignore' }).on('close', (code) => res(code === 0)).on('error', () => res(false)));
      if (!hasTorch) {
        notes.push(`PyTorch part skipped: ${python} cannot import torch`);
      } else {
        const torchRun = async (threads: number, cases: CaseSpec[], deadline: number) => {
          log(`  PyTorch, ${threads} thread${threads > 1 ? 's' : ''} ...`);
          const r = await runChild(python, [path.join(ROOT, 'bench', 'torch_bench.py'), JSON.stringify({ threads, cases: scale(cases, factor), flopsPerImage, maxCallS, deadline })], log, 1500);
          const info = r.other.find((o) => o.kind === 'torch')?.data as { version: string; defaultThreads: number; mkldnn: boolean } | undefined;
          if (info) machine.torch = { version: info.version, defaultThreads: info.defaultThreads, mkldnn: info.mkldnn };
          node.push(...r.records);
        };
        await torchRun(1, p.torch1, at(0.56));
        if (p.torchN.length && machine.cores >= 2) await torchRun(2, p.torchN, at(0.64));
      }
    }

    let browser: BenchResults['browser'] = [];
    let browserTrain: NonNullable<BenchResults['browserTrain']> = [];
    if (parts.has('browser')) {
      const dist = path.resolve(values.dist ?? path.join(ROOT, 'dist'));
      if (values.variants) {
        const list = values.variants;
        p.browser = p.browser.filter((b) => matchVariants(list, b));
        if (!p.browser.length) throw new UserError(`--variants ${list}: no browser case matches (see --help)`);
      }
      if (!values.dist && !fs.existsSync(path.join(dist, 'bench', 'index.html')) && !quick && !values['no-build']) {
        log('  building the site (npm run build) for the browser part ...');
        await new Promise<void>((res) => spawn('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] }).on('close', () => res()));
      }
      const page = path.join(dist, 'bench', 'index.html');
      if (fs.existsSync(page)) {
        const built = fs.statSync(page).mtimeMs;
        const newer = ['src/workers/bench.worker.ts', 'src/workers/services/backend.ts', 'src/core/model.ts', 'src/core/wasm-kernels.ts', 'src/core/trainer.ts']
          .filter((f) => fs.existsSync(path.join(ROOT, f)) && fs.statSync(path.join(ROOT, f)).mtimeMs > built);
        if (newer.length) notes.push(`the built site (${path.relative(ROOT, dist)}/) is older than ${newer.join(', ')}: the browser part measured the last build; run npm run build first to measure the current code`);
      }
      log('  browser (headless Chromium) ...');
      const cases = p.browser.map((b) => ({
        ...b, repeats1: Math.max(1, Math.round(b.repeats1 * factor)), repeats8: Math.max(1, Math.round(b.repeats8 * factor)),
        train: b.train && { ...b.train, steps: Math.max(1, Math.round(b.train.steps * factor)), capS: b.train.capS * factor },
      }));
      const b = await runBrowser({ root: ROOT, dist, chromium: chromiumPath, cases, log, deadline: at(1) });
      browser = b.records;
      browserTrain = b.trainRecords;
      machine.chromium = b.chromium;
      notes.push(...b.notes);
      if (browserTrain.length) {
        notes.push('Browser training: the real Trainer.trainStep (noising, forward, backward, gradient clipping, AdamW, EMA; loss read back, then the smallest EMA tensor, so the update has finished) on a fresh model of that width (random init) and 256 synthetic 32×32 images, in its own fresh page and worker. The first step (kernel set-up, shader compilation, weight upload) is timed separately.');
      }
      if (browser.length) {
        notes.push('Browser: each case runs in a fresh page and worker, with the site\'s own backend code (src/workers/services/backend.ts). WebGPU and WebGL in headless Chromium run on SwiftShader, a CPU emulation of a GPU.');
        notes.push('wasm-threads is the site as shipped (cross-origin isolated); wasm-threads-uncapped reports twice the cores to the wasm runtime, lifting tfjs\' cores/2 cap on 2-core machines; wasm-nothreads is the same site served without COOP/COEP.');
      }
    }

    // A run without the browser part keeps the browser results already in the file, dated.
    let browserFrom: string | undefined;
    if (!parts.has('browser') && fs.existsSync(outFile)) {
      try {
        const old = JSON.parse(fs.readFileSync(outFile, 'utf8')) as BenchResults;
        if (old.browser?.length || old.browserTrain?.length) {
          browser = old.browser ?? [];
          browserTrain = old.browserTrain ?? [];
          browserFrom = old.browserFrom ?? old.date;
          machine.chromium = old.machine?.chromium ?? null;
          notes.push(`The browser part was not re-run: its results are those of the run of ${browserFrom.slice(0, 10)}.`);
        }
      } catch {
        // an unreadable file is simply replaced
      }
    }

    const results: BenchResults = {
      version: 1, date: new Date().toISOString(), quick, command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
      wallSeconds: (Date.now() - started) / 1000, machine, flopsPerImage, node, browser, browserTrain, profile, notes,
      ...(profiles.length ? { profiles } : {}), ...(browserFrom ? { browserFrom } : {}),
      ...(profiles.length || node.some((x) => x.groupNorm) ? { opPath: OP_PATH } : {}),
    };
    fs.mkdirSync(path.dirname(outFile), { recursive: true });
    fs.writeFileSync(outFile, `${JSON.stringify(results, null, 1)}\n`);
    console.log(renderText(results));
    console.log(`\nwrote ${path.relative(process.cwd(), outFile)} (${results.wallSeconds.toFixed(0)} s)`);
    return 0;
  },
};
