/**
 * The CIFAR-10 subset the site build copies into public/data/cifar/ (scripts/build-data.ts
 * writes it): the manifest's shape, where it lives, and its check. The workers, the training
 * lab's build-time text and the build step all read it through here.
 */
import { IMAGE_BYTES, NUM_CLASSES } from './cifar.ts';

/** The subset's folder, relative to the site's base (and to public/ in the repository). */
export const DATA_FOLDER = 'data/cifar/';
export const DATA_MANIFEST_FILE = 'manifest.json';

export interface DataSubset {
  /** count × 3072 CHW bytes, and one label byte per image; paths relative to the manifest. */
  file: string;
  labels: string;
  count: number;
}

export interface DataManifest {
  available: boolean;
  /** Why there is no data, when `available` is false. */
  message?: string;
  source: string;
  classes: string[];
  train: DataSubset;
  gallery: DataSubset;
  /** Up-to-date check: script version and a hash of the source files' names, sizes and mtimes. */
  build?: { version: number; fingerprint: string };
}

/** What the readers are told when the build had no data set. */
export const NO_DATA_MESSAGE = 'This build of the site has no CIFAR-10 images (run `npx diffusion data`, then rebuild).';

function subset(v: unknown, name: string, where: string): DataSubset {
  const s = v as Partial<DataSubset> | null;
  if (!s || typeof s !== 'object' || typeof s.file !== 'string' || typeof s.labels !== 'string' || !Number.isInteger(s.count) || s.count! < 0) {
    throw new Error(`${where}: "${name}" must be { file, labels, count } with a whole count`);
  }
  return { file: s.file, labels: s.labels, count: s.count! };
}

/** Checks a parsed manifest.json; throws naming `where` and the first field that is wrong. */
export function parseDataManifest(json: unknown, where: string): DataManifest {
  const m = json as Partial<DataManifest> | null;
  if (!m || typeof m !== 'object' || typeof m.available !== 'boolean') throw new Error(`${where}: not a data manifest (no "available" flag)`);
  if (!m.available) return { available: false, message: typeof m.message === 'string' ? m.message : NO_DATA_MESSAGE, source: 'none', classes: [], train: { file: '', labels: '', count: 0 }, gallery: { file: '', labels: '', count: 0 } };
  if (!Array.isArray(m.classes) || m.classes.length !== NUM_CLASSES || !m.classes.every((c) => typeof c === 'string')) {
    throw new Error(`${where}: "classes" must list the ${NUM_CLASSES} class names`);
  }
  return { available: true, source: typeof m.source === 'string' ? m.source : 'CIFAR-10', classes: m.classes, train: subset(m.train, 'train', where), gallery: subset(m.gallery, 'gallery', where), build: m.build };
}

/** Checks a subset's downloaded bytes against its manifest entry; throws naming the file that is off. */
export function checkSubsetBytes(s: DataSubset, images: Uint8Array, labels: Uint8Array): void {
  if (images.length !== s.count * IMAGE_BYTES) throw new Error(`${s.file} has ${images.length} bytes, expected ${s.count} × ${IMAGE_BYTES}`);
  if (labels.length !== s.count) throw new Error(`${s.labels} has ${labels.length} labels, expected ${s.count}`);
  for (const l of labels) if (l >= NUM_CLASSES) throw new Error(`${s.labels}: label ${l} is not a CIFAR-10 class`);
}
