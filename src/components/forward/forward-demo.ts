/** The forward-noising demo's custom element: the schedule, the noised images, the sliders. Markup: demos/ForwardDemo.astro. */
import { lightPool } from '../lib/pools.ts';
import { putRGBA, message, fmt } from '../lib/explain.ts';
import { statusLines, whenVisible } from '../lib/ui.ts';
import { isAbortError } from '../../pool/pool.ts';
import type { GalleryResult } from '../../contracts/light.ts';
import { DATA_MANIFEST } from '../lib/site.ts';
import { numParam, readUrlState, writeUrlState } from '../lib/url-state.ts';

type Gallery = Extract<GalleryResult, { available: true }>;

class ForwardDemo extends HTMLElement {
  private gallery: Gallery | null = null;
  /** The current image: CHW bytes for the worker, RGBA for x₀. */
  private image: { chw: Uint8Array | null; rgba: Uint8ClampedArray; key: string } | null = null;
  private seed = 1;
  private started = false;
  private strip: number[] = [];
  /** The `.status` and `.error` lines. */
  private readonly lines = statusLines(this);

  private $<T extends Element>(sel: string): T {
    return this.querySelector(sel) as T;
  }
  private get slider() {
    return this.$<HTMLInputElement>('input.t');
  }
  private schedule(): 'linear' | 'cosine' {
    return (this.querySelector<HTMLInputElement>('fieldset.sched input:checked')?.value as 'linear' | 'cosine') ?? 'linear';
  }

