/**
 * What the training lab shows while a run goes: the status and error lines, the numbers beside
 * the chart, the progress bar, the EMA samples, the backend line with its CPU notice, and the
 * data-* attributes the tests read. Only rendering: the session client decides what happens.
 */
import { SAMPLE_N, SAMPLE_STEPS, type CheckpointMeta, type TrainProgress } from '../../contracts/train.ts';
import type { BackendInfo } from '../../contracts/backend.ts';
import { fmtBytes } from '../lib/model-client.ts';
import { fmt, putRGBA } from '../lib/explain.ts';
import { fmtClock, fmtDuration } from '../lib/ui.ts';

type StepProgress = Extract<TrainProgress, { kind: 'step' }>;
type BeginProgress = Extract<TrainProgress, { kind: 'begin' }>;

export class LiveView {
  backend: BackendInfo | null = null;
  /** The device the CPU notice names, and the speed measured on it (images per second). */
  private slowWhat = '';
  private measuredIps: number | null = null;

  constructor(private root: HTMLElement) {
    const host = this.q('[data-samples]');
    for (let i = 0; i < SAMPLE_N; i++) {
      const c = document.createElement('canvas');
      c.width = 32;
      c.height = 32;
      c.setAttribute('role', 'img');
      c.setAttribute('aria-label', `Sample ${i + 1} of ${SAMPLE_N} from the EMA weights (none yet)`);
      host.append(c);
    }
  }

  q<T extends Element = HTMLElement>(sel: string): T {
    return this.root.querySelector(sel) as T;
  }
  status(text: string): void {
    this.q('[data-status]').textContent = text;
  }
  error(text: string): void {
    this.q('[data-error]').textContent = text;
  }
  notice(text: string): void {
    this.q('[data-notice]').textContent = text;
  }
  stat(name: string, text: string): void {
    this.q(`[data-stat=${name}]`).textContent = text;
  }
  outStatus(text: string): void {
    this.q('[data-out-status]').textContent = text;
  }
  saved(meta: Pick<CheckpointMeta, 'step' | 'savedAt'>): void {
    this.stat('saved', `step ${meta.step} (${fmtClock(meta.savedAt)})`);
    this.root.dataset.savedStep = String(meta.step);
  }

  /** The step counter, the bar and the line under it. */
  position(step: number, total: number, line = `step ${step} of ${total}`): void {
    this.root.dataset.step = String(step);
    this.stat('step', `${step.toLocaleString('en-US')} / ${total.toLocaleString('en-US')}`);
    this.q<HTMLProgressElement>('[data-progress]').value = total ? step / total : 0;
    this.q('[data-step-text]').textContent = line;
  }

  begin(p: BeginProgress): void {
    this.root.dataset.runId = p.run.runId;
    this.root.dataset.step = String(p.run.step);
    const from = p.resumedFrom === 'memory' ? `Resumed at step ${p.run.step}` : p.resumedFrom === 'checkpoint' ? `Resumed from the checkpoint at step ${p.run.step}` : 'Training';
    this.status(`${from}: SimpleUNet width ${p.run.width} (${p.run.params.toLocaleString('en-US')} parameters) on ${p.run.data.label}, batch ${p.run.batch}, ${p.run.totalSteps} steps, on ${p.backend.label}.`);
    this.stat('step', `${p.run.step} / ${p.run.totalSteps}`);
    if (p.run.lastSaved) this.stat('saved', `step ${p.run.lastSaved.step} (${fmtClock(p.run.lastSaved.at)})`);
    this.q('[data-step-text]').textContent = p.run.step ? '' : 'first step (sets up the kernels; slower)…';
  }

  step(p: StepProgress): void {
    this.position(p.step, p.totalSteps, `step ${p.step} of ${p.totalSteps} · lr ${fmt(p.lr, 2)}`);
    this.stat('loss', fmt(p.lossAvg, 4));
    this.stat('ips', p.imgPerSec >= 10 ? p.imgPerSec.toFixed(0) : p.imgPerSec.toFixed(1));
    this.stat('eta', fmtDuration(p.etaS));
    if (this.root.dataset.cpuOnly === 'true' && p.step % 10 === 0 && p.imgPerSec > 0) {
      this.measuredIps = p.imgPerSec;
      this.slowNotice();
    }
    this.stat('mem', fmtBytes(p.memoryBytes));
    const d = this.root.dataset;
    if (p.peakBytes !== undefined) {
      this.stat('peak', fmtBytes(p.peakBytes));
      d.peakBytes = String(p.peakBytes);
    }
    d.imgPerSec = p.imgPerSec.toFixed(2);
    d.stepMs = p.stepMs.toFixed(0);
    d.lossMs = p.lossMs.toFixed(0);
    d.memoryBytes = String(p.memoryBytes);
    d.loss = String(p.loss);
    if (p.samples) this.samples(p.samples, p.step, p.sampleMs);
  }

  private samples(rgba: Uint8ClampedArray, step: number, ms?: number): void {
    this.q('[data-samples]').querySelectorAll('canvas').forEach((c, i) => {
      putRGBA(c, rgba, 32, 32, i * 4096);
      c.setAttribute('aria-label', `Sample ${i + 1} of ${SAMPLE_N} from the EMA weights at step ${step}`);
    });
    this.root.dataset.sampleStep = String(step);
    this.q('[data-samples-caption]').textContent = `EMA weights at step ${step.toLocaleString('en-US')}: DDIM, ${SAMPLE_STEPS} steps, the same starting noise each time${ms ? ` (${(ms / 1000).toFixed(1)} s)` : ''}.`;
  }

  /** The backend line; true when training runs on a CPU (or a CPU emulation of a GPU). */
  showBackend(b: BackendInfo): boolean {
    if (this.backend?.backend !== b.backend) this.measuredIps = null;
    this.backend = b;
    this.q('[data-backend-label]').textContent = b.label;
    this.q('[data-backend-reason]').textContent = `— ${b.reason}.`;
    this.root.dataset.backend = b.backend;
    const cpu = b.backend === 'wasm' || b.backend === 'cpu' || !!b.software;
    this.root.dataset.cpuOnly = String(cpu);
    if (cpu) {
      this.slowWhat = b.software ? `${b.backend === 'webgpu' ? 'WebGPU' : 'WebGL'} on ${b.adapter ?? 'a software renderer'}, a CPU emulation of a GPU` : b.label;
      this.slowNotice();
    } else {
      this.q('[data-slow-notice]').textContent = '';
    }
    return cpu;
  }

  private slowNotice(): void {
    const speed = this.measuredIps === null
      ? 'the images per second it reaches show up under Images per second once a run starts'
      : `measured here: ${this.measuredIps >= 10 ? this.measuredIps.toFixed(0) : this.measuredIps.toFixed(1)} images per second`;
    this.q('[data-slow-notice]').textContent = `Training runs on the CPU here: ${this.slowWhat}. It works, but slowly (${speed}). `
      + 'Fine-tuning the shipped model shows its samples '
      + 'move toward your data within a few minutes; from scratch, width 0.125 and batch 8 still show the loss falling, but the samples stay noise.';
  }
}
