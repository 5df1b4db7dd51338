/** The sampler comparison's custom element (<sampler-compare>): the seed's loop and DDIM from the same noise, run in turn through the model pool. Markup: demos/SamplerCompare.astro. */
import { drawImages, fmtMs, makeCanvases, sourceFor } from '../lib/model-client.ts';
import { GenerationClient } from '../lib/generation-client.ts';
import { showRunState } from '../lib/ui.ts';
import { numParam, readUrlState, writeUrlState } from '../lib/url-state.ts';

const RUNS = [
  { key: 'seed', sampler: 'seed', label: "the seed's loop" },
  { key: 'ddim', sampler: 'ddim', label: 'DDIM' },
] as const;

class SamplerCompare extends HTMLElement {
  private client = new GenerationClient();
  private ready = false;
  private q<T extends Element>(sel: string): T {
    return this.querySelector(sel) as T;
  }

  connectedCallback(): void {
    if (this.ready) return;
    this.ready = true;
    const n = Number(this.dataset.n ?? 6);
    for (const r of RUNS) makeCanvases(this.q(`[data-grid=${r.key}]`), n, (i) => `${r.label}, image ${i + 1} of ${n}`);
    this.q('[data-action=run]').addEventListener('click', () => void this.run());
    this.q('[data-action=stop]').addEventListener('click', () => this.client.stop());
    // Shareable state: ?compare-seed=3 (prefixed: the generator above owns seed).
    const seed = this.q<HTMLInputElement>('input[name=seed]');
    const s0 = numParam(readUrlState(), 'compare-seed', -(2 ** 31), 2 ** 31 - 1, true);
    if (s0 !== null) seed.value = String(s0);
    seed.addEventListener('change', () => writeUrlState({ 'compare-seed': seed.value }));
  }

  disconnectedCallback(): void {
    this.client.stop();
  }

  private async run(): Promise<void> {
    const n = Number(this.dataset.n ?? 6);
    const steps = Number(this.dataset.steps);
    const eta = Number(this.dataset.eta);
    const seed = Math.round(Number(this.q<HTMLInputElement>('input[name=seed]').value) || 0);
    const status = this.q('[data-status]');
    const step = this.q('[data-step]');
    const bar = this.q<HTMLProgressElement>('[data-progress]');
    let which = 0;
    const outcome = await this.client.run(async ({ generate }) => {
      this.q('[data-error]').textContent = '';
      for (const r of RUNS) this.q(`[data-time=${r.key}]`).textContent = '';
      showRunState(this, 'running');
      status.textContent = 'Starting the model…';
      bar.removeAttribute('value');
      for (const [i, r] of RUNS.entries()) {
        which = i;
        const canvases = makeCanvases(this.q(`[data-grid=${r.key}]`), n, (k) => `${r.label}, image ${k + 1} of ${n}`);
        const res = await generate({ source: sourceFor('small'), sampler: r.sampler, steps, eta, seed, n, frameEvery: 2 }, {
          download: (u) => {
            status.textContent = 'Downloading the small model’s weights…';
            if (u.total) bar.value = u.loaded / u.total;
          },
          step: (u) => {
            status.textContent = `Running ${r.label} (${i + 1} of 2)…`;
            bar.value = (i * u.total + u.step) / (2 * u.total);
            step.textContent = `${r.label}: step ${u.step} of ${u.total}`;
            if (u.xt) drawImages(canvases, u.xt);
          },
        });
        drawImages(canvases, res.rgba);
        this.q(`[data-time=${r.key}]`).textContent = `${res.steps} network calls, ${fmtMs(res.totalMs)}`;
        this.q('[data-backend-label]').textContent = res.backend.label;
        this.q(`[data-which=${r.key}]`).setAttribute('data-done', '');
      }
    });
    if (!outcome) return;
    if (outcome.kind === 'done') {
      bar.value = 1;
      showRunState(this, 'done');
      status.textContent = `Done: both samplers ran from seed ${seed}.`;
    } else if (outcome.kind === 'stopped') {
      showRunState(this, 'stopped');
      status.textContent = `Stopped during ${RUNS[which].label}.`;
    } else {
      showRunState(this, 'error');
      status.textContent = 'The comparison failed.';
      this.q('[data-error]').textContent = outcome.message;
    }
  }
}

if (!customElements.get('sampler-compare')) customElements.define('sampler-compare', SamplerCompare);
