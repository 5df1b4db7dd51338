/**
 * Pixels for a canvas: the two layouts images take in this project turned into RGBA bytes
 * (alpha 255, ready for `new ImageData(rgba, 32, 32)`), and a canvas's RGBA back to CHW.
 *   CHW bytes: CIFAR-10's layout (three 32×32 planes R, G, B), the data set and the lab's images;
 *   NHWC floats in [-1, 1]: what the network and the samplers produce.
 */
import { IMAGE_BYTES, PLANE_BYTES } from './data/cifar.ts';

/** `count` CHW images, from image `first` of `images` (N×3072 bytes), as RGBA one after another. */
export function chwToRGBA(images: ArrayLike<number>, first = 0, count = 1): Uint8ClampedArray {
  const total = Math.floor(images.length / IMAGE_BYTES);
  if (!Number.isInteger(first) || !Number.isInteger(count) || first < 0 || count < 0 || first + count > total) {
    throw new Error(`chwToRGBA: images ${first}..${first + count - 1} out of range [0, ${total})`);
  }
  const out = new Uint8ClampedArray(count * PLANE_BYTES * 4);
  for (let i = 0; i < count; i++) {
    const src = (first + i) * IMAGE_BYTES;
    const dst = i * PLANE_BYTES * 4;
    for (let p = 0; p < PLANE_BYTES; p++) {
      out[dst + p * 4] = images[src + p];
      out[dst + p * 4 + 1] = images[src + PLANE_BYTES + p];
      out[dst + p * 4 + 2] = images[src + 2 * PLANE_BYTES + p];
      out[dst + p * 4 + 3] = 255;
    }
  }
  return out;
}

/**
 * [-1, 1] NHWC floats (any number of pixels) → RGBA bytes, clipped to [0, 255]; written into
 * `out` at byte `offset` when given (e.g. one frame of a strip).
 */
export function nhwcToRGBA(nhwc: ArrayLike<number>, out = new Uint8ClampedArray((nhwc.length / 3) * 4), offset = 0): Uint8ClampedArray {
  if (nhwc.length % 3 !== 0) throw new Error(`nhwcToRGBA: ${nhwc.length} values is not a whole number of RGB pixels`);
  if (offset + (nhwc.length / 3) * 4 > out.length) throw new Error(`nhwcToRGBA: ${nhwc.length / 3} pixels do not fit at byte ${offset} of ${out.length}`);
  for (let p = 0, q = offset; p < nhwc.length; p += 3) {
    out[q++] = (nhwc[p] + 1) * 127.5;
    out[q++] = (nhwc[p + 1] + 1) * 127.5;
    out[q++] = (nhwc[p + 2] + 1) * 127.5;
    out[q++] = 255;
  }
  return out;
}

/** One 32×32 image as RGBA bytes (4096) → CHW bytes (3072); alpha is dropped. */
export function rgbaToCHW(rgba: ArrayLike<number>): Uint8Array {
  if (rgba.length !== PLANE_BYTES * 4) throw new Error(`rgbaToCHW: expected ${PLANE_BYTES * 4} RGBA bytes, got ${rgba.length}`);
  const chw = new Uint8Array(IMAGE_BYTES);
  for (let p = 0; p < PLANE_BYTES; p++) {
    chw[p] = rgba[p * 4];
    chw[PLANE_BYTES + p] = rgba[p * 4 + 1];
    chw[2 * PLANE_BYTES + p] = rgba[p * 4 + 2];
  }
  return chw;
}
