/** The training lab's weights, out: a .zip download, or handed to the generation demo above. */
import type { Pool } from '../../pool/types.ts';
import type { TrainTasks } from '../../contracts/train.ts';
import { describeError, fmtBytes } from '../lib/model-client.ts';
import type { LiveView } from './live-view.ts';

type PoolGetter = () => Promise<Pool<TrainTasks>>;

/** Saves the live run's EMA weights as one .zip (`diffusion sample --weights FILE.zip` reads it). */
export async function downloadWeights(host: HTMLElement, view: LiveView, pool: PoolGetter): Promise<void> {
  view.outStatus('Packing the weights…');
  try {
    const r = await (await pool()).run('exportWeights', { zip: true });
    if (!('zip' in r)) throw new Error('the worker returned no zip');
    const url = URL.createObjectURL(new Blob([r.zip as Uint8Array<ArrayBuffer>], { type: 'application/zip' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = r.fileName;
    a.hidden = true;
    host.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    view.outStatus(`Downloaded ${r.fileName} (${fmtBytes(r.zip.length)}).`);
  } catch (e) {
    view.outStatus('');
    view.error(`Could not export the weights: ${describeError(e)}`);
  }
}

/** Stores the EMA weights in the lab's storage and tells the generation demo (`diffusion:use-weights`). */
export async function handWeightsToGenerator(host: HTMLElement, view: LiveView, pool: PoolGetter): Promise<void> {
  view.outStatus('Storing the weights for the generator…');
  try {
    const r = await (await pool()).run('useWeights');
    window.dispatchEvent(new CustomEvent('diffusion:use-weights', { detail: { idbKey: r.idbKey, label: r.label } }));
    host.dataset.usedKey = r.idbKey;
    view.outStatus(`The generation demo now offers ${r.label}.`);
  } catch (e) {
    view.outStatus('');
    view.error(`Could not hand the weights to the generator${(e as Error).name === 'QuotaExceededError' ? ' (storage full)' : ''}: ${describeError(e)}`);
  }
}
