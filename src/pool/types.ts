/**
 * Shared types for the worker pool (main thread and worker side).
 *
 * A contract module (no worker code) declares the task map's type; the worker
 * implements it with `exposeTasks({...})` and the page imports the contract, so
 * no worker code leaks into the page bundle and the page gets a fully typed pool:
 *
 *   // model.contract.ts
 *   export type ModelTasks = { generate(a: { seed: number }, ctx: TaskContext<number>): Promise<Image> };
 *
 *   // model.worker.ts
 *   const tasks: ModelTasks = { async generate(a, ctx) { ... } };
 *   exposeTasks(tasks);
 *
 *   // page
 *   import type { ModelTasks } from './model.contract.ts';
 *   const pool: PoolOf<ModelTasks> = createPool<ModelTasks>({ create: ... });
 *   const img = await pool.run('generate', { seed: 1 }, { onProgress: (step) => ... });
 */
import type { Endpoint } from 'comlink';

export type { Endpoint };

/** What a task sees inside the worker. `P` is the type of its progress values. */
export interface TaskContext<P = unknown> {
  /** Pool-assigned id of this task (unique per pool). */
  readonly taskId: number;
  /** Aborted when the page cancels the task (AbortSignal, timeout, superseded lane, dispose). */
  readonly signal: AbortSignal;
  /**
   * Throws the abort reason (an `AbortError`/`TimeoutError`) if the task was cancelled.
   * Call it between steps of long loops. When the page is cross-origin isolated (or in
   * Node) it also sees cancellation during a synchronous loop, through a shared flag;
   * otherwise the abort message is only delivered when the loop yields (`await`).
   */
  throwIfAborted(): void;
  /** Yields to the event loop (so a pending abort message is delivered), then `throwIfAborted()`. */
  checkpoint(): Promise<void>;
  /** Streams a progress value to the caller's `onProgress` (fire and forget). */
  progress(value: P): void;
  /**
   * Reports an unrecoverable worker state (e.g. "GPU device lost"): the pool fails this task
   * with a `WorkerCrashedError` carrying `reason`, terminates the worker and starts a fresh one.
   */
  fatal(reason: string): never;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TaskFn<A = any, R = any, P = any> = (args: A, ctx: TaskContext<P>) => R | Promise<R>;

/** The shape of the object given to `exposeTasks`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TaskMap = Record<string, TaskFn<any, any, any>>;

export type TaskName<T extends TaskMap> = keyof T & string;
export type TaskArgs<T extends TaskMap, K extends TaskName<T>> = Parameters<T[K]>[0];
export type TaskResult<T extends TaskMap, K extends TaskName<T>> = Awaited<ReturnType<T[K]>>;
export type TaskProgress<T extends TaskMap, K extends TaskName<T>> =
  Parameters<T[K]>[1] extends TaskContext<infer P> ? P : unknown;

export interface RunOptions<P = unknown> {
  /** Cancels the task: removed from the queue, or signalled inside the worker if running. */
  signal?: AbortSignal;
  /** Time limit counted from the task's start (not from enqueue). Overrides `defaultTimeoutMs`. */
  timeoutMs?: number;
  /** Receives every `ctx.progress(value)` the task sends while it is still pending. */
  onProgress?: (value: P) => void;
  /** "Latest wins" key: a new task in the same lane cancels the queued/running older one. */
  lane?: string;
  /** Higher runs first; FIFO among equal priorities. Default 0. */
  priority?: number;
}

/** `run(method, args?, opts?)`: `args` may be omitted when the task takes none. */
export type RunRest<T extends TaskMap, K extends TaskName<T>> =
  undefined extends TaskArgs<T, K>
    ? [args?: TaskArgs<T, K>, opts?: RunOptions<TaskProgress<T, K>>]
    : [args: TaskArgs<T, K>, opts?: RunOptions<TaskProgress<T, K>>];

export interface PoolStats {
  /** Configured number of workers. */
  size: number;
  /** Workers currently running (or stopping) a task. */
  busy: number;
  /** Tasks waiting in the queue. */
  queued: number;
  completed: number;
  /** Rejected by the task itself, a timeout, or a worker crash. */
  failed: number;
  /** Cancelled through a signal, a lane, or dispose. */
  cancelled: number;
  /** Workers replaced after a crash, a fatal report, or a task that would not stop. */
  restarts: number;
  /** Mean run time (start to finish) of completed tasks, ms; 0 when none. */
  avgTaskMs: number;
}

export interface RestartInfo {
  /** Index of the worker slot in the pool (0..size-1). */
  worker: number;
  reason: string;
  /** Total restarts of this pool so far (including this one). */
  restarts: number;
}

export interface Pool<T extends TaskMap> {
  readonly name: string;
  run<K extends TaskName<T>>(method: K, ...rest: RunRest<T, K>): Promise<TaskResult<T, K>>;
  /** Starts all workers now (instead of on first `run`) and waits for their handshake. */
  ready(): Promise<void>;
  stats(): PoolStats;
  /** Rejects every pending task with a `PoolDisposedError` and terminates the workers. */
  dispose(): Promise<void>;
}

/** The pool type for a worker's task map: `PoolOf<typeof tasks>`. */
export type PoolOf<T extends TaskMap> = Pool<T>;

/**
 * A started worker as the pool sees it: a Comlink endpoint, a way to kill it, and a way to
 * learn that it died. `fromWebWorker` (pool.ts) and `fromNodeWorker` (node.ts) build one;
 * `create` may also return a plain web `Worker`.
 */
export interface WorkerHandle {
  readonly endpoint: Endpoint;
  terminate(): void | Promise<unknown>;
  /** Calls `cb(reason)` when the worker errors or exits; returns an unsubscribe function. */
  onCrash(cb: (reason: string) => void): () => void;
}

/** Out-of-band messages the worker posts on its main endpoint (ignored by Comlink: no `id`). */
export type ControlMessage =
  /** `lock`: a Web Lock the worker holds for its whole life; the pool is granted it only once the worker is gone. */
  | { __workerPool: 'ready'; tasks: string[]; lock?: string }
  | { __workerPool: 'fatal'; reason: string }
  /** Liveness: the pool pings a busy worker's endpoint, the worker's message loop answers. */
  | { __workerPool: 'ping' }
  | { __workerPool: 'pong' };

/** Messages the pool posts on a task's private MessagePort. */
export interface AbortMessage {
  __workerPool: 'abort';
  name: string;
  message: string;
}

/** The API `exposeTasks` exposes through Comlink (internal). */
export interface WorkerApi {
  run(
    taskId: number,
    method: string,
    args: unknown,
    port: MessagePort,
    abortFlag: Int32Array | null,
    wantsProgress: boolean,
  ): Promise<unknown>;
}
