/**
 * tfjs in Node: the wasm backend by default (tfjs-node needs a binary download, and wasm is
 * ~25x faster than the pure-JS cpu backend here), with training gradients registered, on one
 * thread or, through wasm-threads.ts, on several.
 */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '#tf-gradients';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../core/wasm-kernels.ts';
import { registerWasmGroupNormKernels } from '../core/fused/wasm-group-norm.ts';
import { prepareNodeWasmThreads, wasmThreadsInUse } from './wasm-threads.ts';
import { UserError } from './command.ts';
import { num } from './args.ts';

export type NodeBackend = 'wasm' | 'cpu';
export const NODE_BACKENDS: NodeBackend[] = ['wasm', 'cpu'];

/** What `--threads` means when absent: every core. */
export const defaultThreads = (): number => (os.availableParallelism?.() ?? os.cpus().length);

/** `--threads N` (1 = tfjs' own single-threaded build); absent: every core. */
export function threadsOption(v: string | undefined): number {
  return v === undefined ? defaultThreads() : num(v, 'threads', { int: true, min: 1, max: 256 });
}

export const THREADS_USAGE = '  --threads N         wasm threads (default: every core, here ' + defaultThreads() + '); results are the same on any number';

/**
 * Starts a backend. `threads` (wasm only) is fixed once the wasm backend has started: the
 * threaded build is chosen at load time.
 */
export async function initNodeBackend(name: string = 'wasm', threads = 1): Promise<NodeBackend> {
  if (!NODE_BACKENDS.includes(name as NodeBackend)) throw new UserError(`--backend must be one of ${NODE_BACKENDS.join(', ')}, got '${name}'`);
  if (tf.getBackend() === name) return name as NodeBackend;
  // (tf.findBackend would start the backend it looks for: read the registry instead.)
  const wasmStarted = Boolean((tf.engine() as unknown as { registry: Record<string, unknown> }).registry.wasm);
  const finishThreads = name === 'wasm' && threads > 1 && !wasmStarted ? prepareNodeWasmThreads(threads) : null;
  const ok = await tf.setBackend(name);
  if (!ok) throw new UserError(`could not start the tfjs '${name}' backend`);
  await tf.ready();
  finishThreads?.();
  if (name === 'wasm') {
    registerWasmTrainingKernels();
    registerWasmGroupNormKernels();
  }
  // The cpu backend's one-time "install tfjs-node" banner is noise here: tfjs-node cannot be
  // installed offline, and the CLI says which backend it runs on.
  if (name === 'cpu') (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
  return name as NodeBackend;
}

/** The backend as the CLI reports it, e.g. "wasm (2 threads)". */
export function backendLabel(name: NodeBackend): string {
  if (name !== 'wasm') return name;
  const n = wasmThreadsInUse();
  return `wasm (${n} thread${n === 1 ? '' : 's'})`;
}

export { tf };
