/** The generation demo's custom element (<generate-demo>): form state, the model pool, the drawing. Markup: demos/GenerateDemo.astro. */
import type { Pool } from '../../pool/types.ts';
import type { ModelTasks } from '../../contracts/model.ts';
import { GenerationClient } from '../lib/generation-client.ts';
import type { BackendChoice, BackendInfo } from '../../contracts/backend.ts';
import { defaultSteps, MAX_SAMPLING_STEPS, type SamplerName } from '../../core/sampling-defaults.ts';
import { transfer } from 'comlink';
import { MAX_PAGE_FILE_BYTES as MAX_DROPPED_BYTES } from '../../core/weights/limits.ts';
import { describeError, drawImages, fmtBytes, fmtMs, makeCanvases, sourceFor, type ModelChoice } from '../lib/model-client.ts';
import { whenVisible } from '../lib/ui.ts';
import { CLASS_NAMES } from '../../core/data/cifar.ts';
import { numParam, readUrlState, selectParam, writeUrlState } from '../lib/url-state.ts';

/** Images per class in the ten-class grid (the worker draws at most 64 per run). */
const GRID_PER_CLASS_MAX = 4;

type State = 'idle' | 'loading' | 'running' | 'done' | 'stopped' | 'error';

async function pool(): Promise<Pool<ModelTasks>> {
  const { modelPool } = await import('../lib/pools.ts');
  return modelPool();
}

class GenerateDemo extends HTMLElement {
  private form!: HTMLFormElement;
  private client = new GenerationClient();
  private lab: { idbKey: string; label: string } | null = null;
  /** A file the reader dropped, once the model worker loaded it. */
  private file: { fileKey: string; label: string } | null = null;
  /** The lab saved new weights since the last run (possibly under the same key). */
  private labChanged = false;
  private backendRequested: BackendChoice | null = null;
  private off: Array<() => void> = [];
  private q<T extends Element>(sel: string): T {
    return this.querySelector(sel) as T;
  }

