/** The time-embedding demo's custom element (<time-embedding-demo>): the heatmap, its axes and colour bar, the cross-hair readout. Markup: demos/TimeEmbeddingDemo.astro. */
import { lightPool } from '../lib/pools.ts';
import { message, fmt, CHART } from '../lib/explain.ts';
import { statusLines, whenVisible } from '../lib/ui.ts';
import { isAbortError } from '../../pool/pool.ts';

/** RdBu (ColorBrewer), from −1 (blue) through white to +1 (red). */
const STOPS = ['#2166ac', '#4393c3', '#92c5de', '#d1e5f0', '#f7f7f7', '#fddbc7', '#f4a582', '#d6604d', '#b2182b'].map((h) => [
  parseInt(h.slice(1, 3), 16),
  parseInt(h.slice(3, 5), 16),
  parseInt(h.slice(5, 7), 16),
]);
function colour(v: number): [number, number, number] {
  const x = (Math.max(-1, Math.min(1, v)) + 1) / 2 * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x));
  const f = x - i;
  const a = STOPS[i];
  const b = STOPS[i + 1];
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

const M = { left: 62, right: 84, top: 30, bottom: 46 };

class TimeEmbeddingDemo extends HTMLElement {
  private emb: { dim: number; rows: number; values: Float32Array; freqs: number[] } | null = null;
  private rowsShown = 1000;
  private base: HTMLCanvasElement | null = null;
  private cursor: { t: number; d: number } | null = null;
  private started = false;
  /** The `.status` and `.error` lines. */
  private readonly lines = statusLines(this);

  private $<T extends Element>(sel: string): T {
    return this.querySelector(sel) as T;
  }
  private get canvas() {
    return this.$<HTMLCanvasElement>('canvas.heat');
  }

  connectedCallback() {
    this.querySelectorAll<HTMLInputElement>('fieldset.range input').forEach((r) =>
      r.addEventListener('change', () => {
        if (!r.checked) return;
        this.rowsShown = Number(r.value);
        if (this.cursor) this.cursor.t = Math.min(this.cursor.t, this.rowsShown - 1);
        this.render();
      }),
    );
    const c = this.canvas;
    c.addEventListener('mousemove', (e) => this.hover(e));
    c.addEventListener('mouseleave', () => {
      this.cursor = null;
      this.paint();
    });
    c.addEventListener('keydown', (e) => this.key(e));
    new ResizeObserver(() => this.render()).observe(this.$<HTMLElement>('.wrap'));
    whenVisible(this, () => void this.start());
  }

  async start() {
    if (this.started) return;
    this.started = true;
    this.lines.setStatus('Computing the embedding…');
    try {
      const dim = Number(this.dataset.dim ?? 128);
      this.emb = await lightPool().run('timeEmbedding', { dim, T: 1000, step: 1 });
      this.lines.setStatus('');
      this.render();
      this.dataset.ready = 'true';
    } catch (e) {
      if (isAbortError(e)) return;
      this.started = false;
      this.lines.setStatus('');
      this.lines.setError(`Could not compute the embedding: ${message(e)}`);
    }
  }

  /** Plot geometry in CSS pixels. */
  private geom() {
    const c = this.canvas;
    const w = c.clientWidth;
    const h = c.clientHeight;
    return { w, h, x: M.left, y: M.top, pw: Math.max(10, w - M.left - M.right), ph: Math.max(10, h - M.top - M.bottom) };
  }

