/**
 * The <training-lab> element: wires the lab's markup (TrainingLab.astro) to its parts: the
 * session client (states and the pause protocol), the settings form, the data panel, the loss
 * chart, the saved-runs list and the live view. The training worker runs everything; this only
 * asks and renders.
 */
import type { Pool } from '../../pool/types.ts';
import type { BackendChoice } from '../../contracts/backend.ts';
import type { LightTasks } from '../../contracts/light.ts';
import type { CheckpointMeta, StartArgs, TrainProgress, TrainTasks } from '../../contracts/train.ts';
import { describeError } from '../lib/model-client.ts';
import { DATA_MANIFEST } from '../lib/site.ts';
import { fmt } from '../lib/explain.ts';
import { fmtClock, whenVisible } from '../lib/ui.ts';
import { LabSession, type LabState } from './session-client.ts';
import { SettingsForm } from './settings-form.ts';
import { DataPanel } from './data-panel.ts';
import { LossChart } from './loss-chart.ts';
import { LiveView } from './live-view.ts';
import { renderResumeOffer, renderSavedRuns } from './saved-runs.ts';
import { downloadWeights, handWeightsToGenerator } from './weights-out.ts';

async function trainPool(): Promise<Pool<TrainTasks>> {
  return (await import('../lib/pools.ts')).trainPool();
}
async function lightPool(): Promise<Pool<LightTasks>> {
  return (await import('../lib/pools.ts')).lightPool();
}
const workerError = (e: unknown) => describeError(e).replace('model worker', 'training worker');

