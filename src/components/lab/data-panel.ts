/**
 * The training lab's data panel: the choice between the site's CIFAR-10 subset and the reader's
 * own images, the controls that add them (files, a folder, a drop), the thumbnails, and the list
 * of refused files with the reason for each.
 */
import type { DataInfo } from '../../contracts/train.ts';
import { chwToRGBA } from '../../core/rgba.ts';
import { putRGBA } from '../lib/explain.ts';
import { droppedFiles, pickedFiles, OwnImages, type DecodeImage, type NamedFile } from './image-ingest.ts';

const SHOW_THUMBS = 48;
const SHOW_REFUSED = 200;

export class DataPanel {
  readonly own: OwnImages;
  /** What the worker said about the data of the last run it was given (CIFAR-10's preview). */
  info: DataInfo | null = null;

  /** `onBusy`: adding images started or ended (the page disables Start meanwhile). */
  constructor(private root: HTMLElement, private form: HTMLFormElement, decode: DecodeImage, private onBusy: () => void) {
    this.own = new OwnImages(decode);
    form.querySelectorAll<HTMLInputElement>('input[name=data]').forEach((r) => r.addEventListener('change', () => this.sync()));
    for (const input of [this.q<HTMLInputElement>('[data-files]'), this.q<HTMLInputElement>('[data-folder]')]) {
      input.addEventListener('change', () => {
        const list = pickedFiles(input);
        input.value = '';
        void this.add(list);
      });
    }
    const drop = this.q('[data-drop]');
    drop.addEventListener('dragover', (e) => {
      e.preventDefault();
      drop.setAttribute('data-over', '');
    });
    drop.addEventListener('dragleave', () => drop.removeAttribute('data-over'));
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.removeAttribute('data-over');
      if (e.dataTransfer) void droppedFiles(e.dataTransfer).then((l) => this.add(l));
    });
    this.q('[data-action=clear-own]').addEventListener('click', () => {
      this.own.clear();
      this.render();
    });
  }

  private q<T extends Element = HTMLElement>(sel: string): T {
    return this.root.querySelector(sel) as T;
  }

  get source(): 'cifar' | 'own' {
    return (this.form.elements.namedItem('data') as RadioNodeList).value === 'own' ? 'own' : 'cifar';
  }

  private sync(): void {
    this.q('[data-own]').hidden = this.source !== 'own';
    this.renderThumbs();
  }

  private async add(files: NamedFile[]): Promise<void> {
    const started = this.own.add(files, (done, total) => this.render(`Preparing images… ${done} of ${total}`));
    this.onBusy();
    try {
      await started;
    } finally {
      this.render();
      this.onBusy();
    }
  }

  /** The own-images status line, the refused list and the thumbnails. */
  render(progress?: string): void {
    const n = this.own.count;
    const r = this.own.refused.length;
    this.q('[data-own-status]').textContent = progress
      ?? (n === 0 && r === 0
        ? 'No images yet. Each one is centre-cropped to a square and shrunk to 32×32 pixels, like CIFAR-10.'
        : `${n.toLocaleString('en-US')} image${n === 1 ? '' : 's'} accepted${r ? `, ${r} refused (see the list below)` : ''}.`
          + (n > 0 && n < 16 ? ' With this few, the network will mostly memorise them; a few hundred similar images work better.' : ''));
    this.q<HTMLButtonElement>('[data-action=clear-own]').disabled = n + r === 0 || this.own.busy;
    this.q<HTMLDetailsElement>('[data-refused]').hidden = r === 0;
    this.q('[data-refused-count]').textContent = String(r);
    const items = this.own.refused.slice(0, SHOW_REFUSED).map((x) => {
      const li = document.createElement('li');
      const b = document.createElement('strong');
      b.textContent = x.name;
      li.append(b, `: ${x.reason}`);
      return li;
    });
    if (r > SHOW_REFUSED) {
      const li = document.createElement('li');
      li.textContent = `… and ${r - SHOW_REFUSED} more`;
      items.push(li);
    }
    this.q('[data-refused-list]').replaceChildren(...items);
    this.renderThumbs();
  }

  renderThumbs(): void {
    const host = this.q('[data-thumbs]');
    host.replaceChildren();
    const draw = (rgba: Uint8ClampedArray, i: number, label: string) => {
      const c = document.createElement('canvas');
      c.setAttribute('role', 'img');
      c.setAttribute('aria-label', label);
      putRGBA(c, rgba, 32, 32, i * 4096);
      host.append(c);
    };
    const more = (text: string) => {
      const span = document.createElement('span');
      span.className = 'more';
      span.textContent = text;
      host.append(span);
    };
    if (this.source === 'cifar') {
      const d = this.info;
      if (d?.ok && d.source === 'cifar') {
        for (let i = 0; i < d.previewCount; i++) draw(d.preview, i, `CIFAR-10 training image ${i + 1}`);
        more(`… ${d.count.toLocaleString('en-US')} images in all`);
      }
      return;
    }
    const n = this.own.count;
    for (let i = 0; i < Math.min(n, SHOW_THUMBS); i++) draw(chwToRGBA(this.own.chw[i]), 0, `Your image ${i + 1} at 32×32`);
    if (n > SHOW_THUMBS) more(`+ ${n - SHOW_THUMBS} more`);
  }
}