  connectedCallback() {
    this.strip = (this.dataset.strip ?? '').split(',').filter(Boolean).map(Number);
    // Shareable state: ?t=250&schedule=cosine in the address sets the slider; changes go back there.
    const p = readUrlState();
    const t0 = numParam(p, 't', 0, 999, true);
    if (t0 !== null) this.slider.value = String(t0);
    const sch = p.get('schedule');
    const radio = [...this.querySelectorAll<HTMLInputElement>('fieldset.sched input')].find((r) => r.value === sch);
    if (radio) radio.checked = true;
    const share = () => writeUrlState({ t: this.slider.value, schedule: this.schedule() });
    this.slider.addEventListener('change', share);
    this.querySelectorAll<HTMLInputElement>('fieldset.sched input').forEach((r) => r.addEventListener('change', share));
    this.slider.addEventListener('input', () => this.update());
    this.querySelectorAll<HTMLInputElement>('fieldset.sched input').forEach((r) => r.addEventListener('change', () => this.update()));
    this.$<HTMLButtonElement>('button.reseed').addEventListener('click', () => {
      this.seed += 1;
      this.update();
    });
    const file = this.$<HTMLInputElement>('input.file');
    file.addEventListener('change', () => {
      const f = file.files?.[0];
      if (f) void this.useFile(f);
    });
    // The whole figure takes a dropped file (so a near miss does not open it in the tab);
    // the dashed box lights up while a file is over the figure.
    const drop = this.$<HTMLElement>('.drop');
    const stop = (e: DragEvent) => {
      e.preventDefault();
      e.stopPropagation();
    };
    let depth = 0;
    this.addEventListener('dragenter', (e) => {
      stop(e);
      depth++;
      drop.classList.add('over');
    });
    this.addEventListener('dragover', (e) => {
      stop(e);
      if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
    });
    this.addEventListener('dragleave', () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) drop.classList.remove('over');
    });
    this.addEventListener('drop', (e) => {
      stop(e);
      depth = 0;
      drop.classList.remove('over');
      const f = e.dataTransfer?.files?.[0];
      if (f) void this.useFile(f);
      else this.lines.setError('That was not a file. Drop an image file (PNG, JPEG, WebP or GIF).');
    });
    this.$<HTMLElement>('.gallery').addEventListener('keydown', (e) => this.galleryKey(e));
    window.addEventListener('diffusion:pool-restart', this.onRestart);
    whenVisible(this, () => void this.start());
  }

  disconnectedCallback() {
    window.removeEventListener('diffusion:pool-restart', this.onRestart);
  }

  private onRestart = (ev: Event) => {
    const d = (ev as CustomEvent<{ pool: string; reason: string }>).detail;
    if (d?.pool !== 'light') return;
    this.$<HTMLElement>('.restart').textContent = `The helper worker was restarted (${d.reason}); the demo carries on.`;
  };

  async start() {
    if (this.started) return;
    this.started = true;
    this.lines.setStatus('Loading the CIFAR-10 gallery…');
    let g: GalleryResult;
    try {
      g = await lightPool().run('gallery', { manifest: DATA_MANIFEST });
    } catch (e) {
      g = { available: false, message: `The gallery could not be loaded: ${message(e)}` };
    }
    if (g.available) {
      this.gallery = g;
      this.buildGallery(g);
      this.lines.setStatus('');
      this.pick(0, false);
    } else {
      this.$<HTMLElement>('.gallery-note').textContent = g.message;
      this.$<HTMLElement>('.gallery').hidden = true;
      this.lines.setStatus('');
      this.useSynthetic();
    }
    this.slider.disabled = false;
    this.$<HTMLButtonElement>('button.reseed').disabled = false;
  }

  private buildGallery(g: Gallery) {
    const box = this.$<HTMLElement>('.gallery');
    const frag = document.createDocumentFragment();
    for (let i = 0; i < g.count; i++) {
      const b = document.createElement('button');
      b.type = 'button';
      b.setAttribute('role', 'radio');
      b.setAttribute('aria-checked', 'false');
      b.tabIndex = i === 0 ? 0 : -1;
      b.dataset.index = String(i);
      const name = g.classes[g.labels[i]] ?? 'image';
      b.setAttribute('aria-label', `${name} (test image ${i + 1} of ${g.count})`);
      b.title = name;
      const c = document.createElement('canvas');
      putRGBA(c, g.rgba, 32, 32, i * 4096);
      b.append(c);
      b.addEventListener('click', () => this.pick(i, false));
      frag.append(b);
    }
    box.replaceChildren(frag);
  }

  private buttons(): HTMLButtonElement[] {
    return Array.from(this.querySelectorAll<HTMLButtonElement>('.gallery button'));
  }

  /** Radio-group keys: arrows move (and select) by one or by a row; Home/End jump. */
  private galleryKey(e: KeyboardEvent) {
    const bs = this.buttons();
    const cur = bs.indexOf(document.activeElement as HTMLButtonElement);
    if (cur < 0) return;
    const top0 = bs[0].offsetTop;
    const cols = Math.max(1, bs.findIndex((b) => b.offsetTop !== top0) === -1 ? bs.length : bs.findIndex((b) => b.offsetTop !== top0));
    const moves: Record<string, number> = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols };
    let next = cur;
    if (e.key in moves) next = Math.min(bs.length - 1, Math.max(0, cur + moves[e.key]));
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = bs.length - 1;
    else if (e.key === ' ' || e.key === 'Enter') next = cur;
    else return;
    e.preventDefault();
    this.pick(next, true);
  }

  private pick(i: number, focus: boolean) {
    const g = this.gallery;
    if (!g) return;
    const bs = this.buttons();
    bs.forEach((b, k) => {
      b.setAttribute('aria-checked', String(k === i));
      b.tabIndex = k === i ? 0 : -1;
    });
    if (focus) {
      bs[i].focus();
      bs[i].scrollIntoView({ block: 'nearest' });
    }
    this.image = {
      chw: g.images.slice(i * 3072, (i + 1) * 3072),
      rgba: g.rgba.slice(i * 4096, (i + 1) * 4096),
      key: `gallery:${i}`,
    };
    this.lines.setError('');
    this.update();
  }

  private unpick() {
    this.buttons().forEach((b, k) => {
      b.setAttribute('aria-checked', 'false');
      b.tabIndex = k === 0 ? 0 : -1;
    });
  }

  /** Without the dataset: a drawn stand-in (sun over the sea), so the slider still teaches something. */
  private useSynthetic() {
    const c = document.createElement('canvas');
    c.width = c.height = 32;
    const g = c.getContext('2d')!;
    const sky = g.createLinearGradient(0, 0, 0, 20);
    sky.addColorStop(0, '#2a6fdb');
    sky.addColorStop(1, '#f4b06a');
    g.fillStyle = sky;
    g.fillRect(0, 0, 32, 20);
    g.fillStyle = '#134a7c';
    g.fillRect(0, 20, 32, 12);
    g.fillStyle = '#ffd23f';
    g.beginPath();
    g.arc(16, 19, 7, Math.PI, 0);
    g.fill();
    const rgba = g.getImageData(0, 0, 32, 32).data;
    this.image = { chw: null, rgba: new Uint8ClampedArray(rgba), key: 'synthetic' };
    this.update();
  }

  private async useFile(f: File) {
    this.lines.setError('');
    this.lines.setStatus(`Reading ${f.name}…`);
    try {
      const r = await lightPool().run('decodeImage', { file: f, name: f.name }, { lane: 'forward-decode' });
      this.unpick();
      this.image = { chw: r.chw, rgba: r.rgba, key: `file:${f.name}` };
      this.lines.setStatus(`Using ${f.name} (${r.width}×${r.height}, centre-cropped and shrunk to 32×32).`);
      this.update();
    } catch (e) {
      if (isAbortError(e)) return;
      this.lines.setStatus('');
      this.lines.setError(`That file cannot be used: ${message(e)}`);
    } finally {
      this.$<HTMLInputElement>('input.file').value = '';
    }
  }

  private async update() {
    const img = this.image;
    if (!img) return;
    const t = Number(this.slider.value);
    const schedule = this.schedule();
    const seed = this.seed;
    this.$<HTMLOutputElement>('.tval').textContent = String(t);
    putRGBA(this.$<HTMLCanvasElement>('canvas.x0'), img.rgba);
    try {
      const r = await lightPool().run(
        'noise',
        { image: img.chw ?? img.rgba, t, seed, schedule, strip: this.strip },
        { lane: 'forward' },
      );
      putRGBA(this.$<HTMLCanvasElement>('canvas.xt'), r.xt);
      putRGBA(this.$<HTMLCanvasElement>('canvas.eps'), r.noise);
      this.querySelectorAll<HTMLCanvasElement>('.strip canvas').forEach((c, i) => putRGBA(c, r.strip, 32, 32, i * 4096));
      const set = (sel: string, v: number) => (this.$<HTMLOutputElement>(sel).textContent = fmt(v, 3));
      this.$<HTMLOutputElement>('.abar').textContent = fmt(r.alphaBar, 4);
      set('.wsig', r.signalWeight);
      set('.wsig2', r.signalWeight);
      set('.wnoise', r.noiseWeight);
      set('.wnoise2', r.noiseWeight);
      this.$<HTMLElement>('.tcap').textContent = String(r.t);
      this.$<HTMLCanvasElement>('canvas.xt').setAttribute(
        'aria-label',
        `x_t at t = ${r.t}: ${fmt(r.signalWeight, 2)} × the image + ${fmt(r.noiseWeight, 2)} × the noise`,
      );
      this.slider.setAttribute('aria-valuetext', `t = ${r.t}, ᾱ = ${fmt(r.alphaBar, 3)}`);
      this.dataset.rendered = `${img.key}|${r.t}|${seed}|${schedule}`;
    } catch (e) {
      if (isAbortError(e)) return;
      this.lines.setError(`Could not noise the image: ${message(e)}`);
    }
  }
}

if (!customElements.get('forward-demo')) customElements.define('forward-demo', ForwardDemo);
