/**
 * The page's two worker pools, created on first use so nothing heavy loads before a reader
 * reaches a demo:
 *   model pool: one long-lived worker holding tfjs, the backend and the loaded weights
 *               (generation, architecture trace, training runs in its own pool below);
 *   light pool: pure-JS core functions (schedules, forward noising, time embedding, image
 *               decoding), so a slider never waits behind a generation.
 *   train pool: the training lab's worker (tfjs + trainer), separate so training and
 *               generation do not block each other.
 * Demos talk only to these pools. A restart (crash, lost GPU device) is announced with a
 * `diffusion:pool-restart` window event that demos show as a notice.
 */
import { createPool } from '../../pool/pool.ts';
import type { Pool } from '../../pool/types.ts';
import type { ModelTasks } from '../../contracts/model.ts';
import type { LightTasks } from '../../contracts/light.ts';
import type { TrainTasks } from '../../contracts/train.ts';

let model: Pool<ModelTasks> | null = null;
let light: Pool<LightTasks> | null = null;
let train: Pool<TrainTasks> | null = null;

function announce(pool: string) {
  return ({ reason, restarts }: { reason: string; restarts: number }) =>
    window.dispatchEvent(new CustomEvent('diffusion:pool-restart', { detail: { pool, reason, restarts } }));
}

export function modelPool(): Pool<ModelTasks> {
  return (model ??= createPool<ModelTasks>({
    create: () => new Worker(new URL('../../workers/model.worker.ts', import.meta.url), { type: 'module', name: 'model' }),
    size: 1, maxQueue: 16, name: 'model', onRestart: announce('model'),
    // A cancelled generation stops after its current network call; on an emulated GPU one call
    // can take many seconds, and killing the worker then would throw away the loaded model.
    cancelGraceMs: 30_000,
    // A worker the browser stopped, or that closed itself, settles its task instead of leaving it
    // pending forever (Web Locks detect it at once; pings catch the rest); no task runs unbounded.
    livenessMs: 120_000, defaultTimeoutMs: 15 * 60_000,
  }));
}

export function lightPool(): Pool<LightTasks> {
  return (light ??= createPool<LightTasks>({
    create: () => new Worker(new URL('../../workers/light.worker.ts', import.meta.url), { type: 'module', name: 'light' }),
    size: 1, maxQueue: 32, name: 'light', onRestart: announce('light'),
    livenessMs: 30_000, defaultTimeoutMs: 60_000,
  }));
}

export function trainPool(): Pool<TrainTasks> {
  return (train ??= createPool<TrainTasks>({
    create: () => new Worker(new URL('../../workers/train.worker.ts', import.meta.url), { type: 'module', name: 'train' }),
    // A cancelled `start` (= pause) finishes its current optimizer step before it returns, and
    // one step of a big model on a slow backend can take many seconds: do not kill it for that.
    size: 1, maxQueue: 4, name: 'train', onRestart: announce('train'), cancelGraceMs: 180_000,
    // `start` runs until paused, so no overall timeout; a worker that is gone is still detected.
    livenessMs: 300_000,
  }));
}
