/**
 * Small page-side helpers shared by the explainer demos (schedule, forward diffusion, time
 * embedding, loss curve). Rendering only: every number they draw comes from a worker task.
 */
import type uPlotType from 'uplot';

/** Draws RGBA bytes (w×h, starting at `offset`) into a canvas of that size. */
export function putRGBA(canvas: HTMLCanvasElement, rgba: Uint8ClampedArray, w = 32, h = 32, offset = 0): void {
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const g = canvas.getContext('2d');
  if (!g) return;
  const px = new Uint8ClampedArray(rgba.buffer, rgba.byteOffset + offset, w * h * 4);
  g.putImageData(new ImageData(new Uint8ClampedArray(px), w, h), 0, 0);
}

/** A readable message from anything thrown. */
export function message(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}

let uplot: Promise<typeof uPlotType> | null = null;
/** uPlot, loaded on first use (its CSS is imported by each chart component). */
export function loadUPlot(): Promise<typeof uPlotType> {
  return (uplot ??= import('uplot').then((m) => m.default));
}

/** Whether the reader's system asks for dark colours (charts are drawn once, in the scheme of the moment). */
export const prefersDark = () => typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: dark)').matches;

/** Site colours for charts (kept in step with src/styles/global.css), light or dark as the page is. */
export const CHART = {
  font: '12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  labelFont: '600 12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  get axis() { return prefersDark() ? '#a9b1bc' : '#555d68'; },
  get grid() { return prefersDark() ? 'rgba(255,255,255,0.10)' : 'rgba(0,0,0,0.07)'; },
  get blue() { return prefersDark() ? '#7fb0ff' : '#1f5fbf'; },
  get orange() { return prefersDark() ? '#f39a5c' : '#c2570c'; },
  get grey() { return prefersDark() ? '#7d8794' : '#9aa3ae'; },
  /** Plain text and strokes drawn on a chart panel. */
  get ink() { return prefersDark() ? '#e4e7ec' : '#1d2127'; },
  /** The panel behind a chart. */
  get paper() { return prefersDark() ? '#11141a' : '#ffffff'; },
};

/** An axis in the site's style. */
export function axis(label: string, extra: Partial<uPlotType.Axis> = {}): uPlotType.Axis {
  return {
    label,
    stroke: CHART.axis,
    font: CHART.font,
    labelFont: CHART.labelFont,
    grid: { stroke: CHART.grid, width: 1 },
    ticks: { stroke: CHART.grid, width: 1 },
    ...extra,
  };
}

/** Keeps a uPlot chart as wide as its container; returns a stop function. */
export function fitWidth(plot: uPlotType, container: HTMLElement, height: number): () => void {
  const fit = () => {
    const w = Math.max(240, Math.floor(container.clientWidth));
    if (Math.abs(w - plot.width) > 1) plot.setSize({ width: w, height });
  };
  const ro = new ResizeObserver(fit);
  ro.observe(container);
  return () => ro.disconnect();
}

const SUPERSCRIPT: Record<string, string> = { '-': '⁻', '0': '⁰', '1': '¹', '2': '²', '3': '³', '4': '⁴', '5': '⁵', '6': '⁶', '7': '⁷', '8': '⁸', '9': '⁹' };

/** Compact number formatting for readouts (plain, fixed or scientific as the size asks). */
export function fmt(v: number | null | undefined, digits = 4): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a < 1e-3 || a >= 1e5) {
    const [m, e] = v.toExponential(Math.max(1, digits - 2)).split('e');
    return `${m}×10${sup(Number(e))}`;
  }
  if (a >= 10 ** digits) return String(Math.round(v));
  return v.toPrecision(digits).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
}

function sup(n: number): string {
  return String(n).replace(/[-0-9]/g, (c) => SUPERSCRIPT[c] ?? c);
}

/** Tick positions for a log axis: every decade (or every k-th when there are many), with 2 and 5 added when the range is short. */
export function logSplits(min: number, max: number, maxTicks = 8): number[] {
  if (!(min > 0) || !(max > min)) return [];
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const inRange = (v: number) => v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9);
  const out: number[] = [];
  if (hi - lo <= 2) {
    for (let e = lo; e <= hi; e++) for (const m of [1, 2, 5]) if (inRange(m * 10 ** e)) out.push(m * 10 ** e);
    if (out.length >= 3) return out;
    // A narrow range (less than a factor of ~4): evenly spaced round numbers instead.
    const raw = (max - min) / 4;
    const p = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((m) => m * p).find((v) => v >= raw) ?? 10 * p;
    const lin: number[] = [];
    for (let v = Math.ceil(min / step) * step; v <= max * (1 + 1e-9); v += step) lin.push(Number(v.toPrecision(12)));
    return lin;
  }
  const step = Math.ceil((hi - lo + 1) / maxTicks);
  for (let e = lo; e <= hi; e++) if (((e % step) + step) % step === 0 && inRange(10 ** e)) out.push(10 ** e);
  return out;
}

/** Labels for log-axis ticks: 0.001 … 1000 written out, other powers of ten as 10ⁿ. */
export function logTick(v: number | null): string {
  if (v === null || !(v > 0)) return '';
  const e = Math.log10(v);
  if (Math.abs(e - Math.round(e)) < 1e-9) {
    const n = Math.round(e);
    if (n >= -3 && n <= 3) return n < 0 ? v.toFixed(-n) : String(10 ** n);
    return `10${sup(n)}`;
  }
  return fmt(v, 2);
}
