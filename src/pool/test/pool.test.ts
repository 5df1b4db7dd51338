// The real worker pool (src/workers) against real Node worker_threads via Comlink's node adapter.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { createPool, isAbortError, type PoolOptions, type RestartInfo } from '../pool.ts';
import { fromNodeWorker } from '../node.ts';
import { workerPool } from '../astro-integration.ts';
import type { PoolOf } from '../types.ts';
import type { TestTasks } from './test-worker.ts';

const fixture = (name: string) => new URL(`./${name}`, import.meta.url);
// Node 20 ignores `--import tsx` in a Worker's execArgv for the entry module (nodejs/node#47747,
// privatenumber/tsx#354): register tsx inside the thread, then import the TypeScript worker.
const TS_BOOTSTRAP = `import('tsx/esm/api')
  .then((api) => { api.register(); return import(require('node:worker_threads').workerData.__entry); })
  .catch((e) => setTimeout(() => { throw e; }));`;
const nodeWorker = (url: URL) => () =>
  fromNodeWorker(new Worker(TS_BOOTSTRAP, { eval: true, workerData: { __entry: url.href }, execArgv: [] }));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const pools: Array<PoolOf<TestTasks>> = [];
function makePool(opts: Partial<PoolOptions> = {}): PoolOf<TestTasks> {
  const pool = createPool<TestTasks>({
    create: nodeWorker(fixture('test-worker.ts')),
    name: 'test',
    cancelGraceMs: 300,
    ...opts,
  });
  pools.push(pool);
  return pool;
}
after(() => Promise.all(pools.map((p) => p.dispose())));

