/**
 * Weights on disk: the project's folder (weights.json + shards), a .zip of such a folder (what
 * the page's training lab downloads), or a .pth / .safetensors file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MANIFEST_FILE, encodeWeights, shardPaths, validateManifest, type EncodeOptions, type NamedArray, type WeightsManifest, type WeightsMeta } from '../core/weights/format.ts';
import { Budget, confinedPath, LoadLimitError, parseJsonLimited, type LoadLimits } from '../core/weights/limits.ts';
import { recoverDir, writeDirAtomic, type StepHook } from './fs-safe.ts';
import { loadProjectWeights, loadProjectZip, loadTorchOrSafetensors, type LoadedWeights } from '../core/weights/load-any.ts';
import { ZipReader } from '../core/weights/zip.ts';
import { UserError } from './command.ts';
import { DEFAULT_MODEL, shippedWeightsDir } from '../core/shipped-models.ts';

/** The CLI's default weights: the page's default model (the small, class-conditional one). */
export const DEFAULT_WEIGHTS = shippedWeightsDir(DEFAULT_MODEL);

/** Reads a file whose size the budget allows; `what` names it in errors. */
function readBounded(file: string, budget: Budget): Uint8Array {
  const st = fs.statSync(file);
  if (!st.isFile()) throw new LoadLimitError(`${file} is not a regular file`);
  budget.chargeBytes(st.size, `reading ${file}`);
  return new Uint8Array(fs.readFileSync(file));
}

/** A shard named in `manifest`, confined to `dir` (symbolic links included) and within the budget. */
function readShard(dir: string, rel: unknown, manifest: string, budget: Budget): Uint8Array {
  const f = path.join(dir, confinedPath(rel, manifest));
  if (!fs.existsSync(f)) throw new LoadLimitError(`${manifest}: weights shard ${f} is missing`);
  const real = fs.realpathSync(f);
  const realDir = fs.realpathSync(dir);
  if (path.relative(realDir, real).startsWith('..') || path.isAbsolute(path.relative(realDir, real))) {
    throw new LoadLimitError(`${manifest}: weights shard ${String(rel)} resolves outside the weights folder (${real})`);
  }
  return readBounded(f, budget);
}

/** Loads any supported weights path; errors become UserErrors with the file named. */
export function loadWeightsPath(p: string, prefer: 'ema' | 'model' = 'ema', limits: Partial<LoadLimits> = {}): LoadedWeights {
  // a folder whose replacement was interrupted: put the complete copy back first
  if (!p.endsWith('.json')) {
    try { recoverDir(p, MANIFEST_FILE); } catch { /* read what is there */ }
  }
  if (!fs.existsSync(p)) throw new UserError(`no weights at ${p}${p === DEFAULT_WEIGHTS ? ' (train some with `diffusion train`, or import a checkpoint with `diffusion import`)' : ''}`);
  try {
    if (fs.statSync(p).isDirectory() || p.endsWith('.json')) {
      const file = fs.statSync(p).isDirectory() ? path.join(p, MANIFEST_FILE) : p;
      if (!fs.existsSync(file)) throw new Error(`${p} has no ${MANIFEST_FILE}; is it a weights folder?`);
      const budget = new Budget(file, limits);
      const json = parseJsonLimited(new TextDecoder().decode(readBounded(file, budget)), file, budget.limits);
      const manifest = validateManifest(json, file, budget.limits);
      const dir = path.dirname(file);
      const shards = shardPaths(manifest).map((s) => readShard(dir, s, file, budget));
      return loadProjectWeights(manifest, shards, file, budget.limits);
    }
    const budget = new Budget(p, limits);
    const bytes = readBounded(p, budget);
    const zipped = projectZip(bytes, p, budget);
    if (zipped) return zipped;
    return loadTorchOrSafetensors(bytes, p, prefer, budget);
  } catch (e) {
    if (e instanceof UserError) throw e;
    if (e instanceof RangeError) throw new UserError(`${p}: ${e.message} (the file is too large or too deeply nested to read)`);
    throw new UserError((e as Error).message);
  }
}

/** The project's format zipped, or null for any other file (see load-any.ts `loadProjectZip`). */
export const projectZip = loadProjectZip;

/**
 * Writes a weights folder atomically (fs-safe.ts `writeDirAtomic`): at every instant either the
 * old or the new folder is complete, and the next read or write recovers it. `hook` is for tests.
 */
export function writeWeightsDir(dir: string, tensors: NamedArray[], meta: WeightsMeta, opts: EncodeOptions = {}, extraFiles: Record<string, string> = {}, hook?: StepHook): WeightsManifest {
  const { manifest, shards } = encodeWeights(tensors, meta, opts);
  writeManifestDir(dir, manifest, shards, extraFiles, hook);
  return manifest;
}

/** A manifest + shards (+ small extra files) written with `writeDirAtomic`. */
export function writeManifestDir(dir: string, manifest: WeightsManifest, shards: Uint8Array[], extraFiles: Record<string, string> = {}, hook?: StepHook, indent?: number): void {
  const files: [string, Uint8Array | string][] = shardPaths(manifest).map((s, i) => [s, shards[i]!]);
  for (const [name, text] of Object.entries(extraFiles)) files.push([name, text]);
  files.push([MANIFEST_FILE, JSON.stringify(manifest, null, indent ?? 1)]);
  writeDirAtomic(dir, files, MANIFEST_FILE, hook);
}
