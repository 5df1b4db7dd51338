/**
 * Node `worker_threads` support (tests, CLI): adapts a Node Worker to the pool's
 * `WorkerHandle`, and gives the worker side its endpoint. Not imported by browser code.
 *
 *   // main
 *   createPool<Tasks>({ create: () => fromNodeWorker(new Worker(url, { execArgv: ['--import', 'tsx'] })) });
 *   // worker
 *   exposeTasks(tasks, { endpoint: parentEndpoint() });
 */
import { parentPort, type Worker as NodeWorker } from 'node:worker_threads';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { Endpoint, WorkerHandle } from './types.ts';

export function fromNodeWorker(worker: NodeWorker): WorkerHandle {
  return {
    endpoint: nodeEndpoint(worker),
    terminate: () => worker.terminate(),
    onCrash(cb) {
      const onError = (e: unknown) =>
        cb(e instanceof Error ? `uncaught ${e.name}: ${e.message}` : `uncaught ${String(e)}`);
      const onExit = (code: number) => cb(`worker exited with code ${code}`);
      const onMessageError = () => cb('messageerror: a message from the worker could not be deserialized');
      worker.on('error', onError);
      worker.on('exit', onExit);
      worker.on('messageerror', onMessageError);
      return () => {
        worker.off('error', onError);
        worker.off('exit', onExit);
        worker.off('messageerror', onMessageError);
      };
    },
  };
}

/** The worker side's endpoint inside a Node worker thread. */
export function parentEndpoint(): Endpoint {
  if (!parentPort) throw new Error('parentEndpoint(): not running inside a worker thread');
  return nodeEndpoint(parentPort);
}
