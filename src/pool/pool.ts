/**
 * A small worker pool over Comlink (framework-agnostic; see README.md).
 *
 * "GPU worker" pattern: workers are long-lived. A worker runs one task at a time and keeps
 * its module state between tasks (e.g. the loaded model and its GPU tensors), so load lazily
 * in the first task that needs it (`model ??= await load()`). A worker is only replaced when
 * it crashes, reports a fatal state (`ctx.fatal`, `FatalWorkerError`), or ignores a
 * cancellation for longer than `cancelGraceMs`; `onRestart` tells the page, and the new
 * worker starts with empty state.
 *
 * Comlink traps handled here:
 *  - calls before `expose`: the worker posts a 'ready' handshake (exposeTasks) and no call is
 *    made before it; a worker that fails to load, or never says ready within
 *    `readyTimeoutMs`, rejects with a `WorkerStartError`;
 *  - proxies collected mid-call: the pool keeps the `wrap()` proxy and each task's control
 *    port referenced until the worker is gone / the call settles;
 *  - pending calls on terminate: Comlink never settles them, so every task promise is owned
 *    and settled by the pool itself (late Comlink replies are ignored).
 */
import * as Comlink from 'comlink';
import type {
  AbortMessage,
  ControlMessage,
  Pool,
  PoolStats,
  RestartInfo,
  RunOptions,
  TaskMap,
  WorkerApi,
  WorkerHandle,
} from './types.ts';

export type * from './types.ts';

// ---------------------------------------------------------------------------------------------
// Errors (all carry a stable `name` the UI can switch on)

export class PoolError extends Error {
  constructor(name: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = name;
  }
}
/** Cancelled by a signal or superseded in a lane. Safe for the UI to ignore. */
export class AbortError extends PoolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('AbortError', message, options);
  }
}
export class TimeoutError extends PoolError {
  constructor(message: string) {
    super('TimeoutError', message);
  }
}
export class WorkerCrashedError extends PoolError {
  constructor(
    message: string,
    readonly reason: string,
  ) {
    super('WorkerCrashedError', message);
  }
}
export class WorkerStartError extends PoolError {
  constructor(
    message: string,
    readonly reason: string,
  ) {
    super('WorkerStartError', message);
  }
}
export class QueueFullError extends PoolError {
  constructor(message: string) {
    super('QueueFullError', message);
  }
}
export class PoolDisposedError extends PoolError {
  constructor(message: string) {
    super('PoolDisposedError', message);
  }
}

/** True for errors the UI can drop silently (a cancelled or superseded task). */
export function isAbortError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'AbortError';
}

// ---------------------------------------------------------------------------------------------
// Worker handles

/** Adapts a web `Worker` (`new Worker(url, { type: 'module' })`) to a `WorkerHandle`. */
export function fromWebWorker(worker: Worker): WorkerHandle {
  return {
    endpoint: worker,
    terminate: () => worker.terminate(),
    onCrash(cb) {
      const onError = (ev: Event) => {
        const e = ev as ErrorEvent;
        cb(
          e.message
            ? `${e.message}${e.filename ? ` (${e.filename}:${e.lineno})` : ''}`
            : 'error event from the worker (its script failed to load, or it threw at top level)',
        );
      };
      const onMessageError = () => cb('messageerror: a message from the worker could not be deserialized');
      worker.addEventListener('error', onError);
      worker.addEventListener('messageerror', onMessageError);
      return () => {
        worker.removeEventListener('error', onError);
        worker.removeEventListener('messageerror', onMessageError);
      };
    },
  };
}

function isWorkerHandle(x: unknown): x is WorkerHandle {
  return (
    typeof x === 'object' &&
    x !== null &&
    'endpoint' in x &&
    typeof (x as WorkerHandle).onCrash === 'function' &&
    typeof (x as WorkerHandle).terminate === 'function'
  );
}

// ---------------------------------------------------------------------------------------------