/** Resolves with the rejection (fails if the promise resolves). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  assert.fail('expected a rejection');
}

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail('condition not met in time');
    await sleep(5);
  }
}

describe('worker pool (shared, healthy worker)', () => {
  const pool = makePool({ maxQueue: 3 });

  test('runs tasks: results, transferables, task errors, typed API', async () => {
    await pool.ready();
    assert.deepEqual(await pool.run('echo', { a: [1, 2] }), { a: [1, 2] });
    const bytes = await pool.run('bytes', { n: 4 });
    assert.ok(bytes instanceof Float32Array);
    assert.deepEqual([...bytes], [1.5, 1.5, 1.5, 1.5]);
    const err = await rejection(pool.run('fail', { message: 'nope' }));
    assert.equal(err.message, 'nope');
    const unknown = await rejection(pool.run('nosuch' as 'echo', 1));
    assert.match(unknown.message, /unknown task "nosuch"/);
    const progress: number[] = [];
    assert.equal(await pool.run('slow', { steps: 3 }, { onProgress: (p) => progress.push(p) }), 'done 3');
    assert.deepEqual(progress, [1, 2, 3]);
  });

  test('FIFO order, priority first, bounded queue', async () => {
    const order: unknown[] = [];
    const blocker = pool.run('slow', { steps: 10 });
    const queued = [1, 2].map((v) => pool.run('echo', v).then((r) => order.push(r)));
    const urgent = pool.run('echo', 'urgent', { priority: 1 }).then((r) => order.push(r));
    assert.equal(pool.stats().queued, 3);
    const full = await rejection(pool.run('echo', 4));
    assert.equal(full.name, 'QueueFullError');
    assert.match(full.message, /queue full/);
    await Promise.all([blocker, urgent, ...queued]);
    assert.deepEqual(order, ['urgent', 1, 2]);
  });

  test('cancel a queued task: removed, never runs', async () => {
    const before = await pool.run('calls');
    const blocker = pool.run('slow', { steps: 5 });
    const ac = new AbortController();
    const queued = pool.run('echo', 'x', { signal: ac.signal });
    ac.abort();
    const err = await rejection(queued);
    assert.equal(err.name, 'AbortError');
    assert.ok(isAbortError(err));
    assert.equal(pool.stats().queued, 0);
    await blocker;
    assert.equal(await pool.run('calls'), before, "echo('x') never ran");
  });

  test('cancel a running task: the loop really stops, worker kept', async () => {
    const ac = new AbortController();
    let seen = 0;
    const t0 = Date.now();
    const p = pool.run('slow', { steps: 300 }, { signal: ac.signal, onProgress: () => seen++ });
    await waitFor(() => seen >= 3);
    ac.abort();
    const err = await rejection(p);
    assert.equal(err.name, 'AbortError');
    assert.ok(Date.now() - t0 < 1500);
    const seenAtAbort = seen;
    const s1 = await pool.run('loopState');
    await sleep(60);
    const s2 = await pool.run('loopState');
    assert.equal(s1.outcome, 'aborted:AbortError');
    assert.equal(s2.iterations, s1.iterations, 'the loop stopped inside the worker');
    assert.equal(seen, seenAtAbort, 'no progress after the rejection');
    assert.equal(pool.stats().restarts, 0);
  });

  test('latest wins: a new task in a lane supersedes queued and running ones', async () => {
    let started = false;
    const a = pool.run('slow', { steps: 300 }, { lane: 'slider', onProgress: () => (started = true) });
    await waitFor(() => started);
    const b = pool.run('slow', { steps: 300 }, { lane: 'slider' });
    const c = pool.run('slow', { steps: 2 }, { lane: 'slider' });
    const other = pool.run('echo', 'other lane', { lane: 'other' });
    const [ea, eb] = await Promise.all([rejection(a), rejection(b)]);
    assert.equal(ea.name, 'AbortError');
    assert.match(ea.message, /superseded in lane "slider"/);
    assert.equal(eb.name, 'AbortError');
    assert.equal(await c, 'done 2');
    assert.equal(await other, 'other lane');
    assert.equal(pool.stats().restarts, 0);
  });

  test('timeouts count from the start, not from enqueue; cooperative stop', async () => {
    const slowFirst = pool.run('slow', { steps: 25 }); // ~250+ ms
    const queued = pool.run('echo', 'in time', { timeoutMs: 150 });
    assert.equal(await slowFirst, 'done 25');
    assert.equal(await queued, 'in time');
    const t0 = Date.now();
    const err = await rejection(pool.run('slow', { steps: 300 }, { timeoutMs: 100 }));
    assert.equal(err.name, 'TimeoutError');
    assert.ok(Date.now() - t0 < 1000);
    assert.equal((await pool.run('loopState')).outcome, 'aborted:TimeoutError');
    assert.equal(pool.stats().restarts, 0);
  });

  test('a synchronous loop is stopped through the shared abort flag', async () => {
    const err = await rejection(pool.run('busy', { ms: 5000 }, { timeoutMs: 100 }));
    assert.equal(err.name, 'TimeoutError');
    const t0 = Date.now();
    assert.equal(await pool.run('echo', 'after busy'), 'after busy');
    assert.ok(Date.now() - t0 < 250, 'the worker stopped well before the grace period');
    assert.equal(pool.stats().restarts, 0);
  });

  test('stats', () => {
    const s = pool.stats();
    assert.equal(s.size, 1);
    assert.equal(s.busy, 0);
    assert.equal(s.queued, 0);
    assert.ok(s.completed >= 15);
    assert.equal(s.failed, 4); // fail, nosuch, 2 timeouts
    assert.equal(s.cancelled, 4); // queued abort, running abort, 2 superseded
    assert.equal(s.restarts, 0);
    assert.ok(s.avgTaskMs > 0);
  });
});

describe('worker pool (restarts and failures)', () => {
  test('a task ignoring cancellation: worker terminated after the grace period and restarted', async () => {
    const restarts: RestartInfo[] = [];
    const pool = makePool({ onRestart: (i) => restarts.push(i) });
    await pool.ready();
    const t0 = Date.now();
    const err = await rejection(pool.run('hang', { ms: 10_000 }, { timeoutMs: 100 }));
    assert.equal(err.name, 'TimeoutError');
    assert.ok(Date.now() - t0 < 1000, 'rejected at the timeout, not when the worker gave up');
    assert.equal(await pool.run('echo', 'fresh worker'), 'fresh worker');
    assert.ok(Date.now() - t0 < 5000);
    assert.equal(restarts.length, 1);
    assert.match(restarts[0]!.reason, /did not stop within 300 ms after TimeoutError/);
    assert.equal(pool.stats().restarts, 1);
  });

  test('crash (process.exit): clear error, restart, the queue continues on the new worker', async () => {
    const restarts: RestartInfo[] = [];
    const pool = makePool({ onRestart: (i) => restarts.push(i) });
    await pool.run('echo', 1);
    const crashed = pool.run('crash', { how: 'exit' });
    const next = pool.run('echo', 'after crash');
    const err = await rejection(crashed);
    assert.equal(err.name, 'WorkerCrashedError');
    assert.match(err.message, /crashed while running task "crash"/);
    assert.match((err as Error & { reason: string }).reason, /exited with code 3/);
    assert.equal(await next, 'after crash');
    assert.equal(await pool.run('calls'), 1, 'the new worker starts with fresh state');
    assert.equal(restarts.length, 1);
    assert.deepEqual(
      { ...pool.stats(), avgTaskMs: 0 },
      { size: 1, busy: 0, queued: 0, completed: 3, failed: 1, cancelled: 0, restarts: 1, avgTaskMs: 0 },
    );
  });

  test('crash (uncaught exception) and fatal "GPU device lost" are reported and recovered', async () => {
    const pool = makePool();
    const e1 = await rejection(pool.run('crash', { how: 'throw' }));
    assert.equal(e1.name, 'WorkerCrashedError');
    assert.match(e1.message, /boom from a timer/);
    const e2 = await rejection(pool.run('gpuLost'));
    assert.equal(e2.name, 'WorkerCrashedError');
    assert.equal((e2 as Error & { reason: string }).reason, 'GPU device lost');
    assert.equal(await pool.run('echo', 'ok'), 'ok');
    assert.equal(pool.stats().restarts, 2);
  });

  test('liveness: a worker that stops answering mid-task settles its task with a clear error and is replaced', async () => {
    const restarts: RestartInfo[] = [];
    const pool = makePool({ livenessMs: 400, onRestart: (i) => restarts.push(i) });
    // a busy but answering worker is not mistaken for a dead one
    assert.equal(await pool.run('slow', { steps: 100 }), 'done 100');
    const t0 = Date.now();
    const err = await rejection(pool.run('goSilent'));
    assert.equal(err.name, 'WorkerCrashedError');
    assert.match(err.message, /crashed while running task "goSilent" #\d+: no answer from the worker for \d+ ms \(it closed itself, was stopped by the browser, or is stuck\)/);
    assert.ok(Date.now() - t0 < 20_000);
    assert.equal(restarts.length, 1);
    assert.equal(await pool.run('echo', 'alive again'), 'alive again');
  });

  test('a worker script that fails to load, or never says ready, rejects clearly', async () => {
    const broken = makePool({ create: nodeWorker(fixture('broken-worker.ts')) });
    const e1 = await rejection(broken.run('echo', 1));
    assert.equal(e1.name, 'WorkerStartError');
    assert.match(e1.message, /failed to start: .*broken worker script/);
    const silent = makePool({ create: nodeWorker(fixture('silent-worker.ts')), readyTimeoutMs: 400 });
    const e2 = await rejection(silent.run('echo', 1));
    assert.equal(e2.name, 'WorkerStartError');
    assert.match(e2.message, /no 'ready' handshake within 400 ms/);
    assert.equal(silent.stats().restarts, 0);
  });

  test('dispose rejects running and queued tasks and terminates the workers', async () => {
    const pool = makePool({ size: 2 });
    await pool.ready();
    const tasks = [1, 2, 3].map(() => rejection(pool.run('slow', { steps: 300 })));
    await sleep(30);
    assert.equal(pool.stats().busy, 2);
    assert.equal(pool.stats().queued, 1);
    await pool.dispose();
    for (const e of await Promise.all(tasks)) assert.equal(e.name, 'PoolDisposedError');
    assert.equal((await rejection(pool.run('echo', 1))).name, 'PoolDisposedError');
    assert.equal(pool.stats().cancelled, 3);
  });
});

test('astro integration sets module workers and optional COOP/COEP headers', () => {
  const configs: Array<Record<string, unknown>> = [];
  const setup = (opts?: { crossOriginIsolation?: boolean }) =>
    (workerPool(opts).hooks['astro:config:setup'] as (p: unknown) => void)({
      updateConfig: (c: Record<string, unknown>) => configs.push(c),
    });
  setup();
  setup({ crossOriginIsolation: true });
  assert.deepEqual(configs[0], { vite: { worker: { format: 'es' } } });
  const coi = configs[1] as { server: { headers: Record<string, string> }; vite: { server: { headers: Record<string, string> } } };
  assert.equal(coi.server.headers['Cross-Origin-Embedder-Policy'], 'require-corp');
  assert.equal(coi.vite.server.headers['Cross-Origin-Opener-Policy'], 'same-origin');
});
