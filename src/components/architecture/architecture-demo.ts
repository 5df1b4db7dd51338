/** The architecture diagram's custom element (<architecture-demo>): the width switch, the block details, the shapes measured in the model worker. Markup: demos/ArchitectureDemo.astro. */
import type { ArchitectureInfo } from '../../contracts/model.ts';
import { describeError, fmtMs } from '../lib/model-client.ts';
import { whenVisible } from '../lib/ui.ts';

interface Meta {
  kinds: Record<string, Record<string, string>>;
  params: Record<string, Record<string, number>>;
  totals: Record<string, number>;
  detail: Record<string, string>;
  kindName: Record<string, string>;
  kindOf: Record<string, string>;
}
const fmt = (n: number) => n.toLocaleString('en-US');
const shapeText = (s: number[]) => (s.length ? s.slice(1).join(' × ') : '…');

class ArchitectureDemo extends HTMLElement {
  private meta!: Meta;
  private info = new Map<string, ArchitectureInfo>();
  private selected: string | null = null;
  private width = '1';
  private pending: Promise<void> | null = null;

  connectedCallback(): void {
    if (this.meta) return;
    this.meta = JSON.parse(this.querySelector('[data-meta]')!.textContent ?? '{}') as Meta;
    for (const g of this.querySelectorAll<SVGGElement>('.blk')) {
      const name = g.dataset.block!;
      g.addEventListener('focus', () => this.show(name));
      g.addEventListener('mouseenter', () => this.show(name));
      g.addEventListener('click', () => this.select(name));
      g.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          this.select(name);
        }
      });
    }
    this.querySelector('.diagram')!.addEventListener('mouseleave', () => this.show(this.selected));
    for (const r of this.querySelectorAll<HTMLInputElement>('input[type=radio]')) {
      r.addEventListener('change', () => {
        if (r.checked) void this.setWidth(r.value);
      });
    }
    whenVisible(this, () => void this.setWidth(this.width));
  }

  private select(name: string): void {
    this.selected = this.selected === name ? null : name;
    for (const g of this.querySelectorAll<SVGGElement>('.blk')) g.setAttribute('aria-pressed', String(g.dataset.block === this.selected));
    this.show(this.selected ?? name);
  }

  private show(name: string | null): void {
    const box = this.querySelector<HTMLElement>('[data-details]')!;
    if (!name) {
      box.innerHTML = '<p class="status">Focus or click a block to see what it does.</p>';
      return;
    }
    const w = this.width;
    const info = this.info.get(w);
    const blk = info?.blocks.find((b) => b.block === name);
    const params = this.meta.params[w][name] ?? 0;
    const total = this.meta.totals[w];
    const kind = this.meta.kindOf[name];
    const h = document.createElement('h4');
    h.textContent = `${name} · ${this.meta.kindName[kind]}: ${this.meta.kinds[w][name]}`;
    const p = document.createElement('p');
    p.textContent = this.meta.detail[kind];
    const f = document.createElement('p');
    f.className = 'facts-line';
    const shape = blk ? `output [${blk.shape.join(', ')}] (batch, height, width, channels)` : 'output shape: being measured…';
    f.textContent = `${shape} · ${fmt(params)} parameters (${((100 * params) / total).toFixed(params / total < 0.01 ? 2 : 1)} % of ${fmt(total)})`;
    box.replaceChildren(h, p, f);
  }

  private async setWidth(w: string): Promise<void> {
    this.width = w;
    this.dataset.width = w;
    const kinds = this.meta.kinds[w];
    const params = this.meta.params[w];
    for (const el of this.querySelectorAll<Element>('[data-block], [data-row]')) {
      const name = (el as HTMLElement).dataset.block ?? (el as HTMLElement).dataset.row!;
      el.querySelector('[data-kind]')!.textContent = kinds[name];
      el.querySelector('[data-params]')!.textContent = el.hasAttribute('data-row') ? fmt(params[name] ?? 0) : `${fmt(params[name] ?? 0)} params`;
      el.querySelector('[data-shape]')!.textContent = '…';
      if (el.hasAttribute('data-block')) el.setAttribute('aria-label', `${name}: ${kinds[name]}, ${fmt(params[name] ?? 0)} parameters`);
    }
    this.querySelector('[data-total]')!.textContent = fmt(this.meta.totals[w]);
    const cached = this.info.get(w);
    if (cached) return this.fill(cached);
    const status = this.querySelector('[data-status]')!;
    this.dataset.state = 'loading';
    this.setAttribute('aria-busy', 'true');
    status.textContent = 'Running the network once in the model worker to measure the shapes…';
    this.querySelector('[data-error]')!.textContent = '';
    try {
      const { modelPool } = await import('../lib/pools.ts');
      const info = await modelPool().run('describe', { width: Number(w) });
      this.info.set(w, info);
      if (this.width === w) this.fill(info);
    } catch (e) {
      this.dataset.state = 'error';
      status.textContent = 'Could not measure the shapes.';
      this.querySelector('[data-error]')!.textContent = describeError(e);
    } finally {
      this.setAttribute('aria-busy', 'false');
    }
  }

  private fill(info: ArchitectureInfo): void {
    for (const b of info.blocks) {
      for (const el of this.querySelectorAll(`[data-block="${b.block}"] [data-shape], [data-row="${b.block}"] [data-shape]`)) el.textContent = shapeText(b.shape);
      const g = this.querySelector(`[data-block="${b.block}"]`);
      g?.setAttribute('aria-label', `${b.block}: ${this.meta.kinds[String(info.width)][b.block]}, output ${shapeText(b.shape)}, ${fmt(b.params)} parameters`);
      for (const el of this.querySelectorAll(`[data-block="${b.block}"] [data-params]`)) el.textContent = `${fmt(b.params)} params`;
      for (const el of this.querySelectorAll(`[data-row="${b.block}"] [data-params]`)) el.textContent = fmt(b.params);
    }
    this.querySelector('[data-total]')!.textContent = fmt(info.total);
    this.querySelector('[data-source]')!.textContent = `(shapes measured by one forward pass on ${info.backend} in ${fmtMs(info.ms)})`;
    this.querySelector('[data-status]')!.textContent = `Measured: width ${info.width}, ${fmt(info.total)} parameters.`;
    this.dataset.state = 'ready';
    this.show(this.selected);
  }
}

if (!customElements.get('architecture-demo')) customElements.define('architecture-demo', ArchitectureDemo);
