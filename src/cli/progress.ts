/**
 * A small progress bar for the CLI. On a TTY it redraws one line in place (at most ~10 times
 * a second); elsewhere (CI logs, pipes) it prints a plain line every ~5% of the total or every
 * 10 s, whichever comes first, so logs stay short but never go silent.
 *
 *   const bar = progress({ total: bytes, label: 'download', unit: 'B' });
 *   bar.tick(chunk.length);
 *   bar.done();
 */

export type ProgressUnit = 'B' | 'img' | 'step';

/** The parts of a writable stream the bar uses (process.stderr fits). */
export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** Total amount of work; 0 or undefined when unknown (then no percentage/ETA). */
  total?: number;
  label?: string;
  unit?: ProgressUnit;
  /** Where to draw; process.stderr by default. */
  stream?: ProgressStream;
  /** Overrides stream.isTTY. */
  tty?: boolean;
  /** Clock in ms (for tests); Date.now by default. */
  now?: () => number;
  /** Non-TTY: print at least this often (ms); default 10 000. */
  logIntervalMs?: number;
  /** Non-TTY: print every time this fraction of the total is crossed; default 0.05. */
  logFraction?: number;
}

export interface ProgressBar {
  /** Adds `n` (default 1) to the amount done; `extra` is shown at the end of the line. */
  tick(n?: number, extra?: string): void;
  /** Sets the amount done. */
  update(done: number, extra?: string): void;
  /** Draws the final line (always) and ends it with a newline. */
  done(extra?: string): void;
  readonly value: number;
}

const IEC = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '? B';
  let v = Math.abs(n);
  let i = 0;
  while (v >= 1024 && i < IEC.length - 1) {
    v /= 1024;
    i++;
  }
  const sign = n < 0 ? '-' : '';
  if (i === 0) return `${sign}${Math.round(v)} B`;
  return `${sign}${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${IEC[i]}`;
}

/** Seconds → "0:07", "12:34", "1:02:03". */
export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '?';
  const s = Math.round(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function formatAmount(n: number, unit: ProgressUnit): string {
  return unit === 'B' ? formatBytes(n) : formatCount(n);
}

/** A rate in units per second, e.g. "2.10 MiB/s", "1,234 img/s", "3.2 s/step". */
export function formatRate(perSec: number, unit: ProgressUnit): string {
  if (!Number.isFinite(perSec) || perSec <= 0) return `-- ${unit}/s`;
  if (unit === 'B') return `${formatBytes(perSec)}/s`;
  if (perSec < 1) return `${(1 / perSec).toFixed(perSec < 0.1 ? 0 : 1)} s/${unit}`;
  const v = perSec >= 100 ? formatCount(perSec) : perSec.toFixed(perSec >= 10 ? 1 : 2);
  return `${v} ${unit}/s`;
}

export function progress(opts: ProgressOptions = {}): ProgressBar {
  const stream: ProgressStream = opts.stream ?? process.stderr;
  const tty = opts.tty ?? stream.isTTY === true;
  const now = opts.now ?? Date.now;
  const unit: ProgressUnit = opts.unit ?? 'step';
  const label = opts.label ?? '';
  const total = opts.total !== undefined && opts.total > 0 ? opts.total : 0;
  const logIntervalMs = opts.logIntervalMs ?? 10_000;
  const logFraction = opts.logFraction ?? 0.05;

  const start = now();
  let value = 0;
  let extraText = '';
  let finished = false;
  let lastDraw = -Infinity;
  let lastLogTime = start;
  let lastLogBucket = 0;
  let lastLen = 0;

  function line(withBar: boolean): string {
    const elapsed = (now() - start) / 1000;
    const rate = elapsed > 0 ? value / elapsed : 0;
    const parts: string[] = [];
    if (label) parts.push(label);
    if (total > 0) {
      const frac = Math.min(1, value / total);
      if (withBar) {
        const width = 20;
        const full = Math.floor(frac * width);
        parts.push(`[${'#'.repeat(full)}${'.'.repeat(width - full)}]`);
      }
      parts.push(`${(frac * 100).toFixed(0).padStart(3)}%`);
      const amount =
        unit === 'B'
          ? `${formatBytes(value)}/${formatBytes(total)}`
          : `${formatCount(value)}/${formatCount(total)} ${unit}`;
      parts.push(amount);
    } else {
      parts.push(unit === 'B' ? formatBytes(value) : `${formatCount(value)} ${unit}`);
    }
    parts.push(formatRate(rate, unit));
    let times = `elapsed ${formatDuration(elapsed)}`;
    if (!finished && total > 0) {
      times += `, ETA ${rate > 0 ? formatDuration(Math.max(0, total - value) / rate) : '?'}`;
    }
    parts.push(times);
    if (extraText) parts.push(extraText);
    return parts.join('  ');
  }

  function drawTTY(force: boolean): void {
    const t = now();
    if (!force && t - lastDraw < 100) return;
    lastDraw = t;
    let s = line(true);
    const cols = stream.columns;
    if (cols !== undefined && cols > 10 && s.length > cols - 1) s = s.slice(0, cols - 1);
    const pad = lastLen > s.length ? ' '.repeat(lastLen - s.length) : '';
    lastLen = s.length;
    stream.write(`\r${s}${pad}`);
  }

  function maybeLog(): void {
    const t = now();
    let due = t - lastLogTime >= logIntervalMs;
    if (total > 0 && logFraction > 0) {
      const bucket = Math.floor(Math.min(1, value / total) / logFraction + 1e-9);
      if (bucket > lastLogBucket) {
        lastLogBucket = bucket;
        due = true;
      }
    }
    // The final 100% line comes from done().
    if (due && !(total > 0 && value >= total)) {
      lastLogTime = t;
      stream.write(`${line(false)}\n`);
    }
  }

  const bar: ProgressBar = {
    tick(n = 1, extra?: string) {
      bar.update(value + n, extra);
    },
    update(done: number, extra?: string) {
      if (finished) return;
      value = done;
      if (extra !== undefined) extraText = extra;
      if (tty) drawTTY(total > 0 && value >= total);
      else maybeLog();
    },
    done(extra?: string) {
      if (finished) return;
      if (extra !== undefined) extraText = extra;
      finished = true;
      if (tty) {
        drawTTY(true);
        stream.write('\n');
      } else {
        stream.write(`${line(false)}\n`);
      }
    },
    get value() {
      return value;
    },
  };
  if (tty) drawTTY(true);
  return bar;
}
