/**
 * CIFAR-10 in its official binary layout, framework-neutral (no Node APIs, no tfjs), so the
 * same code runs in the CLI and in a browser worker.
 *
 * Each record is 3,073 bytes: one label byte (0–9), then 1,024 red, 1,024 green and 1,024
 * blue bytes, each plane 32×32 row-major (CHW).
 */

export const IMAGE_SIZE = 32;
export const CHANNELS = 3;
export const PLANE_BYTES = IMAGE_SIZE * IMAGE_SIZE; // 1024
export const IMAGE_BYTES = CHANNELS * PLANE_BYTES; // 3072
export const RECORD_BYTES = 1 + IMAGE_BYTES; // 3073
export const NUM_CLASSES = 10;
/** Records per official batch file. */
export const RECORDS_PER_FILE = 10000;

export const CLASS_NAMES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
] as const;
export type ClassName = (typeof CLASS_NAMES)[number];

export const TRAIN_FILES = [
  'data_batch_1.bin',
  'data_batch_2.bin',
  'data_batch_3.bin',
  'data_batch_4.bin',
  'data_batch_5.bin',
] as const;
export const TEST_FILE = 'test_batch.bin';
export const META_FILE = 'batches.meta.txt';
/** The folder name inside the official tarball. */
export const CIFAR_DIR_NAME = 'cifar-10-batches-bin';

export interface CifarBatch {
  /** count × 3072 bytes, CHW planes exactly as stored (labels removed). */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

/**
 * Splits one `.bin` file into images and labels, validating its size and every label.
 * `fileName` is only used in error messages.
 */
export function parseCifarBatch(bytes: Uint8Array, fileName: string): CifarBatch {
  const size = bytes.length;
  if (size === 0) {
    throw new Error(`${fileName}: file is empty (expected a multiple of ${RECORD_BYTES} bytes)`);
  }
  if (size % RECORD_BYTES !== 0) {
    const complete = Math.floor(size / RECORD_BYTES);
    const offset = complete * RECORD_BYTES;
    throw new Error(
      `${fileName}: size ${size} bytes is not a multiple of the ${RECORD_BYTES}-byte record; ` +
        `record ${complete} starting at byte offset ${offset} is incomplete ` +
        `(${size - offset} of ${RECORD_BYTES} bytes) — the file is truncated or not a CIFAR-10 binary batch`,
    );
  }
  const count = size / RECORD_BYTES;
  const images = new Uint8Array(count * IMAGE_BYTES);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const off = i * RECORD_BYTES;
    const label = bytes[off]!;
    if (label >= NUM_CLASSES) {
      throw new Error(
        `${fileName}: record ${i} (byte offset ${off}) has label ${label}; labels must be 0–${NUM_CLASSES - 1} ` +
          `— the file is corrupt or not a CIFAR-10 binary batch`,
      );
    }
    labels[i] = label;
    images.set(bytes.subarray(off + 1, off + RECORD_BYTES), i * IMAGE_BYTES);
  }
  return { images, labels, count };
}

/** Concatenates parsed batches (in order) into one. */
export function concatBatches(batches: readonly CifarBatch[]): CifarBatch {
  let count = 0;
  for (const b of batches) count += b.count;
  const images = new Uint8Array(count * IMAGE_BYTES);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const b of batches) {
    images.set(b.images.subarray(0, b.count * IMAGE_BYTES), at * IMAGE_BYTES);
    labels.set(b.labels.subarray(0, b.count), at);
    at += b.count;
  }
  return { images, labels, count };
}

/** Number of images of each class (length 10). */
export function classCounts(labels: ArrayLike<number>): number[] {
  const counts = new Array<number>(NUM_CLASSES).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i]!]!++;
  return counts;
}

/**
 * Gathers the chosen images (by index into `images`, which holds N×3072 CHW bytes) into one
 * NHWC float32 buffer of shape [indices.length, 32, 32, 3], scaled to [-1, 1] as x/127.5 − 1
 * (torchvision's Normalize(0.5, 0.5) after ToTensor). Where `flip[k]` is true, the k-th
 * gathered image is mirrored horizontally.
 */
export function toNHWCFloat(
  images: Uint8Array,
  indices: ArrayLike<number>,
  flip?: ArrayLike<boolean>,
): Float32Array {
  const n = indices.length;
  if (flip !== undefined && flip.length !== n) {
    throw new Error(`toNHWCFloat: flip has ${flip.length} entries for ${n} indices`);
  }
  const total = Math.floor(images.length / IMAGE_BYTES);
  const out = new Float32Array(n * IMAGE_BYTES);
  const S = IMAGE_SIZE;
  for (let k = 0; k < n; k++) {
    const idx = indices[k]!;
    if (!Number.isInteger(idx) || idx < 0 || idx >= total) {
      throw new Error(`toNHWCFloat: index ${idx} out of range [0, ${total})`);
    }
    const src = idx * IMAGE_BYTES;
    const dst = k * IMAGE_BYTES;
    const mirror = flip !== undefined && flip[k] === true;
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const sx = mirror ? S - 1 - x : x;
        const p = y * S + sx;
        const o = dst + (y * S + x) * CHANNELS;
        out[o] = images[src + p]! / 127.5 - 1;
        out[o + 1] = images[src + PLANE_BYTES + p]! / 127.5 - 1;
        out[o + 2] = images[src + 2 * PLANE_BYTES + p]! / 127.5 - 1;
      }
    }
  }
  return out;
}
