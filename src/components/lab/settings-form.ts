/**
 * The training lab's settings form: what a new run asks for, what a resumed run had, and the
 * defaults that follow from the choices (fine-tuning fixes the width and lowers the learning
 * rate; a CPU backend gets CPU-sized settings unless the reader already chose).
 */
import { DEFAULT_SAVE_EVERY, type StartArgs } from '../../contracts/train.ts';
import { SHIPPED_MODELS } from '../../core/shipped-models.ts';
import { WEIGHTS } from '../lib/site.ts';

type Field = HTMLInputElement | HTMLSelectElement;

export class SettingsForm {
  /** Fields the reader changed: suggestions never overwrite them. */
  readonly touched = new Set<string>();

  constructor(private form: HTMLFormElement) {
    for (const name of ['width', 'batch', 'lr', 'steps', 'sampleEvery']) this.field(name).addEventListener('change', () => this.touched.add(name));
    this.field('init').addEventListener('change', () => {
      this.touched.add('init');
      this.syncInit(true);
    });
    this.syncInit(true); // fine-tuning (the default) starts at lr 1e-4, not the from-scratch 1e-3
  }

  field<T extends Field = HTMLInputElement>(name: string): T {
    return this.form.elements.namedItem(name) as T;
  }

  get fineTune(): boolean {
    return this.field<HTMLSelectElement>('init').value === 'shipped';
  }

  /** Fine-tuning fixes the width (the shipped model's) and wants a gentle learning rate. */
  syncInit(adjust: boolean): void {
    const width = this.field<HTMLSelectElement>('width');
    width.disabled = this.fineTune;
    if (this.fineTune) width.value = String(SHIPPED_MODELS.small.width);
    if (adjust && !this.touched.has('lr')) this.field('lr').value = this.fineTune ? '1e-4' : '1e-3';
  }

  /** CPU-sized settings, for the fields the reader has not chosen (before the first run). */
  suggestForCpu(): void {
    const set = (name: string, v: string) => {
      if (!this.touched.has(name)) this.field(name).value = v;
    };
    if (!this.fineTune) set('width', '0.125');
    set('batch', '8');
    set('steps', '300');
    set('sampleEvery', '25');
  }

  /** What a new run asks the worker for (numbers clamped into the form's ranges, and written back). */
  settings(): Omit<StartArgs, 'resume' | 'saveChannel' | 'dataManifest'> {
    const num = (name: string, min: number, max: number, dflt: number) => {
      const el = this.field(name);
      const v = Math.round(Number(el.value));
      const out = Number.isFinite(v) ? Math.min(max, Math.max(min, v)) : dflt;
      el.value = String(out);
      return out;
    };
    return {
      ...(this.fineTune ? { init: { url: WEIGHTS.small.dir, label: 'the shipped small model' } } : {}),
      width: Number(this.field('width').value),
      batch: Number(this.field('batch').value),
      lr: Number(this.field('lr').value),
      steps: num('steps', 10, 100000, 1000),
      sampleEvery: num('sampleEvery', 0, 10000, 50),
      saveEvery: DEFAULT_SAVE_EVERY,
    };
  }

  /** Shows a resumed run's settings (adding an option a menu lacks). */
  applyRun(r: { width: number; batch: number; lr: number; totalSteps: number; sampleEvery: number }): void {
    const setSel = (name: string, v: number) => {
      const el = this.field<HTMLSelectElement>(name);
      const match = [...el.options].find((o) => Number(o.value) === v);
      if (!match) {
        const o = document.createElement('option');
        o.value = String(v);
        o.textContent = String(v);
        el.append(o);
      }
      el.value = match ? match.value : String(v);
    };
    setSel('width', r.width);
    setSel('batch', r.batch);
    setSel('lr', r.lr);
    this.field('steps').value = String(r.totalSteps);
    this.field('sampleEvery').value = String(r.sampleEvery);
  }
}
