/**
 * The reader's own images for the training lab: files from a picker, a folder or a drop (folders
 * walked), each decoded in the light worker to 32×32 CHW bytes, with what was refused and why.
 * The decoder is passed in, so this runs (and is tested) without a worker.
 */
import { IMAGE_BYTES } from '../../core/data/cifar.ts';

/** The most images the lab takes (a few MB of CHW bytes; more would not train in a tab anyway). */
export const MAX_OWN_IMAGES = 5000;
/** Images decoded at once. */
const CONCURRENCY = 3;

export interface NamedFile {
  file: File;
  /** Its path within the drop or folder ("cats/a.png"). */
  name: string;
}

export type DecodeImage = (file: File, name: string) => Promise<{ chw: Uint8Array }>;

/** Files from a drop: plain files, and folders walked recursively (webkitGetAsEntry). */
export async function droppedFiles(dt: DataTransfer): Promise<NamedFile[]> {
  const out: NamedFile[] = [];
  const entries = [...dt.items].map((i) => (i.kind === 'file' ? i.webkitGetAsEntry?.() : null));
  if (!entries.some(Boolean)) return [...dt.files].map((f) => ({ file: f, name: f.name }));
  const walk = async (e: FileSystemEntry, prefix: string): Promise<void> => {
    if (out.length >= MAX_OWN_IMAGES * 2) return;
    if (e.isFile) {
      const file = await new Promise<File>((res, rej) => (e as FileSystemFileEntry).file(res, rej));
      out.push({ file, name: prefix + file.name });
    } else if (e.isDirectory) {
      const reader = (e as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const c of batch) await walk(c, `${prefix}${e.name}/`);
      }
    }
  };
  for (const e of entries) if (e) await walk(e, '');
  return out;
}

/** Files chosen with an <input type=file> (a folder picker names them by their relative path). */
export function pickedFiles(input: HTMLInputElement): NamedFile[] {
  return [...(input.files ?? [])].map((f) => ({ file: f, name: f.webkitRelativePath || f.name }));
}

export class OwnImages {
  /** Accepted images, 32×32 CHW bytes each. */
  chw: Uint8Array[] = [];
  refused: { name: string; reason: string }[] = [];
  busy = false;
  private keys = new Set<string>();

  constructor(private decode: DecodeImage, private max = MAX_OWN_IMAGES) {}

  get count(): number {
    return this.chw.length;
  }

  clear(): void {
    this.chw = [];
    this.keys.clear();
    this.refused = [];
  }

  /** All accepted images, one after another (what the trainer takes). */
  packed(): Uint8Array {
    const out = new Uint8Array(this.chw.length * IMAGE_BYTES);
    this.chw.forEach((c, i) => out.set(c, i * IMAGE_BYTES));
    return out;
  }

  /**
   * Decodes and adds `files` (a second call while one runs is ignored: false). A file already
   * added, a hidden file, one past the limit or one the decoder refuses goes to `refused`.
   * `onProgress(done, total)` is called every 8 files.
   */
  async add(files: NamedFile[], onProgress?: (done: number, total: number) => void): Promise<boolean> {
    if (!files.length || this.busy) return false;
    this.busy = true;
    let done = 0;
    const queue = [...files];
    const next = async () => {
      for (let item = queue.shift(); item; item = queue.shift()) {
        await this.addOne(item);
        done++;
        if (done % 8 === 0) onProgress?.(done, files.length);
      }
    };
    try {
      await Promise.all(Array.from({ length: CONCURRENCY }, next));
    } finally {
      this.busy = false;
    }
    return true;
  }

  private async addOne({ file, name }: NamedFile): Promise<void> {
    const key = `${name}|${file.size}|${file.lastModified}`;
    if (this.keys.has(key)) return this.refuse(name, 'already added');
    if (this.chw.length >= this.max) return this.refuse(name, `the lab takes at most ${this.max.toLocaleString('en-US')} images`);
    if (/(^|\/)\./.test(name)) return this.refuse(name, 'hidden file (name starts with a dot)');
    this.keys.add(key); // before the await: the same file twice in one drop is caught too
    try {
      const { chw } = await this.decode(file, name);
      if (this.chw.length >= this.max) {
        this.keys.delete(key);
        return this.refuse(name, `the lab takes at most ${this.max.toLocaleString('en-US')} images`);
      }
      this.chw.push(chw);
    } catch (e) {
      this.keys.delete(key);
      // The decoder's sentences start with the file's name ("x.png is not an image"): keep the reason.
      const msg = String((e as Error)?.message ?? e).replace(/^Error: /, '');
      this.refuse(name, msg.replace(`${name} `, '').replace(/^is /, ''));
    }
  }

  private refuse(name: string, reason: string): void {
    this.refused.push({ name, reason });
  }
}
