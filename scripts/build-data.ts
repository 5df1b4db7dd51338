/**
 * Build step (runs before `astro build`): copies a small CIFAR-10 subset into public/data/cifar/
 * for the page's demos. The data folder is found like the CLI finds it (--data-less:
 * $CIFAR10_DIR, ./data/cifar-10-batches-bin, ../shared/data/cifar-10-batches-bin).
 *
 *   manifest.json       { available, message?, source, classes, train: {file, labels, count}, gallery: {…} }
 *   train.bin           the first 2048 training images, count × 3072 bytes (R, G, B planes of 32×32)
 *   train-labels.bin    one byte per image
 *   gallery.bin         64 test images, 6–7 per class, classes interleaved (0, 1, …, 9, 0, 1, …)
 *   gallery-labels.bin
 *
 * Skips the work when the output is up to date (same source files, sizes and mtimes, same
 * script version). With no dataset it writes `available: false` and a message, and exits 0 so
 * the site still builds. public/data/ is gitignored: no CIFAR-10 image is ever committed.
 *
 *   node --import tsx scripts/build-data.ts [--force]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { CLASS_NAMES, IMAGE_BYTES, NUM_CLASSES, TEST_FILE, TRAIN_FILES } from '../src/core/data/cifar.ts';
import { loadCifar, resolveCifarDir } from '../src/cli/data-path.ts';
import { DATA_FOLDER, DATA_MANIFEST_FILE, parseDataManifest, type DataManifest } from '../src/core/data/manifest.ts';

const VERSION = 1;
const TRAIN_COUNT = 2048;
const GALLERY_COUNT = 64;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.join(root, 'public', DATA_FOLDER);
const manifestPath = path.join(outDir, DATA_MANIFEST_FILE);
const FILES = { train: 'train.bin', trainLabels: 'train-labels.bin', gallery: 'gallery.bin', galleryLabels: 'gallery-labels.bin' };

function log(msg: string): void {
  console.log(`build-data: ${msg}`);
}

function fingerprint(dir: string): string {
  const h = createHash('sha256');
  h.update(`v${VERSION}`);
  for (const f of [...TRAIN_FILES, TEST_FILE]) {
    const p = path.join(dir, f);
    const st = fs.existsSync(p) ? fs.statSync(p) : null;
    h.update(`${f}:${st ? `${st.size}:${Math.floor(st.mtimeMs)}` : 'missing'};`);
  }
  return h.digest('hex').slice(0, 16);
}

function readManifest(): DataManifest | null {
  try {
    return parseDataManifest(JSON.parse(fs.readFileSync(manifestPath, 'utf8')), manifestPath);
  } catch {
    return null;
  }
}

function writeAtomic(file: string, data: Uint8Array | string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

function removeBins(): void {
  for (const f of Object.values(FILES)) fs.rmSync(path.join(outDir, f), { force: true });
}

function unavailable(message: string): void {
  fs.mkdirSync(outDir, { recursive: true });
  removeBins();
  const m: DataManifest = {
    available: false,
    message,
    source: 'none',
    classes: [...CLASS_NAMES],
    train: { file: FILES.train, labels: FILES.trainLabels, count: 0 },
    gallery: { file: FILES.gallery, labels: FILES.galleryLabels, count: 0 },
  };
  writeAtomic(manifestPath, `${JSON.stringify(m, null, 2)}\n`);
  log(`no CIFAR-10 data: wrote available: false (the site builds; demos that need data say how to get it)`);
}

/** 64 test images, classes interleaved: the first image of each class, then the second, … */
function pickGallery(labels: Uint8Array, count: number): number[] {
  const perClass: number[][] = Array.from({ length: NUM_CLASSES }, () => []);
  const need = Math.ceil(count / NUM_CLASSES);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i]!;
    if (perClass[c]!.length < need) perClass[c]!.push(i);
    if (perClass.every((l) => l.length >= need)) break;
  }
  const out: number[] = [];
  for (let round = 0; out.length < count && round < need; round++) {
    for (let c = 0; c < NUM_CLASSES && out.length < count; c++) {
      const idx = perClass[c]![round];
      if (idx !== undefined) out.push(idx);
    }
  }
  return out;
}

function main(): void {
  const force = process.argv.includes('--force');
  let dir: string;
  try {
    dir = resolveCifarDir();
  } catch (e) {
    unavailable(
      'The CIFAR-10 dataset was not found when this site was built, so demos that show or train on real images are off. ' +
        'To enable them: run `npx diffusion data` (downloads it into ./data) or set CIFAR10_DIR, then rebuild.',
    );
    log((e as Error).message.split('\n')[0]!);
    return;
  }
  const fp = fingerprint(dir);
  const old = readManifest();
  const binsPresent = Object.values(FILES).every((f) => fs.existsSync(path.join(outDir, f)));
  if (!force && old?.available && old.build?.fingerprint === fp && binsPresent) {
    log(`public/data/cifar is up to date (${old.train.count} training, ${old.gallery.count} gallery images)`);
    return;
  }
  let train: ReturnType<typeof loadCifar>;
  let test: ReturnType<typeof loadCifar>;
  try {
    train = loadCifar(dir, 'train', { limit: TRAIN_COUNT });
    test = loadCifar(dir, 'test');
  } catch (e) {
    unavailable(`The CIFAR-10 data in the data folder could not be read: ${(e as Error).message} Run \`npx diffusion data --force\` and rebuild.`);
    return;
  }
  const gallery = pickGallery(test.labels, GALLERY_COUNT);
  const gImages = new Uint8Array(gallery.length * IMAGE_BYTES);
  const gLabels = new Uint8Array(gallery.length);
  gallery.forEach((idx, k) => {
    gImages.set(test.images.subarray(idx * IMAGE_BYTES, (idx + 1) * IMAGE_BYTES), k * IMAGE_BYTES);
    gLabels[k] = test.labels[idx]!;
  });

  fs.mkdirSync(outDir, { recursive: true });
  writeAtomic(path.join(outDir, FILES.train), train.images.subarray(0, train.count * IMAGE_BYTES));
  writeAtomic(path.join(outDir, FILES.trainLabels), train.labels.subarray(0, train.count));
  writeAtomic(path.join(outDir, FILES.gallery), gImages);
  writeAtomic(path.join(outDir, FILES.galleryLabels), gLabels);
  const m: DataManifest = {
    available: true,
    source:
      `CIFAR-10 (Krizhevsky, Nair & Hinton, 2009): the first ${train.count} images of data_batch_1.bin (training) ` +
      `and ${gallery.length} images of test_batch.bin (${GALLERY_COUNT / NUM_CLASSES | 0}–${Math.ceil(GALLERY_COUNT / NUM_CLASSES)} per class)`,
    classes: [...CLASS_NAMES],
    train: { file: FILES.train, labels: FILES.trainLabels, count: train.count },
    gallery: { file: FILES.gallery, labels: FILES.galleryLabels, count: gallery.length },
    build: { version: VERSION, fingerprint: fp },
  };
  writeAtomic(manifestPath, `${JSON.stringify(m, null, 2)}\n`);
  log(`wrote public/data/cifar (${train.count} training images, ${gallery.length} gallery images) from ${dir}`);
}

main();
