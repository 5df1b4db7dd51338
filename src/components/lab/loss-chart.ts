/**
 * The training lab's live loss curve: every step's loss and its running mean on a log scale
 * (uPlot, loaded on first draw), redrawn at most four times a second however fast steps come.
 */
import type uPlotType from 'uplot';
import { AVG_WINDOW } from '../../contracts/train.ts';
import { loadUPlot, axis, fitWidth, fmt, CHART } from '../lib/explain.ts';

const HEIGHT = 280;
const MIN_REDRAW_MS = 250;

export class LossChart {
  losses: number[] = [];
  avgs: number[] = [];
  private plot: uPlotType | null = null;
  private stopFit: (() => void) | null = null;
  private queued = false;
  private lastDraw = 0;

  /** `host`: the chart's box (its aria-label describes the curve); `empty`: the placeholder it replaces. */
  constructor(private host: HTMLElement, private empty: HTMLElement) {}

  /** The whole history (a resumed run, or the worker's exact one after a pause). */
  set(losses: ArrayLike<number>, avgs: ArrayLike<number>): void {
    this.losses = Array.from(losses);
    this.avgs = Array.from(avgs);
    if (this.losses.length) this.queueDraw();
  }

  push(loss: number, avg: number): void {
    this.losses.push(loss);
    this.avgs.push(avg);
    this.queueDraw();
  }

  destroy(): void {
    this.stopFit?.();
    this.plot?.destroy();
  }

  private queueDraw(): void {
    if (this.queued) return;
    this.queued = true;
    const wait = Math.max(0, MIN_REDRAW_MS - (performance.now() - this.lastDraw));
    setTimeout(() => requestAnimationFrame(() => {
      this.queued = false;
      this.lastDraw = performance.now();
      void this.draw();
    }), wait);
  }

  private async draw(): Promise<void> {
    const plot = await this.ensurePlot();
    const n = this.losses.length;
    plot.setData([Array.from({ length: n }, (_, i) => i + 1), this.losses, this.avgs]);
    this.host.setAttribute('aria-label', n
      ? `Loss curve over ${n} steps; the mean of the last ${AVG_WINDOW} losses is now ${fmt(this.avgs[n - 1], 3)} (it started near ${fmt(this.losses[0], 3)}).`
      : 'Loss curve: no training yet');
  }

  private async ensurePlot(): Promise<uPlotType> {
    if (this.plot) return this.plot;
    const uPlot = await loadUPlot();
    if (this.plot) return this.plot;
    this.empty.hidden = true;
    const opts: uPlotType.Options = {
      width: Math.max(240, this.host.clientWidth - 10),
      height: HEIGHT,
      scales: {
        x: { time: false, range: (_u, lo, hi) => [Math.min(lo, 1), Math.max(hi, 10)] },
        // Log scale, fitted to the data (uPlot's default rounds out to whole decades).
        y: { distr: 3, log: 10, range: (_u, lo, hi) => (lo > 0 && hi > 0 ? [lo / 1.2, hi * 1.2] : [0.01, 2]) },
      },
      axes: [
        axis('optimizer step', { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000] }),
        axis('loss (log scale)', { size: 60, values: (_u, ticks) => ticks.map((v) => (v === null || v === undefined ? '' : fmt(v, 2))) }),
      ],
      series: [
        { label: 'step', value: (_u, v) => (v === null ? '–' : String(Math.round(v))) },
        { label: 'loss', stroke: CHART.grey, width: 1, value: (_u, v) => fmt(v, 4), points: { show: false } },
        { label: `mean of last ${AVG_WINDOW}`, stroke: CHART.blue, width: 2, value: (_u, v) => fmt(v, 4), points: { show: false } },
      ],
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    };
    this.plot = new uPlot(opts, [[], [], []], this.host);
    this.stopFit = fitWidth(this.plot, this.host, HEIGHT);
    return this.plot;
  }
}
