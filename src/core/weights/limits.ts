/**
 * The validation layer every weights loader passes through (PyTorch, safetensors, the project's
 * folders and zips; Node and the page): a byte and element budget per file, a bounded copy of
 * metadata (depth, size, no shared references), a JSON parser that refuses deep nesting before
 * parsing, confined relative paths, and finite-value checks. Errors are `LoadLimitError`s whose
 * one-line message names the file and the problem.
 */

export interface LoadLimits {
  /** Bytes one file may produce when read: inflated zip entries plus decoded storages. */
  maxBytes: number;
  /** Tensor elements one file may produce, views and temporaries included. */
  maxElements: number;
  /** Nesting depth of metadata (pickled dicts and lists, JSON). */
  maxDepth: number;
  /** Values in a file's metadata, counted as a tree: a shared object counts once per reference. */
  maxNodes: number;
  /** Characters (and bytes) in a file's metadata, counted per reference as well. */
  maxChars: number;
  /** Bytes of one pickled integer (LONG1 / LONG4). */
  maxIntBytes: number;
}

/**
 * Generous for what the project reads (a full-width training checkpoint with EMA and both Adam
 * moments is 67 M float32 elements, 270 MB), small enough that a hostile file cannot take the
 * machine or freeze a tab for long.
 */
export const DEFAULT_LIMITS: Readonly<LoadLimits> = Object.freeze({
  maxBytes: 1024 * 1024 * 1024,
  maxElements: 2 ** 27,
  maxDepth: 64,
  maxNodes: 1_000_000,
  maxChars: 64 * 1024 * 1024,
  maxIntBytes: 4096,
});

/**
 * The largest weights file the page accepts from a reader (a full-width training checkpoint with
 * EMA and Adam moments is ~270 MB as float32); the per-file budget above applies inside it.
 */
export const MAX_PAGE_FILE_BYTES = 512 * 1024 * 1024;

export class LoadLimitError extends Error {
  override name = 'LoadLimitError';
}

