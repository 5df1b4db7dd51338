/** The training-loss chart's custom element (<loss-curve>): the uPlot chart, the x-axis switch, the caption from the training record. Markup: demos/LossCurve.astro. */
import type uPlotType from 'uplot';
import { lightPool } from '../lib/pools.ts';
import { WEIGHTS, type WeightsId } from '../lib/site.ts';
import { loadUPlot, message, axis, fitWidth, fmt, logSplits, logTick, CHART } from '../lib/explain.ts';
import { whenVisible } from '../lib/ui.ts';
import { isAbortError } from '../../pool/pool.ts';
import type { LossCurveResult } from '../../contracts/light.ts';

type Curve = Extract<LossCurveResult, { available: true }>;
const HEIGHT = 300;

function duration(s: number): string {
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
const int = (n: number) => Math.round(n).toLocaleString('en');

class LossCurve extends HTMLElement {
  private curve: Curve | null = null;
  private uPlot: typeof uPlotType | null = null;
  private plot: uPlotType | null = null;
  private stopFit: (() => void) | null = null;
  private started = false;

  private $<T extends Element>(sel: string): T {
    return this.querySelector(sel) as T;
  }

  connectedCallback() {
    this.querySelectorAll<HTMLInputElement>('fieldset.xaxis input').forEach((r) =>
      r.addEventListener('change', () => r.checked && this.draw()),
    );
    whenVisible(this, () => void this.start());
  }

  disconnectedCallback() {
    this.stopFit?.();
    this.plot?.destroy();
    this.plot = null;
  }

  async start() {
    if (this.started) return;
    this.started = true;
    const id = (this.dataset.model ?? 'small') as WeightsId;
    const w = WEIGHTS[id] ?? WEIGHTS.small;
    const status = this.$<HTMLElement>('.status');
    status.textContent = 'Loading the training record…';
    try {
      const [uPlot, r] = await Promise.all([loadUPlot(), lightPool().run('lossCurve', { dir: w.dir })]);
      status.textContent = '';
      if (!r.available) {
        this.$<HTMLElement>('.missing').textContent = r.message;
        this.$<HTMLElement>('fieldset.xaxis').hidden = true;
        this.dataset.state = 'missing';
        return;
      }
      this.uPlot = uPlot;
      this.curve = r;
      this.caption(w.label);
      this.draw();
      this.dataset.state = 'ready';
    } catch (e) {
      if (isAbortError(e)) return;
      this.started = false;
      status.textContent = '';
      this.$<HTMLElement>('.error').textContent = `Could not load the loss curve: ${message(e)}`;
      this.dataset.state = 'error';
    }
  }

  private caption(label: string) {
    const c = this.curve!;
    const tr = c.training;
    const parts = [`${label}${c.weightsKind === 'ema' ? ', EMA weights' : ''}.`];
    if (tr) {
      parts.push(
        `Trained for ${int(tr.steps)} steps at batch size ${tr.batchSize}: ${int(tr.imagesSeen)} images, ${fmt(tr.epochs, 3)} epochs of CIFAR-10, in ${duration(tr.wallTimeS)}${tr.hardware ? ` on ${tr.hardware}` : ''}.`,
      );
      if (tr.finalLoss !== null && tr.bestLoss !== null) {
        parts.push(`Final loss ${fmt(tr.finalLoss, 3)}, lowest ${fmt(tr.bestLoss, 3)}.`);
      }
    } else {
      parts.push(`${int(c.steps)} steps at batch size ${c.batchSize}.`);
    }
    parts.push(
      `The light line is the loss of each step's batch (mean squared error of the predicted noise); the dark line is its moving average over ${c.window} steps.${c.stride > 1 ? ` Every ${c.stride}th step is drawn.` : ''}`,
    );
    this.$<HTMLElement>('.caption').textContent = parts.join(' ');
  }

  private draw() {
    const c = this.curve;
    if (!c || !this.uPlot) return;
    const xKey = (this.querySelector<HTMLInputElement>('fieldset.xaxis input:checked')?.value ?? 'images') as 'images' | 'epochs';
    const chart = this.$<HTMLElement>('.chart');
    this.stopFit?.();
    this.plot?.destroy();
    const pos = (v: Float32Array) => Array.from(v, (x) => (x > 0 ? x : null));
    const xFmt = (v: number) => (xKey === 'images' ? (v >= 1e6 ? `${fmt(v / 1e6, 3)} M` : v >= 1e3 ? `${fmt(v / 1e3, 3)} k` : String(v)) : fmt(v, 3));
    const opts: uPlotType.Options = {
      width: Math.max(240, chart.clientWidth - 8),
      height: HEIGHT,
      scales: {
        x: { time: false },
        // a log axis fitted to the data (uPlot's default snaps to whole decades)
        y: { distr: 3, log: 10, range: (_u, min, max) => [min / 1.15, max * 1.15] },
      },
      axes: [
        axis(xKey === 'images' ? 'images seen' : 'epochs', { values: (_u, ticks) => ticks.map((v) => (v == null ? '' : xFmt(v))) }),
        axis('loss (log scale)', {
          size: 64,
          splits: (_u, _i, min, max) => logSplits(min, max),
          values: (_u, ticks) => ticks.map((v) => logTick(v)),
        }),
      ],
      series: [
        { label: xKey === 'images' ? 'images' : 'epoch', value: (_u, v) => (v === null ? '–' : xFmt(v)) },
        { label: 'loss per step', stroke: 'rgba(31,95,191,0.28)', width: 1, points: { show: false }, value: (_u, v) => fmt(v, 3) },
        { label: 'moving average', stroke: CHART.blue, width: 2.25, points: { show: false }, value: (_u, v) => fmt(v, 3) },
      ],
      cursor: { drag: { x: true, y: false } },
      legend: { live: true },
    };
    const data = [c[xKey], pos(c.loss), pos(c.smooth)] as unknown as uPlotType.AlignedData;
    this.plot = new this.uPlot(opts, data, chart);
    this.plot.root.setAttribute('data-x', xKey);
    this.stopFit = fitWidth(this.plot, chart, HEIGHT);
  }
}

if (!customElements.get('loss-curve')) customElements.define('loss-curve', LossCurve);
