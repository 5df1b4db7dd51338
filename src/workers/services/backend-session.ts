/**
 * A worker's backend session: the backend the page last asked for, started on demand, and a
 * switch that carries the worker's tensors across (tensors live on one backend, so a worker that
 * holds a model must read it out before the switch and rebuild it after).
 */
import * as tf from '@tensorflow/tfjs-core';
import { currentBackend, initBackend } from './backend.ts';
import type { BackendChoice, BackendInfo } from '../../contracts/backend.ts';

export interface BackendSessionOptions {
  /** Also register what training needs (gradients, the wasm backend's extra kernels). */
  training?: boolean;
  /** The WebGPU device was lost: the worker should report itself fatal. */
  onDeviceLost: (message: string) => void;
  /**
   * Called before a switch: take the worker's tensors off the old backend and return how to
   * rebuild them (run after the switch, or after a failed one on whatever backend is current).
   */
  detach?: () => Promise<(() => void) | null>;
}

export interface BackendSession {
  /** Starts the backend `choice` (default: the last one asked for) and returns what runs. */
  ensure(choice?: BackendChoice): Promise<BackendInfo>;
}

export function backendSession(opts: BackendSessionOptions): BackendSession {
  let requested: BackendChoice = 'auto';
  return {
    async ensure(choice) {
      const want = choice ?? requested;
      const cur = currentBackend();
      if (cur && cur.requested === want && tf.getBackend() === cur.backend) {
        if (opts.training) await initBackend(want, { training: true }); // registers what training needs (idempotent)
        return cur;
      }
      const reattach = (await opts.detach?.()) ?? null;
      try {
        const info = await initBackend(want, { training: opts.training, onDeviceLost: opts.onDeviceLost });
        requested = want;
        return info;
      } finally {
        reattach?.();
      }
    },
  };
}
