/**
 * Chooses and starts the TensorFlow.js backend inside a worker (browser only).
 *
 * Automatic order: WebGPU → WebGL → wasm → cpu, with one twist: when the only GPU the browser
 * offers is a software emulation (SwiftShader, llvmpipe, a WebGPU "fallback adapter"), wasm is
 * preferred, because emulated GPU kernels are several times slower than wasm's XNNPACK on the
 * same CPU. A reader may also ask for one backend; if it is unavailable the next one in the
 * order is used and the returned `reason` says so.
 *
 * Each backend package is imported only when it is tried, so a reader who ends up on wasm never
 * downloads the WebGPU kernels (and vice versa). The wasm binaries are emitted by Vite (`?url`)
 * and passed to `setWasmPaths`, so they load from the right place under any deploy sub-path.
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerWasmGroupNormKernels } from '../../core/fused/wasm-group-norm.ts';

import { BACKEND_CHOICES, type BackendChoice, type BackendInfo, type BackendName } from '../../contracts/backend.ts';

export interface InitOptions {
  /** Also register what training needs: gradients and the wasm backend's missing kernels. */
  training?: boolean;
  /** Called once if the WebGPU device is lost (not when it is destroyed on purpose). */
  onDeviceLost?: (message: string) => void;
}

interface Probe {
  ok: boolean;
  /** Why not, when !ok. */
  why?: string;
  adapter?: string;
  software?: boolean;
}

// Minimal WebGPU typings (the DOM lib in this TS version does not include them).
interface GpuAdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}
interface GpuAdapterLike {
  info?: GpuAdapterInfoLike;
  isFallbackAdapter?: boolean;
  requestAdapterInfo?: () => Promise<GpuAdapterInfoLike>;
}
interface GpuLike {
  requestAdapter(opts?: { powerPreference?: string }): Promise<GpuAdapterLike | null>;
}
interface GpuDeviceLike {
  lost: Promise<{ reason?: string; message?: string }>;
}

const SOFTWARE_GPU = /swiftshader|llvmpipe|softpipe|software|basic render|lavapipe|microsoft basic/i;

function gpu(): GpuLike | undefined {
  return (globalThis.navigator as unknown as { gpu?: GpuLike } | undefined)?.gpu;
}

async function probeWebGPU(): Promise<Probe> {
  const g = gpu();
  if (!g) return { ok: false, why: 'this browser has no WebGPU (navigator.gpu is missing)' };
  let adapter: GpuAdapterLike | null = null;
  try {
    adapter = await g.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return { ok: false, why: `requesting a WebGPU adapter failed: ${(e as Error).message}` };
  }
  if (!adapter) return { ok: false, why: 'the browser offers no WebGPU adapter (WebGPU is switched off, the GPU is blocklisted, or there is none)' };
  let info: GpuAdapterInfoLike = adapter.info ?? {};
  if (!adapter.info && adapter.requestAdapterInfo) {
    try {
      info = await adapter.requestAdapterInfo();
    } catch {
      /* older Chrome: no info */
    }
  }
  const name = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ').trim();
  const fallbackFlag = info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false;
  const software = fallbackFlag || SOFTWARE_GPU.test(name);
  const adapterName = /swiftshader/i.test(name) ? 'SwiftShader' : name || (fallbackFlag ? 'fallback adapter' : 'unknown GPU');
  return { ok: true, adapter: adapterName, software };
}

