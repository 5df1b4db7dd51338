/**
 * Fetching the site's static assets from a worker: bytes with progress and cancellation, JSON
 * within the loaders' size limits, and a whole weights folder (manifest + shards). Every worker
 * fetches through here, so a missing file, a failed request and a cancel read the same everywhere.
 * URLs are resolved against the worker's own location; the page decides which URLs to ask for.
 */
import { parseJsonLimited } from '../../core/weights/limits.ts';
import { MANIFEST_FILE, shardPaths, validateManifest, type WeightsManifest } from '../../core/weights/format.ts';

export interface FetchOptions {
  /** What is fetched, for error messages ("weights shard 0 of the small model"). */
  what: string;
  signal?: AbortSignal;
  /** Called for every chunk read: its length, and the total from Content-Length (0 when unknown). */
  onChunk?: (bytes: number, total: number) => void;
  /** The message for an HTTP 404, when the caller knows what a missing file means to the reader. */
  missing?: string;
}

/** An absolute URL for `url`, relative ones taken from the worker's location (the site's base). */
export function assetUrl(url: string | URL, base: string | URL = self.location.href): URL {
  return new URL(url, base);
}

/**
 * GET `url` as bytes; rejects with a sentence naming `what` (an error named NotFoundError for an
 * HTTP 404; a cancel rejects with its AbortError).
 */
export async function fetchBytes(url: string | URL, opts: FetchOptions): Promise<Uint8Array> {
  const href = assetUrl(url).href;
  let res: Response;
  try {
    res = await fetch(href, { signal: opts.signal });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new Error(`could not download ${opts.what} (${href}): ${(e as Error).message}`);
  }
  if (res.status === 404) throw Object.assign(new Error(opts.missing ?? `${opts.what} is missing from this site (HTTP 404 for ${href})`), { name: 'NotFoundError' });
  if (!res.ok) throw new Error(`could not download ${opts.what}: HTTP ${res.status} ${res.statusText} for ${href}`);
  const total = Number(res.headers.get('content-length') ?? 0);
  if (!res.body) {
    const b = new Uint8Array(await res.arrayBuffer());
    opts.onChunk?.(b.length, total);
    return b;
  }
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let got = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    got += value.length;
    opts.onChunk?.(value.length, total);
  }
  const out = new Uint8Array(got);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** GET `url` as JSON, within the loaders' metadata size limit. */
export async function fetchJson(url: string | URL, opts: FetchOptions): Promise<unknown> {
  const bytes = await fetchBytes(url, opts);
  try {
    return parseJsonLimited(new TextDecoder().decode(bytes), opts.what);
  } catch (e) {
    throw new Error(`${opts.what} is not valid JSON: ${(e as Error).message}`);
  }
}

export interface WeightsFolder {
  manifest: WeightsManifest;
  shards: Uint8Array[];
  /** Bytes downloaded (manifest and shards). */
  bytes: number;
}

export interface WeightsFolderOptions {
  /** The model's name in messages ("the small model"). */
  name: string;
  signal?: AbortSignal;
  /** Bytes of shards downloaded so far and the expected total (from the manifest before headers arrive). */
  onProgress?: (loaded: number, total: number) => void;
  /** The message when the folder has no manifest (HTTP 404 for `manifestUrl`). */
  missing?: (manifestUrl: string) => string;
}

/** A project-format weights folder: its checked manifest, then every shard it lists, in parallel. */
export async function fetchWeightsFolder(dir: string | URL, opts: WeightsFolderOptions): Promise<WeightsFolder> {
  const base = assetUrl(String(dir).endsWith('/') ? dir : `${dir}/`);
  const manifestUrl = new URL(MANIFEST_FILE, base);
  const manifestBytes = await fetchBytes(manifestUrl, { what: `the ${opts.name} weights' manifest`, signal: opts.signal, missing: opts.missing?.(manifestUrl.href) });
  let json: unknown;
  try {
    json = parseJsonLimited(new TextDecoder().decode(manifestBytes), manifestUrl.href);
  } catch {
    throw new Error(`the ${opts.name} weights are not shipped with this site (${manifestUrl.href} is not a JSON manifest)`);
  }
  const manifest = validateManifest(json, manifestUrl.href);
  // Expected size from the manifest (float16 = 2 bytes per value), for a progress total before headers arrive.
  let total = 0;
  for (const g of manifest.weightsManifest) for (const w of g.weights) total += w.shape.reduce((a, b) => a * b, 1) * (w.quantization?.dtype === 'float16' ? 2 : 4);
  let loaded = 0;
  opts.onProgress?.(0, total);
  const shards = await Promise.all(
    shardPaths(manifest).map((p) =>
      fetchBytes(new URL(p, manifestUrl), {
        what: `weights shard ${p} of the ${opts.name}`, signal: opts.signal,
        onChunk: (n) => {
          loaded += n;
          opts.onProgress?.(loaded, Math.max(total, loaded));
        },
      }),
    ),
  );
  return { manifest, shards, bytes: loaded + manifestBytes.length };
}
