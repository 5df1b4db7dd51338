/** The noise-schedule demo's custom element (<schedule-demo>): the uPlot chart of β, ᾱ or SNR, the log toggle, the step slider and readout. Markup: demos/ScheduleDemo.astro. */
import type uPlotType from 'uplot';
import { lightPool } from '../lib/pools.ts';
import { loadUPlot, message, axis, fitWidth, fmt, logSplits, logTick, CHART } from '../lib/explain.ts';
import { statusLines, whenVisible } from '../lib/ui.ts';
import { isAbortError } from '../../pool/pool.ts';

type Quantity = 'beta' | 'alphaBar' | 'snr';
interface Curves {
  beta: Float32Array;
  alphaBar: Float32Array;
  snr: Float32Array;
}
const LABEL: Record<Quantity, string> = { beta: 'βₜ', alphaBar: 'ᾱₜ', snr: 'SNRₜ = ᾱₜ / (1 − ᾱₜ)' };
const LOG_DEFAULT: Record<Quantity, boolean> = { beta: true, alphaBar: false, snr: true };
const HEIGHT = 320;

class ScheduleDemo extends HTMLElement {
  private data: { T: number; linear: Curves; cosine: Curves } | null = null;
  private plot: uPlotType | null = null;
  private stopFit: (() => void) | null = null;
  private uPlot: typeof uPlotType | null = null;
  private quantity: Quantity = 'alphaBar';
  private log: Record<Quantity, boolean> = { ...LOG_DEFAULT };
  private started = false;
  /** The `.status` and `.error` lines. */
  private readonly lines = statusLines(this);

  private $<T extends Element>(sel: string): T {
    return this.querySelector(sel) as T;
  }

  connectedCallback() {
    this.quantity = (this.dataset.initial as Quantity) ?? 'alphaBar';
    const logBox = this.$<HTMLInputElement>('input.log');
    logBox.checked = this.log[this.quantity];
    this.querySelectorAll<HTMLInputElement>('fieldset.quantity input').forEach((r) =>
      r.addEventListener('change', () => {
        if (!r.checked) return;
        this.quantity = r.value as Quantity;
        logBox.checked = this.log[this.quantity];
        this.draw();
      }),
    );
    logBox.addEventListener('change', () => {
      this.log[this.quantity] = logBox.checked;
      this.draw();
    });
    const slider = this.$<HTMLInputElement>('input.t');
    slider.addEventListener('input', () => this.cursorTo(Number(slider.value)));
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
    this.lines.setStatus('Loading the schedules…');
    try {
      const [uPlot, data] = await Promise.all([loadUPlot(), lightPool().run('schedules')]);
      this.uPlot = uPlot;
      this.data = data;
      this.lines.setStatus('');
      this.$<HTMLInputElement>('input.t').disabled = false;
      this.draw();
    } catch (e) {
      if (isAbortError(e)) return;
      this.started = false;
      this.lines.setStatus('');
      this.lines.setError(`Could not draw the schedules: ${message(e)}`);
    }
  }

  /** Values for a log axis must be positive. */
  private series(v: Float32Array, log: boolean): (number | null)[] | Float32Array {
    if (!log) return v;
    return Array.from(v, (x) => (x > 0 ? x : null));
  }

  private draw() {
    if (!this.data || !this.uPlot) return;
    const q = this.quantity;
    const log = this.log[q];
    const { T, linear, cosine } = this.data;
    const x = Float32Array.from({ length: T }, (_, i) => i);
    const chart = this.$<HTMLElement>('.chart');
    this.stopFit?.();
    this.plot?.destroy();
    const value = (_u: uPlotType, v: number | null) => fmt(v, 4);
    const opts: uPlotType.Options = {
      width: Math.max(240, chart.clientWidth - 8),
      height: HEIGHT,
      scales: {
        x: { time: false },
        // On a linear axis the cosine β (clipped at 0.999 in the last steps) would flatten everything else.
        y: log ? { distr: 3, log: 10 } : { range: q === 'alphaBar' ? [0, 1] : q === 'beta' ? [0, 0.04] : undefined },
      },
      axes: [
        axis('step t'),
        axis(LABEL[q], {
          size: 70,
          ...(log ? { splits: (_u, _i, min, max) => logSplits(min, max) } : {}),
          values: (_u, ticks) => ticks.map((v) => (v == null ? '' : log ? logTick(v) : fmt(v, 3))),
        }),
      ],
      series: [
        { label: 't', value: (_u, v) => (v === null ? '–' : String(Math.round(v))) },
        { label: 'linear (the seed)', stroke: CHART.blue, width: 2, value },
        { label: 'cosine', stroke: CHART.orange, width: 2, value },
      ],
      cursor: { drag: { x: false, y: false }, points: { size: 7 } },
      legend: { live: true },
      hooks: {
        ready: [() => requestAnimationFrame(() => this.cursorTo(Number(this.$<HTMLInputElement>('input.t').value)))],
        setCursor: [
          (u) => {
            const i = u.cursor.idx;
            if (i === null || i === undefined) return;
            this.readout(i);
            this.$<HTMLInputElement>('input.t').value = String(i);
          },
        ],
      },
    };
    const data: uPlotType.AlignedData = [x, this.series(linear[q], log), this.series(cosine[q], log)] as uPlotType.AlignedData;
    this.plot = new this.uPlot(opts, data, chart);
    this.plot.root.setAttribute('data-quantity', q);
    this.plot.root.setAttribute('data-log', String(log));
    this.stopFit = fitWidth(this.plot, chart, HEIGHT);
    this.readout(Number(this.$<HTMLInputElement>('input.t').value));
  }

  private cursorTo(t: number) {
    const u = this.plot;
    if (!u) return;
    const y = this.data!.linear[this.quantity][t];
    const top = this.log[this.quantity] && !(y > 0) ? 0 : u.valToPos(y, 'y');
    u.setCursor({ left: u.valToPos(t, 'x'), top });
    this.readout(t);
  }

  private readout(t: number) {
    if (!this.data) return;
    const q = this.quantity;
    const a = this.data.linear[q][t];
    const b = this.data.cosine[q][t];
    const name = { beta: 'β', alphaBar: 'ᾱ', snr: 'SNR' }[q];
    const text = `t = ${t}: ${name} linear ${fmt(a)}, cosine ${fmt(b)}`;
    this.$<HTMLOutputElement>('.readout').textContent = text;
    this.$<HTMLInputElement>('input.t').setAttribute('aria-valuetext', text);
  }
}

if (!customElements.get('schedule-demo')) customElements.define('schedule-demo', ScheduleDemo);
