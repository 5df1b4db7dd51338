/**
 * Weights on disk: the project's folder (weights.json + shards), a .zip of such a folder (what
 * the page's training lab downloads), or a .pth / .safetensors file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MANIFEST_FILE, encodeWeights, shardPaths, type EncodeOptions, type NamedArray, type WeightsManifest, type WeightsMeta } from '../core/weights/format.ts';
import { loadProjectWeights, loadTorchOrSafetensors, type LoadedWeights } from '../core/weights/load-any.ts';
import { ZipReader } from '../core/weights/zip.ts';
import { UserError } from './command.ts';

/** The shipped full-width weights, used when a command gets no --weights. */
export const DEFAULT_WEIGHTS = 'public/weights/simple-unet';

/** Loads any supported weights path; errors become UserErrors with the file named. */
export function loadWeightsPath(p: string, prefer: 'ema' | 'model' = 'ema'): LoadedWeights {
  if (!fs.existsSync(p)) throw new UserError(`no weights at ${p}${p === DEFAULT_WEIGHTS ? ' (train some with `diffusion train`, or import a checkpoint with `diffusion import`)' : ''}`);
  try {
    if (fs.statSync(p).isDirectory() || p.endsWith('.json')) {
      const file = fs.statSync(p).isDirectory() ? path.join(p, MANIFEST_FILE) : p;
      if (!fs.existsSync(file)) throw new Error(`${p} has no ${MANIFEST_FILE}; is it a weights folder?`);
      let json: unknown;
      try {
        json = JSON.parse(fs.readFileSync(file, 'utf8'));
      } catch (e) {
        throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
      }
      const dir = path.dirname(file);
      const paths = (json as { weightsManifest?: { paths?: string[] }[] }).weightsManifest?.flatMap((g) => g.paths ?? []) ?? [];
      const shards = paths.map((s) => {
        const f = path.join(dir, s);
        if (!fs.existsSync(f)) throw new Error(`weights shard ${f} is missing`);
        return new Uint8Array(fs.readFileSync(f));
      });
      return loadProjectWeights(json, shards, file);
    }
    const bytes = new Uint8Array(fs.readFileSync(p));
    const zipped = projectZip(bytes, p);
    if (zipped) return zipped;
    return loadTorchOrSafetensors(bytes, p, prefer);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError((e as Error).message);
  }
}

/**
 * The project's format zipped (weights.json and its shards, at the top of the archive or in one
 * folder), unzipped in memory. Returns null for any other file, so a PyTorch checkpoint (also a
 * zip, but without weights.json) goes on to the PyTorch reader.
 */
export function projectZip(bytes: Uint8Array, p: string): LoadedWeights | null {
  if (!ZipReader.isZip(bytes)) return null;
  const zip = new ZipReader(bytes, p);
  const manifests = [...zip.entries.keys()].filter((n) => n === MANIFEST_FILE || n.endsWith(`/${MANIFEST_FILE}`));
  if (manifests.length === 0) {
    if (p.toLowerCase().endsWith('.zip')) {
      const torch = [...zip.entries.keys()].some((n) => n.endsWith('/data.pkl') || n === 'data.pkl');
      if (!torch) throw new Error(`${p} is a zip without ${MANIFEST_FILE}: expected the project's weights (${MANIFEST_FILE} + shards, e.g. from the training lab's "Download weights")`);
    }
    return null;
  }
  // The shallowest weights.json wins (a zipped folder holds one).
  const entry = manifests.sort((a, b) => a.split('/').length - b.split('/').length)[0];
  const dir = entry.slice(0, entry.length - MANIFEST_FILE.length);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(zip.read(entry)));
  } catch (e) {
    throw new Error(`${p}: ${entry} is not valid JSON: ${(e as Error).message}`);
  }
  const paths = (json as { weightsManifest?: { paths?: string[] }[] }).weightsManifest?.flatMap((g) => g.paths ?? []) ?? [];
  const shards = paths.map((s) => {
    const name = dir + s;
    if (!zip.has(name)) throw new Error(`${p}: weights shard ${name} is missing from the zip`);
    return zip.read(name);
  });
  return loadProjectWeights(json, shards, `${p} (${entry})`);
}

/** Writes into a temporary folder and renames it into place, so a crash never leaves half a checkpoint. */
export function writeWeightsDir(dir: string, tensors: NamedArray[], meta: WeightsMeta, opts: EncodeOptions = {}, extraFiles: Record<string, string> = {}): WeightsManifest {
  const { manifest, shards } = encodeWeights(tensors, meta, opts);
  const abs = path.resolve(dir);
  const tmp = `${abs}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  shardPaths(manifest).forEach((s, i) => fs.writeFileSync(path.join(tmp, s), shards[i]));
  for (const [name, text] of Object.entries(extraFiles)) fs.writeFileSync(path.join(tmp, name), text);
  fs.writeFileSync(path.join(tmp, MANIFEST_FILE), JSON.stringify(manifest, null, 1));
  const old = `${abs}.old-${process.pid}`;
  if (fs.existsSync(abs)) fs.renameSync(abs, old);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  fs.renameSync(tmp, abs);
  fs.rmSync(old, { recursive: true, force: true });
  return manifest;
}
