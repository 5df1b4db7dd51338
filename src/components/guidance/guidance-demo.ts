/** The guidance demo's custom element (<guidance-demo>): one row per guidance scale, run in turn through the model pool. Markup: demos/GuidanceDemo.astro. */
import { drawImages, fmtMs, makeCanvases, sourceFor } from '../lib/model-client.ts';
import { GenerationClient } from '../lib/generation-client.ts';
import { showRunState } from '../lib/ui.ts';
import { RECOMMENDED_SAMPLING } from '../../core/sampling-defaults.ts';
import { CLASS_NAMES } from '../../core/data/cifar.ts';
import { numParam, readUrlState, selectParam, writeUrlState } from '../lib/url-state.ts';

class GuidanceDemo extends HTMLElement {
  private client = new GenerationClient();
  private ready = false;
  private q<T extends Element>(sel: string): T {
    return this.querySelector(sel) as T;
  }
  private get scales(): number[] {
    return (this.dataset.scales ?? '0,1,3,6').split(',').map(Number);
  }

  connectedCallback(): void {
    if (this.ready) return;
    this.ready = true;
    const n = Number(this.dataset.n ?? 6);
    for (const w of this.scales) makeCanvases(this.q(`[data-grid="${w}"]`), n, (i) => `guidance ${w}, image ${i + 1} of ${n}`);
    this.q('[data-action=run]').addEventListener('click', () => void this.run());
    this.q('[data-action=stop]').addEventListener('click', () => this.client.stop());
    // Shareable state: ?guide-class=3&guide-seed=11 (prefixed: the generator above owns class and seed).
    const cls = this.q<HTMLSelectElement>('select[name=cls]');
    const seed = this.q<HTMLInputElement>('input[name=seed]');
    const p = readUrlState();
    selectParam(cls, p.get('guide-class'));
    const s0 = numParam(p, 'guide-seed', -(2 ** 31), 2 ** 31 - 1, true);
    if (s0 !== null) seed.value = String(s0);
    const share = () => writeUrlState({ 'guide-class': cls.value, 'guide-seed': seed.value });
    cls.addEventListener('change', share);
    seed.addEventListener('change', share);
  }

  disconnectedCallback(): void {
    this.client.stop();
  }

  private async run(): Promise<void> {
    const n = Number(this.dataset.n ?? 6);
    const cls = Number(this.q<HTMLSelectElement>('select[name=cls]').value);
    const seed = Math.round(Number(this.q<HTMLInputElement>('input[name=seed]').value) || 0);
    const status = this.q('[data-status]');
    const bar = this.q<HTMLProgressElement>('[data-progress]');
    const scales = this.scales;
    const t0 = performance.now();
    const outcome = await this.client.run(async ({ generate }) => {
      this.q('[data-error]').textContent = '';
      showRunState(this, 'running');
      status.textContent = 'Starting the model…';
      bar.removeAttribute('value');
      for (const [i, w] of scales.entries()) {
        const canvases = makeCanvases(this.q(`[data-grid="${w}"]`), n, (k) => `guidance ${w}, image ${k + 1} of ${n}`);
        // Steps and η: the recommended setting, which the worker fills in (the caption above names it).
        const res = await generate({ source: sourceFor('small'), sampler: RECOMMENDED_SAMPLING.sampler, seed, n, frameEvery: 4, labels: new Array<number>(n).fill(cls), guidance: w }, {
          download: (u) => {
            status.textContent = 'Downloading the small model’s weights…';
            if (u.total) bar.value = u.loaded / u.total;
          },
          step: (u) => {
            status.textContent = `Drawing ${CLASS_NAMES[cls]} with w = ${w} (${i + 1} of ${scales.length})…`;
            bar.value = (i * u.total + u.step) / (scales.length * u.total);
            if (u.xt) drawImages(canvases, u.xt);
          },
        });
        drawImages(canvases, res.rgba);
        this.q('[data-backend-label]').textContent = res.backend.label;
        this.q(`[data-w="${w}"]`).setAttribute('data-done', '');
      }
    });
    if (!outcome) return;
    if (outcome.kind === 'done') {
      bar.value = 1;
      showRunState(this, 'done');
      status.textContent = `Done: ${CLASS_NAMES[cls]}, seed ${seed}, ${scales.length} rows in ${fmtMs(performance.now() - t0)}.`;
    } else if (outcome.kind === 'stopped') {
      showRunState(this, 'stopped');
      status.textContent = 'Stopped.';
    } else {
      showRunState(this, 'error');
      status.textContent = 'The guidance demo failed.';
      this.q('[data-error]').textContent = outcome.message;
    }
  }
}

if (!customElements.get('guidance-demo')) customElements.define('guidance-demo', GuidanceDemo);