const fmtBytes = (n: number): string =>
  n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${n} bytes`;
const fmtCount = (n: number): string => n.toLocaleString('en-US');

/** What one file has used so far; `charge*` throws once a limit would be passed. */
export class Budget {
  bytes = 0;
  elements = 0;
  readonly limits: LoadLimits;
  constructor(
    readonly fileName: string,
    limits: Partial<LoadLimits> = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  fail(msg: string): never {
    throw new LoadLimitError(`${this.fileName}: ${msg}`);
  }

  chargeBytes(n: number, what: string): void {
    if (!(n >= 0) || this.bytes + n > this.limits.maxBytes) {
      this.fail(`${what} needs ${fmtBytes(n)}, over the ${fmtBytes(this.limits.maxBytes)} this reader allows per file (${fmtBytes(this.bytes)} already used)`);
    }
    this.bytes += n;
  }

  chargeElements(n: number, what: string): void {
    if (!(n >= 0) || this.elements + n > this.limits.maxElements) {
      this.fail(`${what} needs ${fmtCount(n)} elements, over the ${fmtCount(this.limits.maxElements)} this reader allows per file (${fmtCount(this.elements)} already used)`);
    }
    this.elements += n;
  }
}

/** The budget a loader was handed, or a fresh one with the default limits. */
export function budgetFor(fileName: string, b?: Budget | Partial<LoadLimits>): Budget {
  return b instanceof Budget ? b : new Budget(fileName, b ?? {});
}

// ------------------------------------------------------------------ JSON

/** Deepest bracket nesting in a JSON text, in one pass (strings skipped). */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) max = depth;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/** JSON.parse, refusing deep nesting and oversized text first; errors name the file. */
export function parseJsonLimited(text: string, source: string, limits: Partial<LoadLimits> = {}): unknown {
  const l = { ...DEFAULT_LIMITS, ...limits };
  if (text.length > l.maxChars) throw new LoadLimitError(`${source}: ${fmtCount(text.length)} characters of JSON, over the ${fmtCount(l.maxChars)} allowed`);
  const depth = jsonDepth(text);
  if (depth > l.maxDepth) throw new LoadLimitError(`${source}: JSON nested ${fmtCount(depth)} levels deep, over the ${l.maxDepth} allowed`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new LoadLimitError(`${source} is not valid JSON: ${(e as Error).message}`);
  }
}

// ------------------------------------------------------------------ metadata

/**
 * A bounded tree copy: every reference is copied anew (a value shared a billion times counts a
 * billion times, so "billion laughs" stops at `maxNodes`), a cycle is refused by name, depth and
 * characters are capped. `leaf` may keep a value as is (a tensor, bytes) or map it; return
 * `undefined` to recurse into it as usual.
 */
export function boundedCopy(
  value: unknown,
  source: string,
  opts: {
    limits?: Partial<LoadLimits>;
    leaf?: (v: object) => { keep: unknown } | undefined;
    entries?: (v: object) => Iterable<[unknown, unknown]> | null;
  } = {},
): unknown {
  const l = { ...DEFAULT_LIMITS, ...opts.limits };
  let nodes = 0;
  let chars = 0;
  const onPath = new Set<object>();
  const fail = (msg: string): never => {
    throw new LoadLimitError(`${source}: metadata ${msg}`);
  };
  const count = (c: number): void => {
    if (++nodes > l.maxNodes) fail(`has more than ${fmtCount(l.maxNodes)} values (shared references are counted each time they are used)`);
    chars += c;
    if (chars > l.maxChars) fail(`holds more than ${fmtCount(l.maxChars)} characters (shared references are counted each time they are used)`);
  };
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') {
      count(v.length);
      return v;
    }
    if (v === null || typeof v !== 'object') {
      count(typeof v === 'bigint' ? Math.ceil(v.toString(16).length) : 1);
      return v;
    }
    if (depth > l.maxDepth) fail(`is nested more than ${l.maxDepth} levels deep`);
    if (onPath.has(v)) fail('contains a cycle (a container that holds itself)');
    const kept = opts.leaf?.(v);
    if (kept) {
      count(v instanceof Uint8Array ? v.length : 1);
      return kept.keep;
    }
    count(1);
    onPath.add(v);
    try {
      const custom = opts.entries?.(v);
      if (custom) {
        const out: Record<string, unknown> = {};
        for (const [k, x] of custom) {
          const key = String(walk(k, depth + 1));
          Object.defineProperty(out, key, { value: walk(x, depth + 1), enumerable: true, writable: true, configurable: true });
        }
        return out;
      }
      if (Array.isArray(v) || v instanceof Set) {
        const out: unknown[] = [];
        for (const x of v) out.push(walk(x, depth + 1));
        return out;
      }
      if (ArrayBuffer.isView(v)) {
        count((v as ArrayBufferView).byteLength);
        return v;
      }
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        count(k.length);
        Object.defineProperty(out, k, { value: walk(x, depth + 1), enumerable: true, writable: true, configurable: true });
      }
      return out;
    } finally {
      onPath.delete(v);
    }
  };
  return walk(value, 0);
}

/**
 * A value safe to put in JSON: bigints as decimal strings, bytes and typed arrays as a short
 * description, non-finite numbers as null; bounded like `boundedCopy`.
 */
export function jsonSafe(value: unknown, source: string, limits: Partial<LoadLimits> = {}): unknown {
  const copy = boundedCopy(value, source, {
    limits,
    leaf: (v) => (ArrayBuffer.isView(v) ? { keep: `<${(v as ArrayBufferView).byteLength} bytes>` } : undefined),
  });
  const fix = (v: unknown): unknown => {
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'number') return Number.isFinite(v) ? v : null;
    if (Array.isArray(v)) return v.map(fix);
    if (v && typeof v === 'object') {
      for (const k of Object.keys(v)) (v as Record<string, unknown>)[k] = fix((v as Record<string, unknown>)[k]);
    }
    return v;
  };
  return fix(copy);
}

// ------------------------------------------------------------------ paths and values

/**
 * A file name from a manifest, relative to the manifest's folder: no absolute paths, drive
 * letters, backslashes, `..` or `.` segments, URL escapes, queries or fragments. Returns the
 * path; throws naming the manifest otherwise.
 */
export function confinedPath(p: unknown, source: string): string {
  const bad = (why: string): never => {
    throw new LoadLimitError(`${source}: shard path ${JSON.stringify(p)} ${why}; shard paths must stay inside the weights folder`);
  };
  if (typeof p !== 'string' || p.length === 0) return bad('is not a file name');
  if (p.length > 255) bad('is too long');
  if (/[\\:%?#\0]/.test(p)) bad('has a character that is not allowed in a shard name (\\ : % ? # or NUL)');
  if (p.startsWith('/')) bad('is absolute');
  if (p.split('/').some((s) => s === '' || s === '.' || s === '..')) bad('has an empty, "." or ".." segment');
  return p;
}

/** The first non-finite value in `data`, as [index, value], or null. */
export function firstNonFinite(data: ArrayLike<number>): [number, number] | null {
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    if (x - x !== 0) return [i, x];
  }
  return null;
}
