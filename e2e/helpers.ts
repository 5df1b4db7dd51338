/**
 * Shared helpers for the e2e specs.
 *
 *   const errors = collectConsoleErrors(page);   // before page.goto
 *   …
 *   errors.check();                               // fails the test if any console error / page error happened
 *
 *   const px = await canvasPixels(page, 'generate-demo canvas.sample');
 *   expect(px.std).toBeGreaterThan(10);
 *
 *   await waitForDemoIdle(page, 'generate-demo');
 */
import { expect, type Page, type Locator } from '@playwright/test';

export interface ConsoleErrors {
  /** Every console error and uncaught page error so far, as readable lines. */
  readonly errors: string[];
  /** Fails the test (expect) when there is any error not matched by `ignore`. */
  check(message?: string): void;
  /** Forgets the errors collected so far (e.g. after a step that is expected to log one). */
  clear(): void;
}

export interface CollectOptions {
  /** Errors to tolerate (matched against the message text). */
  ignore?: RegExp[];
}

/**
 * Records console errors (`console.error`, failed resource loads that Chromium logs as errors)
 * and uncaught exceptions / unhandled rejections on the page. Call before `page.goto`.
 */
export function collectConsoleErrors(page: Page, opts: CollectOptions = {}): ConsoleErrors {
  const errors: string[] = [];
  const ignored = (text: string) => (opts.ignore ?? []).some((re) => re.test(text));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    if (ignored(text)) return;
    const loc = msg.location();
    errors.push(`console.error: ${text}${loc.url ? ` (${loc.url}:${loc.lineNumber})` : ''}`);
  });
  page.on('pageerror', (err) => {
    const text = `${err.name}: ${err.message}`;
    if (ignored(text)) return;
    errors.push(`pageerror: ${text}`);
  });
  return {
    errors,
    check(message = 'console errors and page errors') {
      expect(errors, message).toEqual([]);
    },
    clear() {
      errors.length = 0;
    },
  };
}

export interface CanvasPixels {
  width: number;
  height: number;
  /** RGBA bytes, row-major, width × height × 4. */
  data: number[];
  /** Mean and standard deviation of the R, G and B values (0–255) of all pixels. */
  mean: number;
  std: number;
  /**
   * Fraction of pixels that are not blank. Blank = fully transparent, pure white or pure black
   * (what an untouched or cleared canvas holds).
   */
  nonBlank: number;
}

/**
 * Reads a canvas' pixels (the first match of `selector`, or the canvas itself if `selector`
 * is a Locator). Works for any canvas (2D or WebGL with a preserved buffer) by drawing it onto
 * a scratch 2D canvas of the same size and reading that, so the page's own context is untouched.
 */
export async function canvasPixels(page: Page, selector: string | Locator): Promise<CanvasPixels> {
  const loc = typeof selector === 'string' ? page.locator(selector).first() : selector;
  await expect(loc, `canvas ${String(selector)}`).toBeAttached();
  return loc.evaluate((el) => {
    if (!(el instanceof HTMLCanvasElement)) throw new Error(`canvasPixels: matched a <${el.tagName.toLowerCase()}>, not a <canvas>`);
    const { width, height } = el;
    if (width === 0 || height === 0) return { width, height, data: [], mean: 0, std: 0, nonBlank: 0 };
    const scratch = document.createElement('canvas');
    scratch.width = width;
    scratch.height = height;
    const ctx = scratch.getContext('2d', { willReadFrequently: true })!;
    ctx.drawImage(el, 0, 0);
    const d = ctx.getImageData(0, 0, width, height).data;
    let sum = 0;
    let sq = 0;
    let nonBlank = 0;
    const n = width * height;
    for (let i = 0; i < d.length; i += 4) {
      const r = d[i]!, g = d[i + 1]!, b = d[i + 2]!, a = d[i + 3]!;
      sum += r + g + b;
      sq += r * r + g * g + b * b;
      const blank = a === 0 || (r === 255 && g === 255 && b === 255) || (r === 0 && g === 0 && b === 0);
      if (!blank) nonBlank++;
    }
    const mean = sum / (3 * n);
    const std = Math.sqrt(Math.max(0, sq / (3 * n) - mean * mean));
    return { width, height, data: Array.from(d), mean, std, nonBlank: nonBlank / n };
  });
}

export interface IdleOptions {
  timeout?: number;
  /** Fail at once if the demo shows an error (a non-empty role="alert" inside it). Default true. */
  failOnError?: boolean;
}

/**
 * Waits until a demo (custom element or any root matching `selector`) is idle: attached, not
 * `aria-busy="true"` itself or anywhere inside, and its `data-state` (if any) is not one of
 * loading / running / busy / queued. Throws with the demo's error text if it shows a
 * role="alert" message first (unless failOnError is false).
 */
export async function waitForDemoIdle(page: Page, selector: string | Locator, opts: IdleOptions = {}): Promise<void> {
  const root = typeof selector === 'string' ? page.locator(selector).first() : selector;
  const timeout = opts.timeout ?? 120_000;
  const failOnError = opts.failOnError ?? true;
  await expect(root).toBeAttached({ timeout });
  const deadline = Date.now() + timeout;
  for (;;) {
    const s = await root.evaluate((el) => {
      const busyStates = ['loading', 'running', 'busy', 'queued', 'starting', 'training', 'generating'];
      const busy =
        el.getAttribute('aria-busy') === 'true' ||
        el.querySelector('[aria-busy="true"]') !== null ||
        busyStates.includes((el as HTMLElement).dataset.state ?? '');
      const alerts = [...el.querySelectorAll('[role="alert"]')]
        .filter((a) => !(a as HTMLElement).hidden && (a.textContent ?? '').trim() !== '')
        .map((a) => (a.textContent ?? '').trim());
      return { busy, alerts, state: (el as HTMLElement).dataset.state ?? null };
    });
    if (failOnError && s.alerts.length) throw new Error(`demo ${String(selector)} shows an error: ${s.alerts.join(' | ')}`);
    if (!s.busy) return;
    if (Date.now() > deadline) throw new Error(`demo ${String(selector)} still busy after ${timeout} ms (state ${s.state ?? 'n/a'})`);
    await page.waitForTimeout(250);
  }
}