  /** Draws the heatmap, axes and colour bar into a cached base canvas. */
  private render() {
    const emb = this.emb;
    if (!emb) return;
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const g = this.geom();
    if (g.w === 0) return;
    c.width = Math.round(g.w * dpr);
    c.height = Math.round(g.h * dpr);
    const base = (this.base ??= document.createElement('canvas'));
    base.width = c.width;
    base.height = c.height;
    const ctx = base.getContext('2d')!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = CHART.paper;
    ctx.fillRect(0, 0, g.w, g.h);

    // 1. the values as an image, one column per dimension and one row per device pixel of
    //    plot height: where several steps share a pixel row, it shows their mean (a box
    //    filter), so fast columns fade to white instead of aliasing into false stripes.
    const rows = Math.min(this.rowsShown, emb.rows);
    const D = emb.dim;
    const ph = Math.round(g.ph * dpr);
    const pw = Math.round(g.pw * dpr);
    const outRows = Math.min(rows, ph);
    const img = new ImageData(D, outRows);
    const acc = new Float64Array(D);
    for (let o = 0; o < outRows; o++) {
      const r0 = Math.floor((o * rows) / outRows);
      const r1 = Math.max(r0 + 1, Math.floor(((o + 1) * rows) / outRows));
      acc.fill(0);
      for (let r = r0; r < r1; r++) for (let d = 0; d < D; d++) acc[d] += emb.values[r * D + d];
      for (let d = 0; d < D; d++) {
        const [R, G, B] = colour(acc[d] / (r1 - r0));
        const q = (o * D + d) * 4;
        img.data[q] = R;
        img.data[q + 1] = G;
        img.data[q + 2] = B;
        img.data[q + 3] = 255;
      }
    }
    const raw = document.createElement('canvas');
    raw.width = D;
    raw.height = outRows;
    raw.getContext('2d')!.putImageData(img, 0, 0);
    // 2. scaled up to the plot without smoothing (crisp cells).
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(raw, 0, 0, D, outRows, Math.round(g.x * dpr), Math.round(g.y * dpr), pw, ph);
    ctx.restore();

    // 3. axes
    ctx.fillStyle = CHART.axis;
    ctx.strokeStyle = CHART.axis;
    ctx.font = CHART.font;
    ctx.lineWidth = 1;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    const tStep = rows > 200 ? 100 : 10;
    for (let t = 0; t < rows; t += tStep) this.tick(ctx, g.x - 4, g.y + ((t + 0.5) / rows) * g.ph, String(t), 'y');
    this.tick(ctx, g.x - 4, g.y + ((rows - 0.5) / rows) * g.ph, String(rows - 1), 'y');
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (const d of [0, 16, 32, 48, 64, 80, 96, 112, D - 1]) {
      if (d >= D) continue;
      this.tick(ctx, g.x + ((d + 0.5) / D) * g.pw, g.y + g.ph + 4, String(d), 'x');
    }
    ctx.font = CHART.labelFont;
    ctx.fillText('dimension', g.x + g.pw / 2, g.y + g.ph + 24);
    ctx.save();
    ctx.translate(14, g.y + g.ph / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = 'middle';
    ctx.fillText('step t', 0, 0);
    ctx.restore();
    // sin | cos halves
    ctx.textBaseline = 'bottom';
    ctx.font = CHART.labelFont;
    ctx.fillText(`sin(t·fᵢ), i = 0 … ${D / 2 - 1}`, g.x + g.pw / 4, g.y - 8);
    ctx.fillText(`cos(t·fᵢ), i = 0 … ${D / 2 - 1}`, g.x + (3 * g.pw) / 4, g.y - 8);
    ctx.strokeStyle = CHART.ink;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(g.x + g.pw / 2, g.y - 6);
    ctx.lineTo(g.x + g.pw / 2, g.y + g.ph);
    ctx.stroke();
    ctx.strokeStyle = CHART.grid;
    ctx.strokeRect(g.x, g.y, g.pw, g.ph);

    // 4. colour bar
    const bx = g.x + g.pw + 22;
    const bw = 14;
    for (let i = 0; i < g.ph; i++) {
      const [R, G, B] = colour(1 - (2 * i) / g.ph);
      ctx.fillStyle = `rgb(${R | 0},${G | 0},${B | 0})`;
      ctx.fillRect(bx, g.y + i, bw, 1.5);
    }
    ctx.strokeStyle = CHART.grid;
    ctx.strokeRect(bx, g.y, bw, g.ph);
    ctx.fillStyle = CHART.axis;
    ctx.font = CHART.font;
    ctx.textAlign = 'left';
    ctx.textBaseline = 'middle';
    for (const v of [1, 0.5, 0, -0.5, -1]) ctx.fillText(v === 0 ? '0' : v > 0 ? `+${v}` : `−${-v}`, bx + bw + 5, g.y + ((1 - v) / 2) * g.ph);
    this.paint();
  }

  private tick(ctx: CanvasRenderingContext2D, x: number, y: number, label: string, axis: 'x' | 'y') {
    ctx.beginPath();
    if (axis === 'y') {
      ctx.moveTo(x, y);
      ctx.lineTo(x + 4, y);
      ctx.stroke();
      ctx.fillText(label, x - 3, y);
    } else {
      ctx.moveTo(x, y - 4);
      ctx.lineTo(x, y);
      ctx.stroke();
      ctx.fillText(label, x, y + 1);
    }
  }

  /** Base image plus the cross-hair and readout. */
  private paint() {
    const c = this.canvas;
    const base = this.base;
    const emb = this.emb;
    if (!base || !emb) return;
    const ctx = c.getContext('2d')!;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(base, 0, 0);
    const cur = this.cursor;
    if (!cur) return;
    const g = this.geom();
    const dpr = window.devicePixelRatio || 1;
    const rows = Math.min(this.rowsShown, emb.rows);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const cx = g.x + ((cur.d + 0.5) / emb.dim) * g.pw;
    const cy = g.y + ((cur.t + 0.5) / rows) * g.ph;
    ctx.strokeStyle = 'rgba(0,0,0,0.75)';
    ctx.lineWidth = 1;
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(g.x, cy);
    ctx.lineTo(g.x + g.pw, cy);
    ctx.moveTo(cx, g.y);
    ctx.lineTo(cx, g.y + g.ph);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.strokeStyle = '#000';
    ctx.lineWidth = 2;
    ctx.strokeRect(cx - 4, cy - 4, 8, 8);
    const v = emb.values[cur.t * emb.dim + cur.d];
    const half = emb.dim / 2;
    const i = cur.d % half;
    const fn = cur.d < half ? 'sin' : 'cos';
    const f = emb.freqs[i];
    this.$<HTMLOutputElement>('.readout').textContent =
      `t = ${cur.t}, dimension ${cur.d} (${fn}, frequency ${fmt(f, 3)}): value ${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(3)}`;
  }

  private hover(e: MouseEvent) {
    const emb = this.emb;
    if (!emb) return;
    const r = this.canvas.getBoundingClientRect();
    const g = this.geom();
    const x = e.clientX - r.left - g.x;
    const y = e.clientY - r.top - g.y;
    if (x < 0 || y < 0 || x >= g.pw || y >= g.ph) {
      this.cursor = null;
      this.paint();
      return;
    }
    const rows = Math.min(this.rowsShown, emb.rows);
    this.cursor = { t: Math.floor((y / g.ph) * rows), d: Math.floor((x / g.pw) * emb.dim) };
    this.paint();
  }

  private key(e: KeyboardEvent) {
    const emb = this.emb;
    if (!emb) return;
    const n = e.shiftKey ? 10 : 1;
    const rows = Math.min(this.rowsShown, emb.rows);
    const cur = this.cursor ?? { t: 0, d: 0 };
    const moves: Record<string, [number, number]> = { ArrowUp: [-n, 0], ArrowDown: [n, 0], ArrowLeft: [0, -n], ArrowRight: [0, n] };
    let next: { t: number; d: number };
    if (e.key in moves) {
      const [dt, dd] = moves[e.key];
      next = this.cursor ? { t: cur.t + dt, d: cur.d + dd } : cur;
    } else if (e.key === 'Home') next = { t: 0, d: cur.d };
    else if (e.key === 'End') next = { t: rows - 1, d: cur.d };
    else return;
    e.preventDefault();
    this.cursor = { t: Math.max(0, Math.min(rows - 1, next.t)), d: Math.max(0, Math.min(emb.dim - 1, next.d)) };
    this.paint();
  }
}

if (!customElements.get('time-embedding-demo')) customElements.define('time-embedding-demo', TimeEmbeddingDemo);