export interface PoolOptions {
  /** Starts one worker, e.g. `() => new Worker(new URL('./model.worker.ts', import.meta.url), { type: 'module' })`. */
  create: () => Worker | WorkerHandle;
  /** Number of workers (default 1). Workers start on demand, or all at once with `pool.ready()`. */
  size?: number;
  /** Most tasks waiting (not running); beyond it `run` rejects with a `QueueFullError`. Default unbounded. */
  maxQueue?: number;
  /** Default time limit per task, counted from its start. Default none. */
  defaultTimeoutMs?: number;
  /** Used in error messages. */
  name?: string;
  /** How long to wait for a new worker's 'ready' handshake (default 15000 ms). */
  readyTimeoutMs?: number;
  /** How long a cancelled/timed-out task may keep its worker before it is terminated and restarted (default 2000 ms). */
  cancelGraceMs?: number;
  /** Called when a worker was replaced (crash, fatal report, or a task that would not stop). */
  onRestart?: (info: RestartInfo) => void;
  /**
   * Liveness of a busy worker: it is pinged every `livenessMs / 4`, and one that has not been
   * heard from (any message) for `livenessMs` is treated as dead: its task fails with a
   * `WorkerCrashedError` and the worker is replaced. Catches a worker that closed itself or was
   * stopped without an `error` event (and one stuck in a loop that never yields). Default off; in
   * a browser with Web Locks a worker that is gone is detected at once whatever this is.
   */
  livenessMs?: number;
}

type Outcome = 'completed' | 'failed' | 'cancelled';

interface Task {
  id: number;
  method: string;
  args: unknown;
  opts: RunOptions<unknown>;
  priority: number;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  state: 'queued' | 'running' | 'done';
  startedAt: number;
  port: MessagePort | null;
  flag: Int32Array | null;
  timer: ReturnType<typeof setTimeout> | null;
  offSignal: (() => void) | null;
}

interface Slot {
  index: number;
  handle: WorkerHandle | null;
  remote: Comlink.Remote<WorkerApi> | null;
  state: 'starting' | 'idle' | 'busy' | 'dead';
  /** Running task, or a cancelled one the worker has not stopped yet. */
  task: Task | null;
  ranTask: boolean;
  readyTimer: ReturnType<typeof setTimeout> | null;
  graceTimer: ReturnType<typeof setTimeout> | null;
  livenessTimer: ReturnType<typeof setInterval> | null;
  /** When the oldest unanswered ping was sent (any message from the worker answers it), or null. */
  pingSentAt: number | null;
  cleanup: Array<() => void>;
  ready: Promise<void>;
  resolveReady: () => void;
  rejectReady: (e: unknown) => void;
}

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

function isFatal(e: unknown): e is Error {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'FatalWorkerError';
}

