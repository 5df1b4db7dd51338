/**
 * tfjs in Node: the wasm backend by default (tfjs-node needs a binary download, and wasm is
 * ~25x faster than the pure-JS cpu backend here), with training gradients registered.
 */
import * as tf from '@tensorflow/tfjs-core';
import '#tf-gradients';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../core/wasm-kernels.ts';
import { UserError } from './command.ts';

export type NodeBackend = 'wasm' | 'cpu';
export const NODE_BACKENDS: NodeBackend[] = ['wasm', 'cpu'];

export async function initNodeBackend(name: string = 'wasm'): Promise<NodeBackend> {
  if (!NODE_BACKENDS.includes(name as NodeBackend)) throw new UserError(`--backend must be one of ${NODE_BACKENDS.join(', ')}, got '${name}'`);
  if (tf.getBackend() === name) return name as NodeBackend;
  const ok = await tf.setBackend(name);
  if (!ok) throw new UserError(`could not start the tfjs '${name}' backend`);
  await tf.ready();
  if (name === 'wasm') registerWasmTrainingKernels();
  // The cpu backend's one-time "install tfjs-node" banner is noise here: tfjs-node cannot be
  // installed offline, and the CLI says which backend it runs on.
  if (name === 'cpu') (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
  return name as NodeBackend;
}

export { tf };
