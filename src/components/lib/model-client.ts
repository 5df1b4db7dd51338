/**
 * Small page-side helpers shared by the model demos (generation, sampler comparison,
 * architecture): weights sources, error wording, drawing RGBA frames into canvases.
 * No computation: the numbers all come from the model worker.
 */
import { WEIGHTS, type WeightsId } from './site.ts';
import { SHIPPED_MODELS } from '../../core/shipped-models.ts';
import type { WeightsSource } from '../../contracts/model.ts';
import type { BackendInfo } from '../../contracts/backend.ts';

export const IMAGE_SIZE = 32;

/** A shipped model, weights the training lab saved in IndexedDB, or a file the reader dropped. */
export type ModelChoice = WeightsId | { idbKey: string; label: string } | { fileKey: string; label: string };

export function sourceFor(choice: ModelChoice): WeightsSource {
  if (typeof choice === 'string') {
    return { url: WEIGHTS[choice].dir, name: SHIPPED_MODELS[choice].shortName };
  }
  if ('fileKey' in choice) return { fileKey: choice.fileKey, name: choice.label };
  return { idbKey: choice.idbKey, name: choice.label };
}

/** Text for an error from the model pool, for a role="alert" box. */
export function describeError(e: unknown): string {
  const err = e as { name?: string; message?: string; reason?: string } | null;
  const msg = err?.message ?? String(e);
  switch (err?.name) {
    case 'WorkerCrashedError':
      return `The model worker stopped (${err.reason ?? msg}). A fresh worker has been started; press the button again to retry.`;
    case 'WorkerStartError':
      return `The model worker could not start: ${err.reason ?? msg}`;
    case 'TimeoutError':
      return `This took too long and was stopped: ${msg}`;
    case 'QueueFullError':
      return 'Too many requests are waiting for the model; wait for the current one to finish.';
    default:
      return msg.replace(/^Error: /, '');
  }
}

/** "wasm (2 threads)" + why, for the always-visible backend line. */
export function backendText(b: BackendInfo): { label: string; reason: string } {
  return { label: b.label, reason: b.reason };
}

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

export function fmtBytes(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.round(n / 1e3)} kB`;
}

/** Makes `n` 32×32 canvases in `host` (replacing what is there); returns them. */
export function makeCanvases(host: HTMLElement, n: number, label: (i: number) => string): HTMLCanvasElement[] {
  const have = [...host.querySelectorAll('canvas')];
  if (have.length === n) return have;
  host.replaceChildren();
  const out: HTMLCanvasElement[] = [];
  for (let i = 0; i < n; i++) {
    const c = document.createElement('canvas');
    c.width = IMAGE_SIZE;
    c.height = IMAGE_SIZE;
    c.setAttribute('role', 'img');
    c.setAttribute('aria-label', label(i));
    host.append(c);
    out.push(c);
  }
  return out;
}

/** Draws n images from one RGBA buffer (n·32·32·4 bytes) into n canvases. */
export function drawImages(canvases: HTMLCanvasElement[], rgba: Uint8ClampedArray): void {
  const per = IMAGE_SIZE * IMAGE_SIZE * 4;
  canvases.forEach((c, i) => {
    if ((i + 1) * per > rgba.length) return;
    const ctx = c.getContext('2d');
    if (!ctx) return;
    ctx.putImageData(new ImageData(new Uint8ClampedArray(rgba.buffer as ArrayBuffer, rgba.byteOffset + i * per, per), IMAGE_SIZE, IMAGE_SIZE), 0, 0);
  });
}
