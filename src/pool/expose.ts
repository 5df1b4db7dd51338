/**
 * Worker side of the pool. In the worker module:
 *
 *   import { exposeTasks, transfer, type TaskContext } from '../pool/expose.ts';
 *   let model: Model | null = null;                       // long-lived state: stays loaded between tasks
 *   const tasks = {
 *     async generate(a: { steps: number }, ctx: TaskContext<number>) {
 *       model ??= await loadModel();
 *       for (let t = 0; t < a.steps; t++) {
 *         await ctx.checkpoint();                         // yields, then throws if cancelled
 *         step(model, t); ctx.progress(t / a.steps);
 *       }
 *       const px = output();                              // Float32Array
 *       return transfer({ px }, [px.buffer]);             // zero-copy back to the page
 *     },
 *   };
 *   const worker = exposeTasks(tasks);
 *   device.lost.then((i) => worker.fatal(`GPU device lost: ${i.message}`)); // out-of-task fatal
 *   export type ModelTasks = typeof tasks;
 */
import * as Comlink from 'comlink';
import type { AbortMessage, ControlMessage, Endpoint, TaskContext, TaskMap, WorkerApi } from './types.ts';

export { transfer } from 'comlink';
export type { TaskContext, TaskMap } from './types.ts';

/** Throw this (or any error whose `name` is 'FatalWorkerError') to make the pool restart the worker. */
export class FatalWorkerError extends Error {
  override name = 'FatalWorkerError';
}

export interface ExposeOptions {
  /** Where to listen; defaults to the worker global scope (`self`). Node: `parentEndpoint()` from node.ts. */
  endpoint?: Endpoint;
}

export interface ExposedWorker {
  /** Reports an unrecoverable state outside of any task (e.g. `device.lost`); the pool restarts this worker. */
  fatal(reason: string): void;
}

/** The part of the Web Locks API used here (navigator.locks). */
export interface LockManagerLike {
  request(name: string, callback: () => Promise<void>): Promise<unknown>;
}

const ABORT_CODES: Record<number, string> = { 1: 'AbortError', 2: 'TimeoutError' };

function namedError(name: string, message: string): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

export function exposeTasks<T extends TaskMap>(tasks: T, options: ExposeOptions = {}): ExposedWorker {
  const ep = options.endpoint ?? (globalThis as unknown as Endpoint);
  const postControl = (msg: ControlMessage) => ep.postMessage(msg);
  const postFatal = (reason: string) => postControl({ __workerPool: 'fatal', reason });

  const api: WorkerApi = {
    async run(taskId, method, args, port, abortFlag, wantsProgress) {
      const controller = new AbortController();
      const onPortMessage = (ev: MessageEvent) => {
        const d = ev.data as AbortMessage | undefined;
        if (d && d.__workerPool === 'abort' && !controller.signal.aborted) {
          controller.abort(namedError(d.name, d.message));
        }
      };
      port.addEventListener('message', onPortMessage as EventListener);
      port.start();
      const inFlight = new Set<Promise<unknown>>();
      const progressRemote = wantsProgress ? Comlink.wrap<(value: unknown) => void>(port) : null;

      const throwIfAborted = () => {
        if (!controller.signal.aborted && abortFlag) {
          const code = Atomics.load(abortFlag, 0);
          if (code !== 0) {
            const name = ABORT_CODES[code] ?? 'AbortError';
            controller.abort(namedError(name, `task "${method}" #${taskId} cancelled (${name})`));
          }
        }
        if (controller.signal.aborted) throw controller.signal.reason;
      };
      const ctx: TaskContext<unknown> = {
        taskId,
        signal: controller.signal,
        throwIfAborted,
        async checkpoint() {
          await new Promise<void>((r) => setTimeout(r, 0));
          throwIfAborted();
        },
        progress(value) {
          if (progressRemote && !controller.signal.aborted) {
            // Fire and forget for the task; tracked so the result is only sent once every
            // progress value has reached the page (they travel on a different port).
            const p: Promise<unknown> = (progressRemote(value) as Promise<unknown>).catch(() => {});
            inFlight.add(p);
            void p.finally(() => inFlight.delete(p));
          }
        },
        fatal(reason) {
          postFatal(reason);
          throw new FatalWorkerError(reason);
        },
      };

      try {
        const fn = Object.prototype.hasOwnProperty.call(tasks, method) ? tasks[method] : undefined;
        if (typeof fn !== 'function') {
          throw new Error(`unknown task "${method}"; this worker exposes: ${Object.keys(tasks).join(', ')}`);
        }
        // Return the task's own value (same identity) so `transfer(value, [...])` still applies.
        return await fn(args, ctx);
      } finally {
        if (inFlight.size > 0 && !controller.signal.aborted) await Promise.allSettled([...inFlight]);
        port.removeEventListener('message', onPortMessage as EventListener);
        if (progressRemote) {
          try {
            progressRemote[Comlink.releaseProxy]();
          } catch {
            /* already released */
          }
        }
        port.close();
      }
    },
  };

  Comlink.expose(api, ep);
  // Liveness: answer the pool's pings (a worker that closed itself or was killed cannot).
  ep.addEventListener('message', ((ev: MessageEvent) => {
    const d = ev.data as ControlMessage | undefined;
    if (d && typeof d === 'object' && d.__workerPool === 'ping') postControl({ __workerPool: 'pong' });
  }) as EventListener);
  // Handshake: the pool makes no call before this arrives (Comlink ignores messages without `id`).
  // In a browser the worker first takes a Web Lock it holds for its whole life: the page is granted
  // it the moment this worker is gone (self.close(), out of memory, stopped by the browser).
  const locks = options.endpoint ? undefined : (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
  const ready = (lock?: string) => postControl({ __workerPool: 'ready', tasks: Object.keys(tasks), ...(lock ? { lock } : {}) });
  if (locks) {
    const name = `worker-pool-alive-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
    let sent = false;
    locks
      .request(name, () => {
        sent = true;
        ready(name);
        return new Promise<void>(() => {});
      })
      .catch(() => {
        if (!sent) ready();
      });
  } else ready();
  return { fatal: postFatal };
}