  connectedCallback(): void {
    if (this.form) return;
    this.form = this.q('form');
    const f = this.form.elements;
    const sampler = f.namedItem('sampler') as HTMLSelectElement;
    const eta = f.namedItem('eta') as HTMLInputElement;
    const backend = f.namedItem('backend') as HTMLSelectElement;
    const fromUrl = this.applyUrlState();
    this.layout();
    this.syncSampler(false);
    (f.namedItem('etaOut') as HTMLOutputElement).value = Number(eta.value).toFixed(1);
    sampler.addEventListener('change', () => this.syncSampler(true));
    eta.addEventListener('input', () => ((f.namedItem('etaOut') as HTMLOutputElement).value = Number(eta.value).toFixed(1)));
    const guidance = f.namedItem('guidance') as HTMLInputElement;
    guidance.addEventListener('input', () => ((f.namedItem('guidanceOut') as HTMLOutputElement).value = Number(guidance.value).toFixed(1)));
    (f.namedItem('n') as HTMLSelectElement).addEventListener('change', () => this.layout());
    (f.namedItem('cls') as HTMLSelectElement).addEventListener('change', () => {
      this.syncClass();
      this.layout();
    });
    (f.namedItem('model') as HTMLSelectElement).addEventListener('change', () => {
      this.syncClass();
      this.layout();
    });
    this.syncClass();
    if (fromUrl) (f.namedItem('guidanceOut') as HTMLOutputElement).value = Number(guidance.value).toFixed(1);
    // Every settled change goes to the address bar (the backend is the reader's machine, not shared state).
    this.form.addEventListener('change', (e) => {
      if ((e.target as HTMLElement | null)?.getAttribute('name') !== 'backend') this.writeUrlState();
    });
    backend.addEventListener('change', () => void this.startBackend());
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.run();
    });
    this.q<HTMLButtonElement>('[data-action=stop]').addEventListener('click', () => this.stop());

    this.setUpDrop();
    const onWeights = (e: Event) => this.useLabWeights((e as CustomEvent<{ idbKey: string; label: string }>).detail);
    const onRestart = (e: Event) => {
      const d = (e as CustomEvent<{ pool: string; reason: string }>).detail;
      if (d?.pool !== 'model') return;
      this.backendRequested = null;
      this.notice(`The model worker was restarted (${d.reason}). The next run starts it again and reloads the weights.`);
    };
    window.addEventListener('diffusion:use-weights', onWeights);
    window.addEventListener('diffusion:pool-restart', onRestart);
    this.off.push(() => window.removeEventListener('diffusion:use-weights', onWeights));
    this.off.push(() => window.removeEventListener('diffusion:pool-restart', onRestart));
    // Start the worker and the backend when the demo comes near, so the label is there before the first click.
    this.off.push(whenVisible(this, () => void this.startBackend()));
  }

  /** The shareable settings from the address (?sampler=ddim&steps=20&eta=1&seed=7&model=small&class=3&guidance=2&n=8). */
  private applyUrlState(): boolean {
    const p = readUrlState();
    const f = this.form.elements;
    const sel = (name: string) => f.namedItem(name) as HTMLSelectElement;
    const input = (name: string) => f.namedItem(name) as HTMLInputElement;
    let any = false;
    any = selectParam(sel('model'), p.get('model'), ['lab', 'file']) || any;
    any = selectParam(sel('sampler'), p.get('sampler')) || any;
    any = selectParam(sel('n'), p.get('n')) || any;
    any = selectParam(sel('cls'), p.get('class')) || any;
    const steps = numParam(p, 'steps', 1, MAX_SAMPLING_STEPS, true);
    if (steps !== null) input('steps').value = String(steps);
    const eta = numParam(p, 'eta', 0, 1);
    if (eta !== null) input('eta').value = String(eta);
    const seed = numParam(p, 'seed', -(2 ** 31), 2 ** 31 - 1, true);
    if (seed !== null) input('seed').value = String(seed);
    const guidance = numParam(p, 'guidance', 0, 8);
    if (guidance !== null) input('guidance').value = String(guidance);
    return any || steps !== null || eta !== null || seed !== null || guidance !== null;
  }

  private writeUrlState(): void {
    const f = this.form.elements;
    const value = (name: string) => (f.namedItem(name) as HTMLInputElement | HTMLSelectElement).value;
    const model = value('model');
    const sampler = value('sampler');
    const cls = f.namedItem('cls') as HTMLSelectElement;
    const guidance = f.namedItem('guidance') as HTMLInputElement;
    writeUrlState({
      model: model === 'lab' || model === 'file' ? null : model,
      sampler,
      steps: value('steps'),
      eta: sampler === 'ddim' ? value('eta') : null,
      seed: value('seed'),
      n: value('n'),
      class: cls.disabled ? null : cls.value,
      guidance: guidance.disabled ? null : guidance.value,
    });
  }

  disconnectedCallback(): void {
    this.client.stop();
    for (const off of this.off.splice(0)) off();
  }

  private setState(s: State): void {
    this.dataset.state = s;
    const running = s === 'loading' || s === 'running';
    this.q<HTMLButtonElement>('[data-action=generate]').disabled = running;
    this.q<HTMLButtonElement>('[data-action=stop]').disabled = !running;
    this.setAttribute('aria-busy', running ? 'true' : 'false');
  }

  private status(text: string): void {
    this.q('[data-status]').textContent = text;
  }
  private stepText(text: string): void {
    this.q('[data-step]').textContent = text;
  }
  private error(text: string): void {
    this.q('[data-error]').textContent = text;
  }
  private notice(text: string): void {
    this.q('[data-notice]').textContent = text;
  }
  private progress(v: number | null): void {
    const p = this.q<HTMLProgressElement>('[data-progress]');
    if (v === null) p.removeAttribute('value');
    else p.value = v;
  }

  /** The backend in use, as the worker reported it (for tests and curious readers' consoles). */
  backendInfo: BackendInfo | null = null;

  private showBackend(b: BackendInfo): void {
    this.backendInfo = b;
    this.q('[data-backend-label]').textContent = b.label;
    this.q('[data-backend-reason]').textContent = b.fallback ? `— in place of ${b.requested === 'webgpu' ? 'WebGPU' : b.requested === 'webgl' ? 'WebGL' : b.requested} (see the note below).` : `— ${b.reason}.`;
    this.dataset.backend = b.backend;
    this.dataset.backendFallback = String(b.fallback);
    const note = this.q('[data-backend-note]');
    note.textContent = b.fallback ? `You chose ${b.requested === 'webgpu' ? 'WebGPU' : b.requested === 'webgl' ? 'WebGL' : b.requested}, but ${b.reason.replace(/^\S+ /, 'it ')}.` : '';
  }

  /** Classes the selected model knows (0: unconditional); lab weights say so when they load. */
  private numClasses(): number {
    const v = (this.form.elements.namedItem('model') as HTMLSelectElement).value;
    if (v === 'lab') return Number(this.dataset.labClasses ?? this.dataset.smallClasses ?? 0);
    if (v === 'file') return Number(this.dataset.fileClasses ?? 0);
    return Number((v === 'full' ? this.dataset.fullClasses : this.dataset.smallClasses) ?? 0);
  }

  /** What to ask for: labels per image (undefined = no class), and the grid's images per class. */
  private conditioning(n: number): { labels?: (number | null)[]; perClass: number; guidance?: number } {
    const f = this.form.elements;
    const cls = (f.namedItem('cls') as HTMLSelectElement).value;
    const guidance = Number((f.namedItem('guidance') as HTMLInputElement).value);
    if (this.numClasses() === 0 || cls === 'none') return { perClass: 0 };
    if (cls === 'grid') {
      const per = Math.min(n, GRID_PER_CLASS_MAX);
      return { labels: CLASS_NAMES.flatMap((_, k) => new Array<number>(per).fill(k)), perClass: per, guidance };
    }
    if (cls === 'mixed') return { labels: Array.from({ length: n }, (_, i) => i % CLASS_NAMES.length), perClass: 0, guidance };
    return { labels: new Array<number>(n).fill(Number(cls)), perClass: 0, guidance };
  }

  private syncClass(): void {
    const f = this.form.elements;
    const conditional = this.numClasses() > 0;
    const cls = f.namedItem('cls') as HTMLSelectElement;
    const guidance = f.namedItem('guidance') as HTMLInputElement;
    cls.disabled = !conditional;
    guidance.disabled = !conditional || cls.value === 'none';
    this.q<HTMLElement>('.class-field').toggleAttribute('data-off', !conditional);
    this.q<HTMLElement>('.guidance-field').toggleAttribute('data-off', guidance.disabled);
    this.q('[data-class-help]').textContent = conditional
      ? 'Class: which CIFAR-10 class to ask for. Guidance w: 0 ignores the class, 1 is the plain conditional model, larger values push harder toward the class (sharper, less varied).'
      : (this.form.elements.namedItem('model') as HTMLSelectElement).value === 'full'
        ? this.dataset.fullNote ?? ''
        : 'This model was trained without class labels, so it cannot be asked for a class: it draws from all of CIFAR-10 at once.';
  }

  private layout(): HTMLCanvasElement[][] {
    const n = Number((this.form.elements.namedItem('n') as HTMLSelectElement).value);
    const { labels, perClass } = this.conditioning(n);
    const total = labels?.length ?? n;
    const cols = String(perClass || Math.min(total, total > 8 ? 8 : 4));
    return (['xt', 'x0'] as const).map((which) => {
      const host = this.q<HTMLElement>(`[data-grid=${which}]`);
      host.style.setProperty('--cols', cols);
      const what = which === 'xt' ? 'Sample x_t' : 'Predicted clean image';
      const name = (i: number) => (labels?.[i] != null ? `, asked for ${CLASS_NAMES[labels[i]!]}` : '');
      if (!perClass) {
        host.removeAttribute('data-class-grid');
        return makeCanvases(host, total, (i) => `${what}, image ${i + 1} of ${total}${name(i)}`);
      }
      // Ten rows, one per class, each led by its name.
      if (host.hasAttribute('data-class-grid') && host.querySelectorAll('canvas').length === total) return [...host.querySelectorAll('canvas')];
      host.setAttribute('data-class-grid', '');
      host.replaceChildren();
      const out: HTMLCanvasElement[] = [];
      CLASS_NAMES.forEach((c, k) => {
        const label = document.createElement('span');
        label.className = 'row-label';
        label.textContent = c;
        host.append(label);
        const row = makeCanvases(document.createElement('div'), perClass, (j) => `${what}, ${c} ${j + 1} of ${perClass}`);
        host.append(...row);
        out.push(...row);
        void k;
      });
      return out;
    });
  }

  private syncSampler(resetSteps: boolean): void {
    const f = this.form.elements;
    const sel = f.namedItem('sampler') as HTMLSelectElement;
    const steps = f.namedItem('steps') as HTMLInputElement;
    const name = sel.value as SamplerName;
    if (resetSteps) steps.value = String(defaultSteps(name));
    const etaField = this.q<HTMLElement>('.eta-field');
    const eta = f.namedItem('eta') as HTMLInputElement;
    eta.disabled = name !== 'ddim';
    if (name === 'ddim') etaField.removeAttribute('data-off');
    else etaField.setAttribute('data-off', '');
  }

  /** Drag and drop (or the file picker) of a weights file onto the demo. */
  private setUpDrop(): void {
    const zone = this.q<HTMLElement>('[data-drop-zone]');
    const input = this.q<HTMLInputElement>('[data-weights-file]');
    const stop = (e: DragEvent) => {
      e.preventDefault();
      e.stopPropagation();
    };
    zone.addEventListener('dragenter', (e) => { stop(e); zone.setAttribute('data-over', ''); });
    zone.addEventListener('dragover', (e) => { stop(e); if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy'; });
    zone.addEventListener('dragleave', () => zone.removeAttribute('data-over'));
    zone.addEventListener('drop', (e) => {
      stop(e);
      zone.removeAttribute('data-over');
      const f = e.dataTransfer?.files?.[0];
      if (f) void this.loadFile(f);
    });
    input.addEventListener('change', () => {
      const f = input.files?.[0];
      if (f) void this.loadFile(f);
      input.value = '';
    });
  }

  /** Sends the file's bytes to the model worker, which validates and loads them; says what was wrong if it refuses. */
  async loadFile(file: File): Promise<void> {
    const status = this.q('[data-drop-status]');
    this.dataset.dropState = 'loading';
    this.error('');
    status.textContent = `Reading ${file.name} (${fmtBytes(file.size)})…`;
    if (file.size > MAX_DROPPED_BYTES) {
      this.dataset.dropState = 'refused';
      status.textContent = '';
      this.error(`${file.name} is ${fmtBytes(file.size)}; this page reads weights files up to ${fmtBytes(MAX_DROPPED_BYTES)} (the CLI's \`diffusion import\` reads larger ones).`);
      return;
    }
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      status.textContent = `Checking and loading ${file.name} in the model worker…`;
      const backend = (this.form.elements.namedItem('backend') as HTMLSelectElement).value as BackendChoice;
      const p = await pool();
      const info = await p.run('loadFile', transfer({ name: file.name, bytes, backend }, [bytes.buffer]));
      this.file = { fileKey: info.key, label: file.name };
      this.dataset.fileClasses = String(info.numClasses);
      const sel = this.form.elements.namedItem('model') as HTMLSelectElement;
      const opt = sel.querySelector<HTMLOptionElement>('option[value=file]')!;
      opt.hidden = false;
      opt.disabled = false;
      opt.textContent = `Your file: ${file.name} (width ${info.width}, ${info.params.toLocaleString('en-US')} parameters)`;
      sel.value = 'file';
      this.syncClass();
      this.layout();
      this.dataset.dropState = 'loaded';
      status.textContent = `Loaded ${file.name}: width ${info.width}, ${info.params.toLocaleString('en-US')} parameters, ` +
        `${info.numClasses ? `${info.numClasses} classes` : 'unconditional'}, ${info.prediction}-prediction${info.weightsKind === 'ema' ? ', EMA weights' : ''}. Press Generate to sample from it.`;
    } catch (e) {
      this.dataset.dropState = 'refused';
      status.textContent = '';
      this.error(`Could not use ${file.name}: ${describeError(e)}`);
    }
  }

  private useLabWeights(d: { idbKey: string; label: string } | undefined): void {
    if (!d?.idbKey) return;
    this.lab = { idbKey: d.idbKey, label: d.label || 'the training lab' };
    this.labChanged = true;
    const sel = this.form.elements.namedItem('model') as HTMLSelectElement;
    const opt = sel.querySelector<HTMLOptionElement>('option[value=lab]')!;
    opt.hidden = false;
    opt.disabled = false;
    opt.textContent = `From the training lab: ${this.lab.label}`;
    sel.value = 'lab';
    this.notice(`Using the weights you trained in the lab (${this.lab.label}). Press Generate to sample from them.`);
  }

  private modelChoice(): ModelChoice {
    const v = (this.form.elements.namedItem('model') as HTMLSelectElement).value;
    if (v === 'lab' && this.lab) return this.lab;
    if (v === 'file' && this.file) return this.file;
    return v === 'full' ? 'full' : 'small';
  }

  /** Starts (or switches) the backend so its label is visible; errors show in the alert box. */
  private async startBackend(): Promise<void> {
    const want = (this.form.elements.namedItem('backend') as HTMLSelectElement).value as BackendChoice;
    if (this.backendRequested === want) return;
    this.backendRequested = want;
    this.q('[data-backend-label]').textContent = 'starting…';
    this.q('[data-backend-reason]').textContent = '';
    try {
      const info = await (await pool()).run('init', { backend: want });
      this.showBackend(info);
    } catch (e) {
      this.backendRequested = null;
      this.q('[data-backend-label]').textContent = 'unavailable';
      this.error(describeError(e));
    }
  }

  /** tf.memory() of the model worker (for leak checks in tests and the console). */
  async memory() {
    return (await pool()).run('memory');
  }

  private stop(): void {
    this.client.stop();
  }

  private async run(): Promise<void> {
    if (this.client.busy) return;
    const f = this.form.elements;
    const sampler = (f.namedItem('sampler') as HTMLSelectElement).value as SamplerName;
    const stepsIn = f.namedItem('steps') as HTMLInputElement;
    const steps = Math.max(1, Math.min(MAX_SAMPLING_STEPS, Math.round(Number(stepsIn.value) || defaultSteps(sampler))));
    stepsIn.value = String(steps);
    const seed = Math.round(Number((f.namedItem('seed') as HTMLInputElement).value) || 0);
    const eta = Number((f.namedItem('eta') as HTMLInputElement).value);
    const backend = (f.namedItem('backend') as HTMLSelectElement).value as BackendChoice;
    const nPicked = Number((f.namedItem('n') as HTMLSelectElement).value);
    const { labels, guidance } = this.conditioning(nPicked);
    const n = labels?.length ?? nPicked;
    const choice = this.modelChoice();
    const reload = typeof choice === 'object' && this.labChanged;
    if (reload) this.labChanged = false;
    const [xt, x0] = this.layout();
    const frameEvery = Math.max(1, Math.ceil(steps / 50));

    this.error('');
    this.notice(''); // "Press Generate…" and other hints are done once a run starts
    this.q('[data-timing]').textContent = '';
    this.setState('loading');
    this.progress(null);
    this.status('Starting the model worker…');
    this.stepText('');
    const t0 = performance.now();
    let lastStep = 0;
    let total = steps;
    const outcome = await this.client.run(async ({ generate, init }) => {
      if (this.backendRequested !== backend) {
        this.backendRequested = backend;
        this.showBackend(await init(backend));
      }
      return generate({ source: sourceFor(choice), reload, backend, sampler, steps, eta, seed, n, frameEvery, labels, guidance }, {
        download: (u) => {
          this.status('Downloading the weights…');
          this.stepText(u.total ? `${fmtBytes(u.loaded)} of ${fmtBytes(u.total)}` : fmtBytes(u.loaded));
          this.progress(u.total ? u.loaded / u.total : null);
        },
        decode: () => {
          this.status('Loading the weights into the model…');
          this.progress(null);
        },
        step: (u) => {
          if (lastStep === 0) {
            this.setState('running');
            this.status(`Sampling ${n} image${n > 1 ? 's' : ''}…`);
          }
          lastStep = u.step;
          total = u.total;
          this.progress(u.step / u.total);
          this.stepText(`step ${u.step} of ${u.total} · t = ${u.t} · ${fmtMs(u.msPerStep)} per step`);
          this.dataset.step = String(u.step);
          if (u.xt && u.x0) {
            drawImages(xt, u.xt);
            drawImages(x0, u.x0);
          }
        },
      });
    });
    if (!outcome) return;
    if (outcome.kind === 'stopped') {
      this.setState('stopped');
      this.status(lastStep > 0 ? `Stopped at step ${lastStep} of ${total}.` : 'Stopped before sampling began.');
      return;
    }
    if (outcome.kind === 'error') {
      this.setState('error');
      this.status('Generation failed.');
      this.error(outcome.message);
      return;
    }
    const res = outcome.value;
    drawImages(xt, res.rgba);
    this.showBackend(res.backend);
    this.progress(1);
    this.setState('done');
    const wall = performance.now() - t0;
    const asked = !labels ? '' : guidance === 1 ? ' (w = 1: the conditional model as trained, no guidance)'
      : ` (guidance w = ${guidance}: one forward pass on a batch of ${2 * n} per step)`;
    this.status(`Done: ${n} image${n > 1 ? 's' : ''} in ${fmtMs(res.totalMs)}${asked}.`);
    this.stepText(`${res.steps} of ${res.steps} steps`);
    this.q('[data-timing]').textContent =
      `${res.steps} steps: first step ${fmtMs(res.firstStepMs)}${res.backend.backend === 'webgpu' || res.backend.backend === 'webgl' ? ' (includes compiling GPU shaders)' : ''}, ` +
      `then ${fmtMs(res.msPerStep)} per step · sampling ${fmtMs(res.totalMs)} · ${fmtMs(wall)} from the click · on ${res.backend.label}.`;
    this.dataset.totalMs = String(Math.round(res.totalMs));
  }
}

if (!customElements.get('generate-demo')) customElements.define('generate-demo', GenerateDemo);