function sharedFlag(): Int32Array | null {
  if (typeof SharedArrayBuffer !== 'function') return null;
  if ((globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === false) return null;
  try {
    return new Int32Array(new SharedArrayBuffer(4));
  } catch {
    return null;
  }
}

function isControl(d: unknown): d is ControlMessage {
  return typeof d === 'object' && d !== null && '__workerPool' in d;
}

export function createPool<T extends TaskMap>(options: PoolOptions): Pool<T> {
  const name = options.name ?? 'pool';
  const size = Math.max(1, Math.floor(options.size ?? 1));
  const maxQueue = options.maxQueue ?? Infinity;
  const readyTimeoutMs = options.readyTimeoutMs ?? 15_000;
  const graceMs = options.cancelGraceMs ?? 2_000;
  const livenessMs = options.livenessMs !== undefined && Number.isFinite(options.livenessMs) && options.livenessMs > 0 ? options.livenessMs : 0;
  const label = `worker pool "${name}"`;

  const slots: Array<Slot | null> = new Array<Slot | null>(size).fill(null);
  const queue: Task[] = [];
  const lanes = new Map<string, Task>();
  const terminating = new Set<Promise<unknown>>();
  let nextId = 1;
  let disposed = false;
  let disposing: Promise<void> | null = null;
  const counts = { completed: 0, failed: 0, cancelled: 0, restarts: 0, totalMs: 0 };

  // --- task settlement ----------------------------------------------------------------------

  function settle(task: Task, outcome: Outcome, value: unknown): void {
    if (task.state === 'done') return;
    task.state = 'done';
    if (task.timer) clearTimeout(task.timer);
    task.timer = null;
    task.offSignal?.();
    task.offSignal = null;
    const lane = task.opts.lane;
    if (lane !== undefined && lanes.get(lane) === task) lanes.delete(lane);
    if (outcome === 'completed') {
      counts.completed++;
      counts.totalMs += now() - task.startedAt;
      task.resolve(value);
    } else {
      counts[outcome]++;
      task.reject(value);
    }
  }

  function closePort(task: Task): void {
    if (!task.port) return;
    try {
      task.port.close();
    } catch {
      /* ignore */
    }
    task.port = null;
  }

  /** Cancels a queued or running task (signal, lane, timeout). */
  function cancel(task: Task, error: Error, outcome: Outcome): void {
    if (task.state === 'done') return;
    if (task.state === 'queued') {
      const i = queue.indexOf(task);
      if (i >= 0) queue.splice(i, 1);
      settle(task, outcome, error);
      return;
    }
    // Running: signal the worker (message + shared flag), settle now, and give it a grace period.
    const slot = slots.find((s) => s?.task === task) ?? null;
    try {
      const msg: AbortMessage = { __workerPool: 'abort', name: error.name, message: error.message };
      task.port?.postMessage(msg);
    } catch {
      /* port already closed */
    }
    if (task.flag) Atomics.store(task.flag, 0, error.name === 'TimeoutError' ? 2 : 1);
    settle(task, outcome, error);
    if (slot && slot.state === 'busy' && !slot.graceTimer) {
      slot.graceTimer = setTimeout(() => {
        slot.graceTimer = null;
        if (slot.task === task && slot.state === 'busy') {
          crash(slot, `task "${task.method}" #${task.id} did not stop within ${graceMs} ms after ${error.name}`);
        }
      }, graceMs);
    }
  }

  // --- worker lifecycle ---------------------------------------------------------------------

  function kill(slot: Slot): void {
    slot.state = 'dead';
    if (slot.readyTimer) clearTimeout(slot.readyTimer);
    if (slot.graceTimer) clearTimeout(slot.graceTimer);
    if (slot.livenessTimer) clearInterval(slot.livenessTimer);
    slot.readyTimer = slot.graceTimer = slot.livenessTimer = null;
    for (const off of slot.cleanup.splice(0)) {
      try {
        off();
      } catch {
        /* ignore */
      }
    }
    if (slot.task) closePort(slot.task);
    if (slot.handle) {
      try {
        const p = slot.handle.terminate();
        if (p && typeof (p as Promise<unknown>).then === 'function') {
          const tracked = (p as Promise<unknown>).catch(() => {}).finally(() => terminating.delete(tracked));
          terminating.add(tracked);
        }
      } catch {
        /* ignore */
      }
    }
    // Drops Comlink's never-to-be-settled pending calls (their promises are owned by us anyway).
    try {
      slot.remote?.[Comlink.releaseProxy]();
    } catch {
      /* ignore */
    }
    if (slots[slot.index] === slot) slots[slot.index] = null;
  }

  function failStart(slot: Slot, reason: string): void {
    if (slot.state !== 'starting') return;
    kill(slot);
    const err = () => new WorkerStartError(`${label}: worker ${slot.index} failed to start: ${reason}`, reason);
    slot.rejectReady(err());
    // Nobody left to run the queue: fail it now rather than retrying a broken script forever.
    if (!slots.some((s) => s !== null && s.state !== 'dead')) {
      for (const t of queue.splice(0)) settle(t, 'failed', err());
    }
  }

  /** The worker died, reported a fatal state, or would not stop: fail its task and replace it. */
  function crash(slot: Slot, reason: string): void {
    if (slot.state === 'dead') return;
    if (slot.state === 'starting') return failStart(slot, reason);
    const task = slot.task;
    kill(slot);
    if (task && task.state !== 'done') {
      settle(
        task,
        'failed',
        new WorkerCrashedError(
          `${label}: worker ${slot.index} crashed while running task "${task.method}" #${task.id}: ${reason}`,
          reason,
        ),
      );
    }
    counts.restarts++;
    try {
      options.onRestart?.({ worker: slot.index, reason, restarts: counts.restarts });
    } catch (e) {
      console.error(`${label}: onRestart threw`, e);
    }
    // Keep the replacement warm, unless this worker died before ever running a task
    // (then start it on demand only, so a worker that dies on its own cannot loop).
    if (!disposed && slot.ranTask && slots[slot.index] === null) spawn(slot.index);
    pump();
  }

  /** Web Locks: the worker holds `lock` while it lives; being granted it means the worker is gone. */
  function watchLock(slot: Slot, lock: string): void {
    type Locks = { request(name: string, o: { signal: AbortSignal }, cb: () => void): Promise<unknown> };
    const locks = (globalThis as { navigator?: { locks?: Locks } }).navigator?.locks;
    if (!locks) return;
    const ac = new AbortController();
    slot.cleanup.push(() => ac.abort());
    locks
      .request(lock, { signal: ac.signal }, () => {
        if (slot.state !== 'dead') crash(slot, 'the worker is gone without an error event (it closed itself, ran out of memory, or the browser stopped it)');
      })
      .catch(() => {});
  }

  /** While `slot` runs `task`: ping it, and treat it as dead after `livenessMs` of silence. */
  function watchLiveness(slot: Slot, task: Task): void {
    if (!livenessMs) return;
    slot.pingSentAt = null;
    if (slot.livenessTimer) clearInterval(slot.livenessTimer);
    slot.livenessTimer = setInterval(() => {
      if (slot.state === 'dead' || slot.task !== task) {
        if (slot.livenessTimer) clearInterval(slot.livenessTimer);
        slot.livenessTimer = null;
        return;
      }
      // Dead only when a ping has gone unanswered for livenessMs (not merely when this timer was
      // throttled in a hidden tab and the worker had nothing to say).
      if (slot.pingSentAt !== null) {
        const silent = now() - slot.pingSentAt;
        if (silent > livenessMs) crash(slot, `no answer from the worker for ${Math.round(silent)} ms (it closed itself, was stopped by the browser, or is stuck)`);
        return;
      }
      slot.pingSentAt = now();
      try {
        slot.handle?.endpoint.postMessage({ __workerPool: 'ping' } satisfies ControlMessage);
      } catch {
        /* endpoint gone: the next tick reports it */
      }
    }, Math.max(10, livenessMs / 4));
  }

  function spawn(index: number): Slot {
    let resolveReady!: () => void;
    let rejectReady!: (e: unknown) => void;
    const ready = new Promise<void>((res, rej) => {
      resolveReady = res;
      rejectReady = rej;
    });
    ready.catch(() => {});
    const slot: Slot = {
      index,
      handle: null,
      remote: null,
      state: 'starting',
      task: null,
      ranTask: false,
      readyTimer: null,
      graceTimer: null,
      livenessTimer: null,
      pingSentAt: null,
      cleanup: [],
      ready,
      resolveReady,
      rejectReady,
    };
    slots[index] = slot;
    let handle: WorkerHandle;
    try {
      const w = options.create();
      handle = isWorkerHandle(w) ? w : fromWebWorker(w);
    } catch (e) {
      failStart(slot, `create() threw ${describe(e)}`);
      return slot;
    }
    slot.handle = handle;
    const onMessage = (ev: MessageEvent) => {
      slot.pingSentAt = null;
      const d: unknown = ev.data;
      if (!isControl(d)) return;
      if (d.__workerPool === 'ready' && slot.state === 'starting') {
        if (slot.readyTimer) clearTimeout(slot.readyTimer);
        slot.readyTimer = null;
        slot.state = 'idle';
        if (d.lock) watchLock(slot, d.lock);
        slot.resolveReady();
        pump();
      } else if (d.__workerPool === 'fatal') {
        crash(slot, d.reason);
      }
    };
    handle.endpoint.addEventListener('message', onMessage as EventListener);
    slot.cleanup.push(() => handle.endpoint.removeEventListener('message', onMessage as EventListener));
    slot.cleanup.push(handle.onCrash((reason) => crash(slot, reason)));
    slot.remote = Comlink.wrap<WorkerApi>(handle.endpoint);
    handle.endpoint.start?.();
    slot.readyTimer = setTimeout(
      () =>
        failStart(
          slot,
          `no 'ready' handshake within ${readyTimeoutMs} ms (did the script fail to load, or not call exposeTasks()?)`,
        ),
      readyTimeoutMs,
    );
    return slot;
  }

  // --- scheduling ---------------------------------------------------------------------------

  function pump(): void {
    if (disposed) return;
    if (queue.length > 0) {
      let available = slots.filter((s) => s !== null && (s.state === 'idle' || s.state === 'starting')).length;
      for (let i = 0; i < size && available < queue.length; i++) {
        if (slots[i] === null) {
          spawn(i);
          available++;
        }
      }
    }
    for (const slot of slots) {
      if (queue.length === 0) break;
      if (slot && slot.state === 'idle') start(slot, queue.shift()!);
    }
  }

  function start(slot: Slot, task: Task): void {
    task.state = 'running';
    task.startedAt = now();
    slot.state = 'busy';
    slot.task = task;
    slot.ranTask = true;

    const { port1, port2 } = new MessageChannel();
    task.port = port1;
    task.flag = sharedFlag();
    const onProgress = task.opts.onProgress;
    const wantsProgress = typeof onProgress === 'function';
    if (wantsProgress) {
      // The worker wraps port2 (a Comlink proxy of this callback) and releases it when done;
      // we close port1 ourselves when the call settles or the worker is killed.
      Comlink.expose((value: unknown) => {
        if (task.state !== 'running') return;
        try {
          onProgress(value);
        } catch (e) {
          console.error(`${label}: onProgress threw`, e);
        }
      }, port1);
    }

    watchLiveness(slot, task);
    const ms = task.opts.timeoutMs ?? options.defaultTimeoutMs;
    if (ms !== undefined && Number.isFinite(ms) && ms > 0) {
      task.timer = setTimeout(() => {
        task.timer = null;
        cancel(task, new TimeoutError(`${label}: task "${task.method}" #${task.id} timed out after ${ms} ms`), 'failed');
      }, ms);
    }

    let call: Promise<unknown>;
    try {
      call = slot.remote!.run(
        task.id,
        task.method,
        task.args,
        Comlink.transfer(port2, [port2]),
        task.flag,
        wantsProgress,
      ) as Promise<unknown>;
    } catch (e) {
      call = Promise.reject(e);
    }
    call.then(
      (v) => callSettled(slot, task, true, v),
      (e) => callSettled(slot, task, false, e),
    );
  }

  function callSettled(slot: Slot, task: Task, ok: boolean, value: unknown): void {
    if (slot.state === 'dead' || slot.task !== task) return; // already handled (killed/restarted)
    if (!ok && isFatal(value)) return crash(slot, value.message || 'FatalWorkerError');
    if (slot.graceTimer) clearTimeout(slot.graceTimer);
    slot.graceTimer = null;
    if (slot.livenessTimer) clearInterval(slot.livenessTimer);
    slot.livenessTimer = null;
    closePort(task);
    slot.task = null;
    slot.state = 'idle';
    settle(task, ok ? 'completed' : 'failed', value);
    pump();
  }

  // --- public API ---------------------------------------------------------------------------

  function run(method: string, args?: unknown, opts: RunOptions<unknown> = {}): Promise<unknown> {
    if (disposed) return Promise.reject(new PoolDisposedError(`${label} is disposed`));
    const signal = opts.signal;
    if (signal?.aborted) {
      return Promise.reject(new AbortError(`${label}: task "${method}" aborted before it was queued`, { cause: signal.reason }));
    }
    let resolve!: (v: unknown) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<unknown>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const task: Task = {
      id: nextId++,
      method,
      args,
      opts,
      priority: opts.priority ?? 0,
      resolve,
      reject,
      state: 'queued',
      startedAt: 0,
      port: null,
      flag: null,
      timer: null,
      offSignal: null,
    };

    if (opts.lane !== undefined) {
      const prev = lanes.get(opts.lane);
      if (prev) {
        cancel(prev, new AbortError(`${label}: task "${prev.method}" #${prev.id} superseded in lane "${opts.lane}"`), 'cancelled');
      }
    }
    if (queue.length >= maxQueue) {
      return Promise.reject(new QueueFullError(`${label}: queue full (maxQueue=${maxQueue}); task "${method}" rejected`));
    }
    if (opts.lane !== undefined) lanes.set(opts.lane, task);
    if (signal) {
      const onAbort = () =>
        cancel(task, new AbortError(`${label}: task "${method}" #${task.id} aborted`, { cause: signal.reason }), 'cancelled');
      signal.addEventListener('abort', onAbort, { once: true });
      task.offSignal = () => signal.removeEventListener('abort', onAbort);
    }
    let i = queue.length;
    while (i > 0 && queue[i - 1]!.priority < task.priority) i--;
    queue.splice(i, 0, task);
    pump();
    return promise;
  }

  return {
    name,
    run: run as Pool<T>['run'],
    async ready() {
      if (disposed) throw new PoolDisposedError(`${label} is disposed`);
      const waits: Array<Promise<void>> = [];
      for (let i = 0; i < size; i++) waits.push((slots[i] ?? spawn(i)).ready);
      await Promise.all(waits);
    },
    stats(): PoolStats {
      return {
        size,
        busy: slots.filter((s) => s?.state === 'busy').length,
        queued: queue.length,
        completed: counts.completed,
        failed: counts.failed,
        cancelled: counts.cancelled,
        restarts: counts.restarts,
        avgTaskMs: counts.completed ? counts.totalMs / counts.completed : 0,
      };
    },
    dispose() {
      if (disposing) return disposing;
      disposed = true;
      const err = () => new PoolDisposedError(`${label} was disposed before the task finished`);
      for (const t of queue.splice(0)) settle(t, 'cancelled', err());
      for (const slot of slots) {
        if (!slot) continue;
        if (slot.task) settle(slot.task, 'cancelled', err());
        slot.rejectReady(new PoolDisposedError(`${label} was disposed while a worker was starting`));
        kill(slot);
      }
      disposing = Promise.allSettled([...terminating]).then(() => undefined);
      return disposing;
    },
  };
}
