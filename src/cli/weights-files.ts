/** The project's weights format on disk: a folder with weights.json and its shards. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MANIFEST_FILE, decodeWeights, encodeWeights, shardPaths, validateManifest, type EncodeOptions, type NamedArray, type WeightsManifest, type WeightsMeta } from '../core/weights/format.ts';
import { UserError } from './command.ts';

/** Accepts the folder or the manifest file itself. */
export function manifestPath(p: string): string {
  const st = fs.existsSync(p) ? fs.statSync(p) : null;
  if (!st) throw new UserError(`no weights at ${p}`);
  return st.isDirectory() ? path.join(p, MANIFEST_FILE) : p;
}

export function readWeightsDir(p: string): { manifest: WeightsManifest; tensors: Map<string, NamedArray>; dir: string } {
  const file = manifestPath(p);
  if (!fs.existsSync(file)) throw new UserError(`${path.dirname(file)} has no ${MANIFEST_FILE}; is it a weights folder?`);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UserError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  let manifest: WeightsManifest;
  try {
    manifest = validateManifest(json, file);
  } catch (e) {
    throw new UserError((e as Error).message);
  }
  const dir = path.dirname(file);
  const shards = shardPaths(manifest).map((s) => {
    const f = path.join(dir, s);
    if (!fs.existsSync(f)) throw new UserError(`weights shard ${f} is missing`);
    return new Uint8Array(fs.readFileSync(f));
  });
  try {
    return { manifest, tensors: decodeWeights(manifest, shards), dir };
  } catch (e) {
    throw new UserError(`${file}: ${(e as Error).message}`);
  }
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