class TrainingLab extends HTMLElement {
  private session = new LabSession(trainPool, (s) => this.render(s));
  private form!: HTMLFormElement;
  private settings!: SettingsForm;
  private data!: DataPanel;
  private chart!: LossChart;
  private view!: LiveView;
  private saved: CheckpointMeta[] = [];
  private backendRequested: BackendChoice | null = null;
  private off: Array<() => void> = [];
  /** Asks the running `start` task to checkpoint after its current step (see StartArgs.saveChannel). */
  private saveChannelName = `diffusion-lab-save-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  private saveChannel: BroadcastChannel | null = typeof BroadcastChannel === 'function' ? new BroadcastChannel(this.saveChannelName) : null;

  private q<T extends Element = HTMLElement>(sel: string): T {
    return this.querySelector(sel) as T;
  }

  connectedCallback(): void {
    if (this.form) return;
    this.form = this.q<HTMLFormElement>('form');
    this.view = new LiveView(this);
    this.settings = new SettingsForm(this.form);
    this.chart = new LossChart(this.q('[data-chart]'), this.q('[data-chart-empty]'));
    this.data = new DataPanel(this, this.form, async (file, name) => (await lightPool()).run('decodeImage', { file, name }), () => this.render(this.session.state));
    // Leaving the page (another tab, minimised, closed, reloaded) saves the run's progress now:
    // without this, everything since the last checkpoint was lost on reload.
    const saveOnLeave = () => {
      if (this.session.state === 'training') this.saveChannel?.postMessage('save');
    };
    const onVisibility = () => {
      if (document.visibilityState === 'hidden') saveOnLeave();
    };
    document.addEventListener('visibilitychange', onVisibility);
    window.addEventListener('pagehide', saveOnLeave);
    this.off.push(() => document.removeEventListener('visibilitychange', onVisibility), () => window.removeEventListener('pagehide', saveOnLeave));
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.startNew();
    });
    const on = (action: string, fn: () => void) => this.q(`[data-action=${action}]`).addEventListener('click', fn);
    const offered = () => this.q('[data-resume-offer]').dataset.key;
    on('pause', () => void this.pause('paused'));
    on('stop', () => void this.pause('stopped'));
    on('resume', () => void this.resume(this.session.runId!));
    on('download', () => void downloadWeights(this, this.view, trainPool));
    on('use', () => void handWeightsToGenerator(this, this.view, trainPool));
    on('resume-saved', () => offered() && void this.resume(offered()!));
    on('discard-saved', () => offered() && void this.deleteSaved(offered()!));
    this.settings.field<HTMLSelectElement>('backend').addEventListener('change', () => void this.startBackend());
    const onRestart = (e: Event) => {
      const d = (e as CustomEvent<{ pool: string; reason: string }>).detail;
      if (d?.pool !== 'train') return;
      this.session.reset();
      this.backendRequested = null;
      this.view.notice(`The training worker was restarted (${d.reason}). Training from the last saved checkpoint can be resumed below.`);
      void this.refreshSaved(true);
    };
    window.addEventListener('diffusion:pool-restart', onRestart);
    this.off.push(() => window.removeEventListener('diffusion:pool-restart', onRestart));
    this.off.push(whenVisible(this, () => void Promise.all([this.refreshSaved(true), this.startBackend()])));
    this.render('idle');
  }

  disconnectedCallback(): void {
    this.session.cancel();
    this.chart.destroy();
    for (const off of this.off.splice(0)) off();
  }

  /** Buttons and fields for a state. */
  private render(s: LabState): void {
    const { hasRun } = this.session;
    this.dataset.state = s;
    if (s !== 'training') this.view.stat('eta', '–'); // "Time left" only means something while a run goes
    const busy = s === 'starting' || s === 'pausing' || s === 'stopping';
    const active = this.session.active;
    const btn = (a: string) => this.q<HTMLButtonElement>(`[data-action=${a}]`);
    btn('start').disabled = active || this.data.own.busy;
    btn('start').textContent = hasRun ? 'Start a new run' : 'Start training';
    btn('pause').disabled = s !== 'training';
    btn('pause').hidden = s === 'paused';
    btn('resume').hidden = s !== 'paused';
    btn('resume').disabled = s !== 'paused';
    btn('stop').disabled = !(s === 'training' || s === 'paused');
    const canExport = hasRun && (s === 'paused' || s === 'stopped' || s === 'finished');
    btn('download').disabled = !canExport;
    btn('use').disabled = !canExport;
    btn('resume-saved').disabled = active;
    btn('discard-saved').disabled = active;
    this.q<HTMLFieldSetElement>('[data-data-fieldset]').disabled = active || this.data.own.busy;
    // Settings are fixed for a run; the backend may change while paused (the run moves with its state).
    for (const el of this.q('[data-settings]').querySelectorAll<HTMLSelectElement | HTMLInputElement>('select, input')) {
      el.disabled = el.name === 'backend' ? s === 'training' || busy : active;
    }
    if (!active) this.settings.syncInit(false); // fine-tuning keeps the width fixed (the loop above re-enabled it)
    this.setAttribute('aria-busy', busy ? 'true' : 'false');
    this.q('[data-saved]').querySelectorAll<HTMLButtonElement>('button').forEach((b) => (b.disabled = active));
  }

  // --- the backend and saved runs -------------------------------------------------------------

  private async startBackend(): Promise<void> {
    const want = this.settings.field<HTMLSelectElement>('backend').value as BackendChoice;
    if (this.backendRequested === want) return;
    this.backendRequested = want;
    this.q('[data-backend-label]').textContent = 'starting…';
    this.q('[data-backend-reason]').textContent = '';
    try {
      this.showBackend(await (await trainPool()).run('init', { backend: want }));
    } catch (e) {
      this.backendRequested = null;
      this.q('[data-backend-label]').textContent = 'unavailable';
      this.view.error(workerError(e));
    }
  }

  private showBackend(b: Parameters<LiveView['showBackend']>[0]): void {
    if (this.view.showBackend(b) && !this.session.hasRun) this.settings.suggestForCpu();
  }

  private async ensureBackendForRun(pool: Pool<TrainTasks>): Promise<void> {
    const want = this.settings.field<HTMLSelectElement>('backend').value as BackendChoice;
    if (this.backendRequested !== want || !this.view.backend) {
      this.backendRequested = want;
      this.showBackend(await pool.run('init', { backend: want }));
    }
  }

  private async refreshSaved(offer: boolean): Promise<void> {
    try {
      this.saved = await (await trainPool()).run('listCheckpoints');
    } catch (e) {
      this.view.notice(`Saved checkpoints could not be read: ${describeError(e)}`);
      this.saved = [];
    }
    renderSavedRuns(this, this.saved, this.session.active, { resume: (k) => void this.resume(k), remove: (k) => void this.deleteSaved(k) });
    const newest = this.saved[0];
    if (offer && newest && !this.session.hasRun && !newest.finished) renderResumeOffer(this, newest);
    else if (!newest || this.session.hasRun) renderResumeOffer(this, null);
  }

  private async deleteSaved(key: string): Promise<void> {
    try {
      await (await trainPool()).run('deleteCheckpoint', { key });
      this.view.status('Checkpoint deleted.');
    } catch (e) {
      this.view.error(`Could not delete the checkpoint: ${describeError(e)}`);
    }
    await this.refreshSaved(true);
    if (!this.saved.some((c) => c.key === this.q('[data-resume-offer]').dataset.key)) renderResumeOffer(this, null);
  }

  // --- runs -------------------------------------------------------------------------------------

  private clearMessages(): void {
    this.view.error('');
    this.view.notice('');
    this.view.outStatus('');
  }

  private async startNew(): Promise<void> {
    const s = this.session;
    if (s.state === 'training' || s.state === 'starting' || this.data.own.busy) return;
    this.clearMessages();
    const source = this.data.source;
    if (source === 'own' && this.data.own.count === 0) {
      this.view.error('Add some images of your own first (files, a folder, or drag and drop), or choose the CIFAR-10 subset.');
      return;
    }
    s.to('starting');
    this.view.status('Starting the training worker…');
    try {
      const pool = await trainPool();
      await this.ensureBackendForRun(pool);
      this.view.status(source === 'cifar' ? 'Loading the CIFAR-10 training subset…' : 'Handing your images to the trainer…');
      const info = source === 'cifar'
        ? await pool.run('setData', { source: 'cifar', manifest: DATA_MANIFEST })
        : await pool.run('setData', { source: 'own', images: this.data.own.packed(), count: this.data.own.count });
      this.data.info = info;
      this.data.renderThumbs();
      if (!info.ok) throw new Error(info.message);
    } catch (e) {
      s.to(s.settled);
      this.view.status('');
      this.view.error(describeError(e));
      return;
    }
    renderResumeOffer(this, null);
    await this.train(this.settings.settings());
  }

  private async resume(key: string): Promise<void> {
    const s = this.session;
    if (s.state === 'training' || s.state === 'starting') return;
    const back = s.state;
    this.clearMessages();
    s.to('starting');
    this.view.status(key === s.runId && s.hasRun ? 'Resuming…' : 'Loading the saved checkpoint…');
    try {
      await this.ensureBackendForRun(await trainPool());
    } catch (e) {
      s.to(back === 'paused' ? 'paused' : s.settled);
      this.view.error(describeError(e));
      return;
    }
    renderResumeOffer(this, null);
    await this.train({ ...this.settings.settings(), resume: key });
  }

  private async train(args: Omit<StartArgs, 'dataManifest' | 'saveChannel'>): Promise<void> {
    const out = await this.session.train({ ...args, dataManifest: DATA_MANIFEST, saveChannel: this.saveChannelName }, (p) => this.onProgress(p));
    if (out.kind === 'paused') return; // pause() reports
    const step = this.session.runStep;
    if (out.kind === 'error') {
      this.view.error(`Training stopped with an error: ${workerError(out.error)}`);
      this.view.status(step ? `Stopped at step ${step}.` : '');
    } else {
      this.q<HTMLProgressElement>('[data-progress]').value = 1;
      if (out.result.saveError) this.view.error(`The final checkpoint could not be saved: ${out.result.saveError.message}`);
      if (out.result.saved) this.view.stat('saved', `step ${out.result.saved.step} (${fmtClock(out.result.saved.savedAt)})`);
      this.view.status(`Finished: ${out.result.step} steps. Download the weights, hand them to the generator, or start a new run.`);
    }
    void this.refreshSaved(false);
  }

  private onProgress(p: TrainProgress): void {
    if (p.kind === 'begin') {
      this.chart.set(p.losses, p.lossAvgs);
      this.settings.applyRun(p.run);
      this.showBackend(p.backend);
      this.view.begin(p);
    } else if (p.kind === 'step') {
      this.chart.push(p.loss, p.lossAvg);
      this.view.step(p);
    } else if (p.kind === 'saved') {
      this.view.saved(p.checkpoint);
    } else {
      this.view.error(`A checkpoint could not be saved (${p.name}): ${p.message} Training goes on; pausing tries again.`);
    }
  }

  /** Pause (or stop): the session cancels the running `start`, reads the exact state, saves. */
  private async pause(to: 'paused' | 'stopped'): Promise<void> {
    const wasPaused = this.session.state === 'paused';
    if (this.session.state === 'training') this.view.status(`${to === 'paused' ? 'Pausing' : 'Stopping'} after the current step…`);
    const out = await this.session.pause(to);
    if (!out) return;
    const next = to === 'paused' ? 'Resume continues from exactly here.' : 'Download the weights, hand them to the generator, or start a new run.';
    if (wasPaused) {
      this.view.status(`Stopped at step ${out.step}. ${next}`);
      return;
    }
    if (out.history) {
      this.chart.set(out.history.losses, out.history.avgs);
      this.view.stat('loss', fmt(out.history.avgs.at(-1), 4));
      if (out.history.losses.length) this.dataset.loss = String(out.history.losses.at(-1));
    }
    if (out.statusError) this.view.error(describeError(out.statusError));
    this.view.position(out.step, this.session.runTotal);
    let saved: string;
    if (out.saved) {
      this.view.saved(out.saved);
      saved = ' Checkpoint saved in this browser.';
    } else {
      const err = out.saveError as Error;
      this.view.error(`The checkpoint could not be saved${err?.name === 'QuotaExceededError' ? ' (storage full)' : ''}: ${describeError(err)}`);
      this.dataset.saveError = err?.name || 'Error';
      saved = ' (not saved: see the message below.)';
    }
    this.view.status(`${to === 'paused' ? 'Paused' : 'Stopped'} at step ${out.step}.${saved} ${next}`);
    void this.refreshSaved(false);
  }

  // --- hidden hooks for tests and the console ----------------------------------------------

  /** DDIM (η = 0) from the given NHWC noise on the live run's EMA weights; NHWC x₀ back. */
  async debugSample(noise: Float32Array, n: number, steps: number): Promise<Float32Array> {
    return (await trainPool()).run('debugSample', { noise, n, steps });
  }
  /** Makes the next checkpoint save fail with a QuotaExceededError (to test the report). */
  async debugFailNextSave(): Promise<void> {
    await (await trainPool()).run('debugFailNextSave');
  }
  async memory() {
    return (await trainPool()).run('memory');
  }
}

if (!customElements.get('training-lab')) customElements.define('training-lab', TrainingLab);
