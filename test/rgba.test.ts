import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chwToRGBA, nhwcToRGBA, rgbaToCHW } from '../src/core/rgba.ts';
import { IMAGE_BYTES } from '../src/core/data/cifar.ts';

// Two CHW images: image 1 has R(y,x) = 8x, G = 8y, B = 255 − x; image 0 is black.
const img = new Uint8Array(2 * IMAGE_BYTES);
for (let y = 0; y < 32; y++) {
  for (let x = 0; x < 32; x++) {
    const p = y * 32 + x;
    img[IMAGE_BYTES + p] = x * 8;
    img[IMAGE_BYTES + 1024 + p] = y * 8;
    img[IMAGE_BYTES + 2048 + p] = 255 - x;
  }
}
const px = (rgba: Uint8ClampedArray, image: number, y: number, x: number) => [...rgba.subarray(image * 4096 + 4 * (y * 32 + x), image * 4096 + 4 * (y * 32 + x) + 4)];

test('chwToRGBA interleaves the planes with opaque alpha, one image or a run of them', () => {
  assert.deepEqual(px(chwToRGBA(img, 1), 0, 2, 5), [40, 16, 250, 255]);
  const both = chwToRGBA(img, 0, 2);
  assert.equal(both.length, 2 * 4096);
  assert.deepEqual(px(both, 0, 2, 5), [0, 0, 0, 255]);
  assert.deepEqual(px(both, 1, 2, 5), [40, 16, 250, 255]);
  assert.throws(() => chwToRGBA(img, 2), /out of range/);
  assert.throws(() => chwToRGBA(img, 1, 2), /out of range/);
});

test('rgbaToCHW undoes chwToRGBA', () => {
  assert.deepEqual(rgbaToCHW(chwToRGBA(img, 1)), img.subarray(IMAGE_BYTES));
  assert.throws(() => rgbaToCHW(new Uint8Array(3072)), /4096/);
});

test('nhwcToRGBA maps [-1, 1] to [0, 255], clips, and writes at an offset', () => {
  const rgba = nhwcToRGBA(Float32Array.from([-1, 0, 1, -3, 2, 0.5]));
  assert.deepEqual([...rgba], [0, 128, 255, 255, 0, 255, 191, 255]);
  const strip = new Uint8ClampedArray(12).fill(7);
  nhwcToRGBA(Float32Array.from([1, 1, 1]), strip, 4);
  assert.deepEqual([...strip], [7, 7, 7, 7, 255, 255, 255, 255, 7, 7, 7, 7]);
  assert.throws(() => nhwcToRGBA(new Float32Array(4)), /whole number/);
  assert.throws(() => nhwcToRGBA(new Float32Array(6), new Uint8ClampedArray(4)), /do not fit/);
});
