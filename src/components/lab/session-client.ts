/**
 * The training lab's session with its worker: which state the lab is in (a transition table, so
 * a page bug shows up as an error instead of a stuck button), the run it follows, and the pause
 * protocol. Pausing is: cancel the running `start` task (the worker finishes its current
 * optimizer step and returns), ask `status` for the exact step and loss history reached, then
 * `save` a checkpoint. The pool queues `status` and `save` behind the stopping `start`, so both
 * see the run as it ended. No DOM here: the element renders what this reports.
 */
import type { Pool } from '../../pool/types.ts';
import type { CheckpointMeta, StartArgs, StartResult, TrainProgress, TrainTasks } from '../../contracts/train.ts';

export type LabState = 'idle' | 'starting' | 'training' | 'pausing' | 'paused' | 'stopping' | 'stopped' | 'finished';

/** The states that may follow each state. A restarted worker is `reset()`, from anywhere. */
export const TRANSITIONS: Readonly<Record<LabState, readonly LabState[]>> = {
  idle: ['starting'],
  // Setting up a run fails back to where the lab was (idle, or the run before it, paused or stopped).
  starting: ['training', 'idle', 'paused', 'stopped'],
  training: ['pausing', 'stopping', 'finished', 'stopped', 'idle'],
  pausing: ['paused'],
  stopping: ['stopped'],
  paused: ['starting', 'stopped'],
  stopped: ['starting'],
  finished: ['starting'],
};

export type TrainPool = Pick<Pool<TrainTasks>, 'run'>;

export type TrainOutcome =
  | { kind: 'finished'; result: StartResult }
  /** Cancelled by pause(), which reports. */
  | { kind: 'paused' }
  | { kind: 'error'; error: unknown };

export interface PauseOutcome {
  step: number;
  /** The worker's exact loss history (null when `status` failed: `statusError` says why). */
  history: { losses: number[]; avgs: number[] } | null;
  statusError: unknown;
  saved: CheckpointMeta | null;
  saveError: unknown;
}

const isAbort = (e: unknown) => (e as Error | null)?.name === 'AbortError';

export class LabSession {
  state: LabState = 'idle';
  /** The run living in the worker (null before the first start in this tab). */
  runId: string | null = null;
  runStep = 0;
  runTotal = 0;
  hasRun = false;
  private runCtl: AbortController | null = null;

  constructor(private pool: () => Promise<TrainPool>, private onState: (s: LabState) => void = () => {}) {}

  /** Moves to `next`; throws when the table does not allow it. */
  to(next: LabState): void {
    if (next !== this.state && !TRANSITIONS[this.state].includes(next)) throw new Error(`training lab: no transition from ${this.state} to ${next}`);
    this.state = next;
    this.onState(next);
  }

  /** The worker was replaced: its run is gone (a checkpoint may remain), the lab starts over. */
  reset(): void {
    this.runCtl = null;
    this.hasRun = false;
    this.state = 'idle';
    this.onState('idle');
  }

  /** The page is going away: cancel the running `start` (the worker ends it after its step), report nothing. */
  cancel(): void {
    this.runCtl?.abort();
    this.runCtl = null;
  }

  /** A run is set up, running, or paused: settings and data are fixed. */
  get active(): boolean {
    return ['starting', 'training', 'paused', 'pausing', 'stopping'].includes(this.state);
  }

  /** Where a failed start goes back to. */
  get settled(): LabState {
    return this.hasRun ? 'stopped' : 'idle';
  }

  /** Runs `start` until the planned steps are done, it fails, or pause() cancels it. */
  async train(args: StartArgs, onProgress: (p: TrainProgress) => void): Promise<TrainOutcome> {
    const ctl = new AbortController();
    this.runCtl = ctl;
    let result: StartResult;
    try {
      const pool = await this.pool();
      result = await pool.run('start', args, { signal: ctl.signal, onProgress: (p) => this.onProgress(p, onProgress) });
    } catch (e) {
      if (isAbort(e)) return { kind: 'paused' };
      if (this.runCtl === ctl) this.runCtl = null;
      this.to(this.settled);
      return { kind: 'error', error: e };
    }
    if (this.runCtl !== ctl) return { kind: 'paused' }; // a pause pressed as the run ended: pause() reports
    this.runCtl = null;
    this.runStep = result.step;
    this.to('finished');
    return { kind: 'finished', result };
  }

  private onProgress(p: TrainProgress, forward: (p: TrainProgress) => void): void {
    if (p.kind === 'begin') {
      this.runId = p.run.runId;
      this.hasRun = true;
      this.runStep = p.run.step;
      this.runTotal = p.run.totalSteps;
    } else if (p.kind === 'step') {
      this.runStep = p.step;
    }
    forward(p);
    if (p.kind === 'begin') this.to('training');
  }

  /**
   * Pause (or stop) the running run: abort → status → save. Null when there is nothing to pause.
   * Stopping a paused run needs no worker: it only offers a new run instead of Resume.
   */
  async pause(to: 'paused' | 'stopped'): Promise<PauseOutcome | null> {
    if (this.state === 'paused' && to === 'stopped') {
      this.to('stopped');
      return { step: this.runStep, history: null, statusError: null, saved: null, saveError: null };
    }
    if (this.state !== 'training' || !this.runCtl) return null;
    this.to(to === 'paused' ? 'pausing' : 'stopping');
    const ctl = this.runCtl;
    this.runCtl = null;
    ctl.abort();
    const pool = await this.pool();
    const out: PauseOutcome = { step: this.runStep, history: null, statusError: null, saved: null, saveError: null };
    try {
      const st = await pool.run('status');
      // The step running when we cancelled finished after its progress stopped reaching us.
      if (st) {
        out.step = st.step;
        out.history = { losses: Array.from(st.losses), avgs: Array.from(st.lossAvgs) };
      }
    } catch (e) {
      out.statusError = e;
    }
    this.runStep = out.step;
    try {
      out.saved = await pool.run('save');
    } catch (e) {
      out.saveError = e;
    }
    this.to(to);
    return out;
  }
}
