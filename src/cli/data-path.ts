/**
 * Finding and reading the CIFAR-10 binary batches on disk (Node only).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CIFAR_DIR_NAME,
  RECORD_BYTES,
  RECORDS_PER_FILE,
  TEST_FILE,
  TRAIN_FILES,
  concatBatches,
  parseCifarBatch,
  type CifarBatch,
} from '../core/data/cifar.ts';
import { UserError } from './command.ts';

export const CIFAR_ENV_VAR = 'CIFAR10_DIR';

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** A folder "holds" CIFAR-10 when it has at least one of the batch files. */
function holdsBatches(dir: string): boolean {
  if (!isDir(dir)) return false;
  return [...TRAIN_FILES, TEST_FILE].some((f) => fs.existsSync(path.join(dir, f)));
}

/** The folder itself, or its `cifar-10-batches-bin` child, whichever holds the batches. */
function matchCandidate(candidate: string): string | null {
  if (holdsBatches(candidate)) return candidate;
  const child = path.join(candidate, CIFAR_DIR_NAME);
  if (holdsBatches(child)) return child;
  return null;
}

export interface CifarCandidate {
  /** Where the path came from, for messages. */
  source: string;
  path: string;
}

/** The places resolveCifarDir looks, in order (the explicit path, if given, is alone). */
export function cifarCandidates(explicit?: string, cwd = process.cwd(), env = process.env): CifarCandidate[] {
  if (explicit !== undefined && explicit !== '') {
    return [{ source: 'the path given', path: path.resolve(cwd, explicit) }];
  }
  const out: CifarCandidate[] = [];
  const fromEnv = env[CIFAR_ENV_VAR];
  if (fromEnv !== undefined && fromEnv !== '') {
    out.push({ source: `$${CIFAR_ENV_VAR}`, path: path.resolve(cwd, fromEnv) });
  }
  out.push({ source: 'default', path: path.resolve(cwd, 'data', CIFAR_DIR_NAME) });
  out.push({ source: 'default', path: path.resolve(cwd, '..', 'shared', 'data', CIFAR_DIR_NAME) });
  return out;
}

/**
 * Finds the folder holding the CIFAR-10 `.bin` batches. Looks at, in order: `explicit`, the
 * `CIFAR10_DIR` environment variable, `./data/cifar-10-batches-bin`,
 * `../shared/data/cifar-10-batches-bin` (relative to the working directory). Each may name the
 * folder itself or its parent holding `cifar-10-batches-bin/`. An explicit path that does not
 * hold the data is an error of its own (no silent fallback to other data).
 */
export function resolveCifarDir(explicit?: string): string {
  const candidates = cifarCandidates(explicit);
  for (const c of candidates) {
    const hit = matchCandidate(c.path);
    if (hit !== null) return hit;
  }
  const looked = candidates
    .map((c) => `  - ${c.path} (${c.source}; or ${path.join(c.path, CIFAR_DIR_NAME)})`)
    .join('\n');
  throw new UserError(
    `CIFAR-10 data not found. Looked for data_batch_*.bin / ${TEST_FILE} in:\n${looked}\n` +
      `Run \`diffusion data\` to download it (into ./data/${CIFAR_DIR_NAME}), ` +
      `or point --data / $${CIFAR_ENV_VAR} at an existing copy.`,
  );
}

export interface LoadCifarOptions {
  /** Read at most this many records (from the first files, in order). */
  limit?: number;
  /** Accept batch files of any whole number of records (tests); otherwise each must hold 10,000. */
  anySize?: boolean;
}

function readFileBytes(file: string, maxBytes?: number): Uint8Array {
  if (maxBytes === undefined) return new Uint8Array(fs.readFileSync(file));
  const fd = fs.openSync(file, 'r');
  try {
    const buf = new Uint8Array(maxBytes);
    let got = 0;
    while (got < maxBytes) {
      const n = fs.readSync(fd, buf, got, maxBytes - got, got);
      if (n === 0) break;
      got += n;
    }
    return got === maxBytes ? buf : buf.subarray(0, got);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads the training batches (data_batch_1..5, in order) or the test batch from `dir`.
 * With `limit`, reads only the first `limit` records (whole files are still size-checked).
 */
export function loadCifar(dir: string, which: 'train' | 'test', opts: LoadCifarOptions = {}): CifarBatch {
  const files: readonly string[] = which === 'train' ? TRAIN_FILES : [TEST_FILE];
  const limit = opts.limit;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
    throw new UserError(`loadCifar: limit must be a non-negative integer, got ${limit}`);
  }
  const missing = files.filter((f) => !fs.existsSync(path.join(dir, f)));
  if (missing.length > 0) {
    throw new UserError(
      `CIFAR-10 ${which} data incomplete in ${dir}: missing ${missing.join(', ')}. ` +
        `Run \`diffusion data --force\` to download it again.`,
    );
  }
  const batches: CifarBatch[] = [];
  let have = 0;
  for (const f of files) {
    if (limit !== undefined && have >= limit) break;
    const file = path.join(dir, f);
    const size = fs.statSync(file).size;
    if (!opts.anySize && size !== RECORDS_PER_FILE * RECORD_BYTES) {
      throw new UserError(
        `${file} is ${size.toLocaleString('en-US')} bytes (${(size / RECORD_BYTES).toLocaleString('en-US', { maximumFractionDigits: 2 })} records); ` +
          `an official CIFAR-10 batch holds ${RECORDS_PER_FILE.toLocaleString('en-US')} records (${(RECORDS_PER_FILE * RECORD_BYTES).toLocaleString('en-US')} bytes). ` +
          'Run `diffusion data --force` to download it again.',
      );
    }
    let want: number | undefined;
    if (limit !== undefined && size % RECORD_BYTES === 0 && (limit - have) * RECORD_BYTES < size) {
      want = (limit - have) * RECORD_BYTES;
    }
    let batch: CifarBatch;
    try {
      batch = parseCifarBatch(readFileBytes(file, want), file);
    } catch (e) {
      throw new UserError((e as Error).message);
    }
    batches.push(batch);
    have += batch.count;
  }
  return batches.length === 1 ? batches[0]! : concatBatches(batches);
}
