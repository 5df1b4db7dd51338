/** The training lab's own-image ingest, with a stand-in decoder (no worker, no DOM). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OwnImages, type DecodeImage } from '../src/components/lab/image-ingest.ts';
import { IMAGE_BYTES } from '../src/core/data/cifar.ts';

const file = (name: string, size = 10, lastModified = 1) => ({ file: new File([new Uint8Array(size)], name.split('/').pop()!, { lastModified }), name });
/** Decodes to an image filled with the file's size; refuses names containing "bad" the way the light worker does. */
const decoder = (log: string[] = []): DecodeImage => async (f, name) => {
  log.push(name);
  await new Promise((r) => setTimeout(r, 1));
  if (name.includes('bad')) throw new Error(`${name} is not an image (its type is text/plain).`);
  return { chw: new Uint8Array(IMAGE_BYTES).fill(f.size) };
};

test('accepts decoded images and packs them for the trainer in order of arrival', async () => {
  const own = new OwnImages(decoder());
  assert.equal(await own.add([file('a.png', 1), file('b.png', 2)]), true);
  assert.equal(own.count, 2);
  const packed = own.packed();
  assert.equal(packed.length, 2 * IMAGE_BYTES);
  assert.deepEqual(new Set([packed[0], packed[IMAGE_BYTES]]), new Set([1, 2]));
});

test('refuses duplicates, hidden files, undecodable files and images past the limit, saying why', async () => {
  const log: string[] = [];
  const own = new OwnImages(decoder(log), 2);
  await own.add([file('a.png'), file('a.png'), file('dir/.DS_Store'), file('bad.txt'), file('b.png', 11), file('c.png', 12)]);
  assert.equal(own.count, 2);
  const reasons = Object.fromEntries(own.refused.map((r) => [r.name, r.reason]));
  assert.equal(reasons['dir/.DS_Store'], 'hidden file (name starts with a dot)');
  assert.equal(reasons['bad.txt'], 'not an image (its type is text/plain).');
  assert.match(reasons['c.png'] ?? reasons['b.png'], /at most 2 images/);
  assert.equal(own.refused.filter((r) => r.name === 'a.png').length, 1, 'the second a.png is a duplicate');
  assert.ok(!log.includes('dir/.DS_Store'), 'hidden files are never decoded');
  // The same file again later is a duplicate; a refused one may be tried again.
  await own.add([file('a.png')]);
  assert.equal(own.refused.at(-1)?.reason, 'already added');
});

test('one batch at a time, with progress; clear() starts over', async () => {
  const own = new OwnImages(decoder());
  const seen: [number, number][] = [];
  const files = Array.from({ length: 17 }, (_, i) => file(`img${i}.png`, i + 1));
  const first = own.add(files, (d, t) => seen.push([d, t]));
  assert.equal(own.busy, true);
  assert.equal(await own.add([file('late.png')]), false, 'ignored while busy');
  await first;
  assert.equal(own.busy, false);
  assert.deepEqual(seen, [[8, 17], [16, 17]]);
  assert.equal(own.count, 17);
  own.clear();
  assert.equal(own.count, 0);
  assert.deepEqual(own.refused, []);
  await own.add([file('img0.png', 1)]);
  assert.equal(own.count, 1, 'cleared keys: the same file is accepted again');
});
