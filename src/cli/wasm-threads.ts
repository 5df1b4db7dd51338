/**
 * Multi-threaded tfjs wasm in Node: XNNPACK's thread pool on every core for the CLI.
 *
 * tfjs-backend-wasm 4.22 never uses threads in Node: its WASM_HAS_MULTITHREAD_SUPPORT flag is
 * hard-coded to false there (tensorflow/tfjs#3830), so the single-threaded SIMD binary loads and
 * `setThreadsCount` has no effect. The threaded binary's Emscripten glue does support Node
 * (worker_threads); what breaks is that tfjs hands it the pthread worker script as a `blob:` URL,
 * which Node's Worker cannot load. So, before the backend starts, `prepareNodeWasmThreads`:
 *   1. sets the flag to true;
 *   2. lets `URL.createObjectURL` turn that one Blob into a temp file (Node's Worker needs a path),
 *      patched to load the Emscripten main script from node_modules instead of a second blob;
 *   3. reports twice the real CPU count to Emscripten, because tfjs caps the XNNPACK pool at
 *      `emscripten_num_logical_cores() / 2` (it assumes 2 hyper-threads per core), which is
 *      1 thread on a 2-vCPU machine whatever `setThreadsCount` asks for. The same cap applies in
 *      browsers (navigator.hardwareConcurrency / 2).
 * Once the backend has started, the returned `finish` puts Blob, URL.createObjectURL and
 * os.cpus back and unrefs the pthread workers: the pool's threads wait forever for work, and the
 * main thread only ever waits for them synchronously (inside a kernel), so they must not keep the
 * process alive. Results are the same as on one thread (test/wasm-threads.test.ts): XNNPACK splits
 * the work by output tiles, not within a sum.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import * as wasm from '@tensorflow/tfjs-backend-wasm';

const require = createRequire(import.meta.url);

/** Call before the wasm backend starts; call the result once it has. */
export function prepareNodeWasmThreads(threads: number): () => void {
  const pkgDir = path.dirname(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')));
  const mainScript = path.join(pkgDir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js');
  if (!fs.existsSync(mainScript)) throw new Error(`cannot find ${mainScript}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-wasm-threads-'));
  const workerPath = path.join(dir, 'pthread-worker.cjs');

  // Record the text of string-built Blobs (tfjs builds the worker script as one).
  const texts = new WeakMap<Blob, string>();
  const RealBlob = globalThis.Blob;
  class RecordingBlob extends RealBlob {
    constructor(parts?: BlobPart[], opts?: BlobPropertyBag) {
      super(parts, opts);
      if (parts?.every((p) => typeof p === 'string')) texts.set(this, (parts as string[]).join(''));
    }
  }
  globalThis.Blob = RecordingBlob as typeof Blob;
  const realCreate = URL.createObjectURL;
  URL.createObjectURL = (b: Blob) => {
    const text = texts.get(b);
    const marker = 'if(typeof e.data.urlOrBlob=="string")';
    if (text === undefined || !text.includes(marker)) return realCreate.call(URL, b);
    fs.writeFileSync(workerPath, text.replace(marker, `if(true){importScripts(${JSON.stringify(mainScript)})}else ${marker}`));
    return workerPath;
  };

  const nodeOs = require('node:os') as typeof os & { cpus: () => os.CpuInfo[] };
  const realCpus = nodeOs.cpus;
  nodeOs.cpus = () => {
    const c = realCpus();
    const want = Math.max(2 * threads, c.length);
    return Array.from({ length: want }, (_, i) => c[i % c.length]);
  };

  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(threads);
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return () => {
    globalThis.Blob = RealBlob;
    URL.createObjectURL = realCreate;
    nodeOs.cpus = realCpus;
    const pthreads = (tf.findBackend('wasm') as unknown as { wasm?: { PThread?: { runningWorkers: { unref(): void }[]; unusedWorkers: { unref(): void }[] } } } | null)?.wasm?.PThread;
    for (const w of [...(pthreads?.runningWorkers ?? []), ...(pthreads?.unusedWorkers ?? [])]) w.unref();
  };
}

/** Threads XNNPACK really uses (after the backend started). */
export function wasmThreadsInUse(): number {
  try {
    return wasm.getThreadsCount();
  } catch {
    return 1;
  }
}
