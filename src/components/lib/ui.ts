/** Small page helpers the demos share: starting work when a demo nears the viewport, status lines, run state, and text formatters. */

/** Starts `fn` once when `el` comes near the viewport (or at once without IntersectionObserver); returns a disposer. */
export function whenVisible(el: Element, fn: () => void, rootMargin = '300px'): () => void {
  if (typeof IntersectionObserver !== 'function') {
    fn();
    return () => {};
  }
  const io = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) {
      io.disconnect();
      fn();
    }
  }, { rootMargin });
  io.observe(el);
  return () => io.disconnect();
}

/** Setters for a demo's status line (`.status`) and error line (`.error`), looked up inside `root` at each call. */
export function statusLines(root: ParentNode): { setStatus(text: string): void; setError(text: string): void } {
  const line = (sel: string) => (text: string) => {
    root.querySelector<HTMLElement>(sel)!.textContent = text;
  };
  return { setStatus: line('.status'), setError: line('.error') };
}

export type RunState = 'idle' | 'running' | 'done' | 'stopped' | 'error';

/** Shows a run-and-stop demo's state: data-state, aria-busy, and its Run and Stop buttons ([data-action=run|stop]) enabled to match. */
export function showRunState(el: HTMLElement, s: RunState): void {
  el.dataset.state = s;
  el.querySelector<HTMLButtonElement>('[data-action=run]')!.disabled = s === 'running';
  el.querySelector<HTMLButtonElement>('[data-action=stop]')!.disabled = s !== 'running';
  el.setAttribute('aria-busy', String(s === 'running'));
}

export function fmtDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '–';
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

/** "3 minutes ago", from a time in ms since the epoch. */
export function fmtAgo(ms: number, now = Date.now()): string {
  const s = (now - ms) / 1000;
  const rtf = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
  if (s < 60) return rtf.format(-Math.round(s), 'second');
  if (s < 3600) return rtf.format(-Math.round(s / 60), 'minute');
  if (s < 86400) return rtf.format(-Math.round(s / 3600), 'hour');
  return rtf.format(-Math.round(s / 86400), 'day');
}

/** "14:05" */
export function fmtClock(ms: number): string {
  return new Date(ms).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
}

/** "Nov 30, 2026, 2:05 PM" */
export function fmtWhen(ms: number): string {
  return new Date(ms).toLocaleString('en', { dateStyle: 'medium', timeStyle: 'short' });
}