function probeWebGL(): Probe {
  const OC = (globalThis as { OffscreenCanvas?: typeof OffscreenCanvas }).OffscreenCanvas;
  if (typeof OC !== 'function') return { ok: false, why: 'no OffscreenCanvas in workers, so no WebGL here' };
  let gl: WebGL2RenderingContext | WebGLRenderingContext | null = null;
  try {
    const c = new OC(1, 1);
    gl = (c.getContext('webgl2') ?? c.getContext('webgl')) as WebGL2RenderingContext | WebGLRenderingContext | null;
  } catch {
    gl = null;
  }
  if (!gl) return { ok: false, why: 'WebGL is unavailable (no context could be created)' };
  let renderer = '';
  try {
    const ext = gl.getExtension('WEBGL_debug_renderer_info');
    renderer = String(ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
  } catch {
    /* ignore */
  }
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  const software = SOFTWARE_GPU.test(renderer);
  return { ok: true, adapter: /swiftshader/i.test(renderer) ? 'SwiftShader' : renderer || undefined, software };
}

const loaded: Partial<Record<BackendName, Promise<unknown>>> = {};

let liftedCap = false;

async function loadWasm(): Promise<void> {
  const [wasm, plain, simd, threaded] = await Promise.all([
    import('@tensorflow/tfjs-backend-wasm'),
    import('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url'),
    import('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url'),
    import('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url'),
  ]);
  wasm.setWasmPaths({
    'tfjs-backend-wasm.wasm': plain.default,
    'tfjs-backend-wasm-simd.wasm': simd.default,
    'tfjs-backend-wasm-threaded-simd.wasm': threaded.default,
  });
  // Threads need SharedArrayBuffer, i.e. a cross-origin isolated page. tfjs caps XNNPACK's pool
  // at hardwareConcurrency / 2 (it assumes two hyper-threads per core): one thread on a 2-core
  // machine, whatever we ask. On small machines (≤ 4 logical cores, where that leaves real cores
  // idle) this worker reports twice its cores to the wasm runtime. Measured by `npm run bench` on
  // 2 cores: a full-width batch-8 forward 693 → 498 ms, DDIM-50 on 8 images 44 → 24 s. Larger
  // machines keep tfjs' choice.
  if (globalThis.crossOriginIsolated) {
    const nav = globalThis.navigator as Navigator | undefined;
    const cores = nav?.hardwareConcurrency ?? 2;
    // (Not when something already set the property, e.g. the benchmark's own cap experiment.)
    if (nav && cores <= 4 && !liftedCap && !Object.getOwnPropertyDescriptor(nav, 'hardwareConcurrency')) {
      liftedCap = true;
      Object.defineProperty(nav, 'hardwareConcurrency', { get: () => cores * 2, configurable: true });
    }
    wasm.setThreadsCount(Math.max(1, Math.min(8, cores)));
  }
}

function load(name: BackendName): Promise<unknown> {
  return (loaded[name] ??= (() => {
    switch (name) {
      case 'webgpu': return import('@tensorflow/tfjs-backend-webgpu');
      case 'webgl': return import('@tensorflow/tfjs-backend-webgl');
      case 'wasm': return loadWasm();
      case 'cpu': return import('@tensorflow/tfjs-backend-cpu');
    }
  })());
}

async function start(name: BackendName): Promise<string | null> {
  try {
    await load(name);
  } catch (e) {
    delete loaded[name];
    return `its code failed to load (${(e as Error).message})`;
  }
  try {
    // setBackend returns false (after a console warning) when the factory throws.
    const ok = await tf.setBackend(name);
    if (!ok) return 'it failed to initialise';
    await tf.ready();
    return null;
  } catch (e) {
    return `it failed to initialise (${(e as Error).message})`;
  }
}

const PRETTY: Record<BackendName, string> = { webgpu: 'WebGPU', webgl: 'WebGL', wasm: 'wasm', cpu: 'cpu (plain JavaScript)' };

let watchedDevice: unknown = null;
let current: BackendInfo | null = null;
let trainingReady = false;

/** The backend started last (null before the first `initBackend`). */
export function currentBackend(): BackendInfo | null {
  return current;
}

/**
 * Starts a backend. Calling it again with the same choice returns the running one; with another
 * choice it switches (tensors made on the old backend must be disposed by the caller first).
 */
export async function initBackend(requested: BackendChoice = 'auto', opts: InitOptions = {}): Promise<BackendInfo> {
  if (!BACKEND_CHOICES.includes(requested)) throw new Error(`unknown backend '${String(requested)}' (use ${BACKEND_CHOICES.join(', ')})`);
  if (current && current.requested === requested && tf.getBackend() === current.backend) {
    if (opts.training) await enableTraining();
    return current;
  }

  const notes: string[] = [];
  const failed = (name: BackendName, why: string) => notes.push(`${PRETTY[name]}: ${why}`);
  const order: BackendName[] = requested === 'auto' ? ['webgpu', 'webgl', 'wasm', 'cpu'] : [requested, ...(['webgpu', 'webgl', 'wasm', 'cpu'] as BackendName[]).filter((b) => b !== requested)];
  let softwareSkipped: { name: BackendName; adapter?: string } | null = null;
  const deferred: BackendName[] = [];
  const allowSoftware = new Set<BackendName>([requested as BackendName]);

  for (let i = 0; i < order.length; i++) {
    const name = order[i];
    // An emulated GPU still beats plain-JS cpu: try the skipped ones before it.
    if (name === 'cpu' && deferred.length) {
      for (const d of deferred) allowSoftware.add(d);
      order.splice(i, 0, ...deferred.splice(0));
      i--;
      continue;
    }
    let probe: Probe = { ok: true };
    if (name === 'webgpu') probe = await probeWebGPU();
    else if (name === 'webgl') probe = probeWebGL();
    if (!probe.ok) {
      failed(name, probe.why ?? 'unavailable');
      continue;
    }
    // Automatic choice: an emulated GPU loses to wasm on the same CPU.
    if (probe.software && !allowSoftware.has(name)) {
      deferred.push(name);
      softwareSkipped ??= { name, adapter: probe.adapter };
      notes.push(`${PRETTY[name]}: its adapter is ${probe.adapter ?? 'a software renderer'}, a CPU emulation of a GPU`);
      continue;
    }
    const err = await start(name);
    if (err) {
      failed(name, err);
      continue;
    }

    const info: BackendInfo = { backend: name, label: PRETTY[name], reason: '', requested, fallback: requested !== 'auto' && name !== requested };
    if (probe.adapter) info.adapter = probe.adapter;
    if (probe.software) info.software = true;
    if (name === 'webgpu' || name === 'webgl') {
      info.label = `${PRETTY[name]} (${probe.adapter ?? 'GPU'}${probe.software ? ', CPU emulation' : ''})`;
    }
    if (name === 'wasm') {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      const threads = wasm.getThreadsCount();
      info.threads = threads;
      const [simd, mt] = await Promise.all([tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'), tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')]);
      info.wasmFeatures = { simd: Boolean(simd), threads: Boolean(mt), fusedGroupNorm: registerWasmGroupNormKernels() };
      const t = `${threads} thread${threads === 1 ? '' : 's'}${globalThis.crossOriginIsolated ? '' : ', page not cross-origin isolated'}`;
      info.label = softwareSkipped && requested === 'auto'
        ? `wasm, ${t} (${PRETTY[softwareSkipped.name]} adapter is ${softwareSkipped.adapter ?? 'a software renderer'}, a CPU emulation — slower than wasm here)`
        : `wasm (${t})`;
    }

    if (requested === 'auto') {
      info.reason = notes.length ? `automatic choice; skipped ${notes.join('; ')}` : `automatic choice: the first available of WebGPU, WebGL, wasm`;
    } else if (info.fallback) {
      const why = notes.filter((n) => n.startsWith(`${PRETTY[requested]}: `)).map((n) => n.slice(PRETTY[requested].length + 2)).join('; ') || 'it failed to start';
      info.reason = `${PRETTY[requested]} is unavailable here: ${why}. Using ${PRETTY[name]} instead`;
    } else {
      info.reason = probe.software
        ? `you chose ${PRETTY[name]}; its adapter is ${probe.adapter ?? 'a software renderer'}, a CPU emulation, so expect it to be slow`
        : `you chose ${PRETTY[name]}`;
    }

    if (name === 'webgpu') watchDevice(opts.onDeviceLost);
    current = info;
    if (opts.training) await enableTraining();
    return info;
  }
  throw new Error(`no TensorFlow.js backend could start: ${notes.join('; ')}`);
}

/** Gradients (tfjs-core's, registered once) and the kernels wasm lacks for training. */
export async function enableTraining(): Promise<void> {
  if (!trainingReady) {
    await import('#tf-gradients');
    trainingReady = true;
  }
  if (tf.getBackend() === 'wasm') {
    const { registerWasmTrainingKernels } = await import('../../core/wasm-kernels.ts');
    registerWasmTrainingKernels();
  }
}

function watchDevice(onLost?: (message: string) => void): void {
  const device = (tf.backend() as unknown as { device?: GpuDeviceLike }).device;
  if (!device || device === watchedDevice) return;
  watchedDevice = device;
  void device.lost.then((info) => {
    if (info.reason === 'destroyed') return; // disposed on purpose (backend switch)
    const msg = `GPU device lost: ${info.message || info.reason || 'no reason given'}`;
    if (watchedDevice === device) current = null;
    onLost?.(msg);
  });
}
