/** Shared setup for unit tests: a tfjs backend (wasm by default, the CLI's), and fixture paths. */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initNodeBackend, tf } from '../src/cli/tf-node.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');
export const SHARED_DATA = path.resolve(ROOT, '..', 'shared', 'data', 'cifar-10-batches-bin');

export async function useBackend(name: 'wasm' | 'cpu' = 'wasm') {
  await initNodeBackend(name);
  return tf;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
