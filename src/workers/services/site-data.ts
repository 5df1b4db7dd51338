/**
 * The site's CIFAR-10 subset as a worker loads it: the manifest at the URL the page gives, then
 * one subset's images and labels, checked. Either the data or a sentence saying why there is none.
 */
import { checkSubsetBytes, parseDataManifest, NO_DATA_MESSAGE, type DataManifest } from '../../core/data/manifest.ts';
import { assetUrl, fetchBytes, fetchJson } from './assets.ts';

export type SubsetLoad =
  | { ok: true; manifest: DataManifest; images: Uint8Array; labels: Uint8Array; count: number }
  | { ok: false; message: string };

export async function loadDataSubset(manifestUrl: string, which: 'train' | 'gallery'): Promise<SubsetLoad> {
  const url = assetUrl(manifestUrl);
  let manifest: DataManifest;
  try {
    manifest = parseDataManifest(await fetchJson(url, { what: "the site's data manifest", missing: NO_DATA_MESSAGE }), url.pathname);
  } catch (e) {
    return { ok: false, message: (e as Error).message };
  }
  if (!manifest.available) return { ok: false, message: manifest.message ?? NO_DATA_MESSAGE };
  const s = manifest[which];
  const [images, labels] = await Promise.all([
    fetchBytes(new URL(s.file, url), { what: `the CIFAR-10 ${which} images` }),
    fetchBytes(new URL(s.labels, url), { what: `the CIFAR-10 ${which} labels` }),
  ]);
  checkSubsetBytes(s, images, labels);
  return { ok: true, manifest, images, labels, count: s.count };
}
