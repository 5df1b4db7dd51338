/**
 * The page side of generating: one client per demo, owning its Stop button's AbortController,
 * the model pool (loaded on first use, so tfjs stays out of the page until a reader asks), the
 * split of the worker's progress into download / decode / step, and the outcome a demo shows.
 * GenerateDemo, SamplerCompare and GuidanceDemo run through it.
 */
import type { BackendChoice, BackendInfo } from '../../contracts/backend.ts';
import type { DownloadProgress, GenerateArgs, GenerateProgress, GenerateResult, StepProgress } from '../../contracts/model.ts';
import { describeError } from './model-client.ts';

export interface ProgressHandlers {
  download?: (p: DownloadProgress) => void;
  decode?: () => void;
  step?: (p: StepProgress) => void;
}

/** What a run's work may call; every call is cancelled by the client's stop(). */
export interface RunContext {
  generate(args: GenerateArgs, on?: ProgressHandlers): Promise<GenerateResult>;
  init(backend: BackendChoice): Promise<BackendInfo>;
}

export type RunOutcome<T> =
  | { kind: 'done'; value: T }
  | { kind: 'stopped' }
  | { kind: 'error'; message: string };

async function modelPool() {
  return (await import('./pools.ts')).modelPool();
}

/** Sends each progress value to the handler of its phase. */
export function routeProgress(on: ProgressHandlers): (u: GenerateProgress) => void {
  return (u) => {
    if (u.phase === 'step') on.step?.(u);
    else if (u.phase === 'decode') on.decode?.();
    else on.download?.(u);
  };
}

export class GenerationClient {
  private controller: AbortController | null = null;

  get busy(): boolean {
    return this.controller !== null;
  }

  /** Cancels the run in progress (its current network call finishes first, in the worker). */
  stop(): void {
    this.controller?.abort();
  }

  /**
   * Runs `work` under one stop button; null when a run is already going (the click is ignored).
   * Never throws: a stop is `stopped`, anything else an `error` with the sentence to show.
   */
  async run<T>(work: (ctx: RunContext) => Promise<T>): Promise<RunOutcome<T> | null> {
    if (this.controller) return null;
    const controller = new AbortController();
    this.controller = controller;
    const signal = controller.signal;
    try {
      const pool = await modelPool();
      const ctx: RunContext = {
        generate: (args, on = {}) => pool.run('generate', args, { signal, onProgress: routeProgress(on) }),
        init: (backend) => pool.run('init', { backend }, { signal }),
      };
      return { kind: 'done', value: await work(ctx) };
    } catch (e) {
      if ((e as { name?: string })?.name === 'AbortError') return { kind: 'stopped' };
      return { kind: 'error', message: describeError(e) };
    } finally {
      if (this.controller === controller) this.controller = null;
    }
  }
}
