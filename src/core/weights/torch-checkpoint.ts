/**
 * Reads what `torch.save` writes (the zip format, torch ≥ 1.6) without PyTorch and without
 * running anything from the file: `<archive>/data.pkl` goes through the safe unpickler in
 * pickle.ts, whose allowlist here is the handful of torch builders a state_dict, an optimizer
 * state and plain metadata need; `<archive>/data/<key>` hold the raw little-endian storages.
 *
 * Every tensor comes back as a contiguous row-major `TorchTensor` (views with storage offsets
 * and strides — transposes, slices, tensors sharing one storage — are copied out correctly).
 */

import { bfloat16ToFloat32, float16ToFloat32 } from './half.ts';
import { BASE_GLOBALS, PickleError, PyGlobal, unpickle, type GlobalTable, type PyCallImpl } from './pickle.ts';
import {
  aligned,
  assertLittleEndianHost,
  DTYPE_BYTES,
  isTorchTensor,
  numel,
  TorchTensorImpl,
  type TensorData,
  type TorchDtype,
  type TorchTensor,
} from './tensor.ts';
import { ZipError, ZipReader } from './zip.ts';
import { boundedCopy, budgetFor, LoadLimitError, type Budget, type LoadLimits } from './limits.ts';

export type { TorchDtype, TorchTensor, TensorData } from './tensor.ts';
export { isTorchTensor } from './tensor.ts';

export class CheckpointFormatError extends Error {
  override name = 'CheckpointFormatError';
}

export interface TorchCheckpoint {
  fileName: string;
  /** The folder inside the zip (torch names it after the file it saved to). */
  archiveName: string;
  /** The archive's `version` record, if present. */
  formatVersion: number | null;
  /**
   * The unpickled object. dicts are `Map`s (keys as Python had them), lists arrays, tuples
   * frozen arrays, tensors `TorchTensor`s; see pickle.ts for the rest.
   */
  root: unknown;
  /**
   * The top-level entries of a dict checkpoint that hold no tensors (model_config, epoch,
   * train_losses, ...), as plain JS values (`toPlain`). Empty for a bare state_dict.
   */
  meta: Record<string, unknown>;
}

// ------------------------------------------------------------------ storages and tensors

/** One `<archive>/data/<key>` record, typed by the storage class the pickle named. */
class TorchStorage {
  constructor(
    readonly key: string,
    readonly dtype: TorchDtype,
    /** true for torch.UntypedStorage: bytes that `_rebuild_tensor_v3` gives a dtype. */
    readonly untyped: boolean,
    readonly bytes: Uint8Array,
  ) {}
}

const STORAGE_DTYPES: Record<string, TorchDtype> = {
  'torch.FloatStorage': 'float32',
  'torch.HalfStorage': 'float16',
  'torch.BFloat16Storage': 'bfloat16',
  'torch.DoubleStorage': 'float64',
  'torch.LongStorage': 'int64',
  'torch.IntStorage': 'int32',
  'torch.ByteStorage': 'uint8',
  'torch.BoolStorage': 'bool',
};
const UNTYPED_STORAGES = ['torch.UntypedStorage', 'torch.storage.UntypedStorage'];

/** `torch.float32`-style dtype globals (they appear in `_rebuild_tensor_v3` and in metadata). */
const DTYPE_GLOBALS: Record<string, TorchDtype> = {
  'torch.float32': 'float32',
  'torch.float': 'float32',
  'torch.float16': 'float16',
  'torch.half': 'float16',
  'torch.bfloat16': 'bfloat16',
  'torch.float64': 'float64',
  'torch.double': 'float64',
  'torch.int64': 'int64',
  'torch.long': 'int64',
  'torch.int32': 'int32',
  'torch.int': 'int32',
  'torch.uint8': 'uint8',
  'torch.bool': 'bool',
};

function isIntList(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => Number.isSafeInteger(x) && (x as number) >= 0);
}

/** `count` elements of `dtype` starting at element `offset`, decoded into a fresh array. */
function decodeRange(bytes: Uint8Array, dtype: TorchDtype, offset: number, count: number): TensorData {
  const size = DTYPE_BYTES[dtype];
  const raw = aligned(bytes.subarray(offset * size, (offset + count) * size), size);
  const { buffer, byteOffset } = raw;
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer, byteOffset, count).slice();
    case 'float16':
      return float16ToFloat32(new Uint16Array(buffer, byteOffset, count));
    case 'bfloat16':
      return bfloat16ToFloat32(new Uint16Array(buffer, byteOffset, count));
    case 'float64':
      return new Float32Array(new Float64Array(buffer, byteOffset, count));
    case 'int64':
      return new BigInt64Array(buffer, byteOffset, count).slice();
    case 'int32':
      return new Int32Array(buffer, byteOffset, count).slice();
    case 'uint8':
    case 'bool':
      return raw.slice();
  }
}

function emptyOf(dtype: TorchDtype): TensorData {
  if (dtype === 'int64') return new BigInt64Array(0);
  if (dtype === 'int32') return new Int32Array(0);
  if (dtype === 'uint8' || dtype === 'bool') return new Uint8Array(0);
  return new Float32Array(0);
}

/**
 * A strided view copied out in row-major order, walking the strides directly (no index array:
 * the output is the only allocation, whatever the strides).
 */
function gatherStrided(src: TensorData, size: readonly number[], stride: readonly number[]): TensorData {
  const n = numel(size);
  const nd = size.length;
  const out: TensorData =
    src instanceof BigInt64Array ? new BigInt64Array(n)
      : src instanceof Float32Array ? new Float32Array(n)
        : src instanceof Int32Array ? new Int32Array(n) : new Uint8Array(n);
  const idx = new Array<number>(nd).fill(0);
  let at = 0;
  for (let i = 0; i < n; i++) {
    (out as unknown as { [k: number]: number | bigint })[i] = src[at]!;
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]!++;
      at += stride[d]!;
      if (idx[d]! < size[d]!) break;
      at -= stride[d]! * size[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

function isRowMajor(size: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let d = size.length - 1; d >= 0; d--) {
    if (size[d]! !== 1 && stride[d]! !== expected) return false;
    expected *= size[d]!;
  }
  return true;
}

function rebuildTensor(budget: Budget | undefined, storage: unknown, offset: unknown, size: unknown, stride: unknown, dtype?: TorchDtype): TorchTensor {
  if (!(storage instanceof TorchStorage)) throw new PickleError('_rebuild_tensor: the storage argument is not a storage reference');
  if (!Number.isSafeInteger(offset) || (offset as number) < 0) throw new PickleError('_rebuild_tensor: bad storage offset');
  if (!isIntList(size) || !isIntList(stride) || size.length !== stride.length) {
    throw new PickleError('_rebuild_tensor: size and stride must be equal-length lists of non-negative integers');
  }
  const dt = dtype ?? storage.dtype;
  if (!storage.untyped && dtype !== undefined && dtype !== storage.dtype) {
    throw new PickleError(`_rebuild_tensor: a ${dtype} tensor over a ${storage.dtype} storage`);
  }
  const shape = [...size];
  const n = numel(shape);
  if (!Number.isSafeInteger(n)) throw new PickleError(`tensor of shape [${shape}] has more elements than this reader supports`);
  if (n === 0) return new TorchTensorImpl(dt, shape, emptyOf(dt));
  let span = 1;
  for (let d = 0; d < shape.length; d++) span += (shape[d]! - 1) * stride[d]!;
  const available = Math.floor(storage.bytes.length / DTYPE_BYTES[dt]);
  const start = offset as number;
  if (start + span > available) {
    throw new PickleError(
      `tensor of shape [${shape}] at storage offset ${start} with strides [${stride}] needs ${start + span} ` +
        `elements but storage '${storage.key}' holds ${available}`,
    );
  }
  // Every element a tensor produces counts against the file's budget, the storage range decoded for
  // a strided view as well: a stride-0 view of one element cannot expand without limit.
  const rowMajor = isRowMajor(shape, stride);
  budget?.chargeElements(rowMajor ? n : n + span, `tensor of shape [${shape}]${rowMajor ? '' : ` (a view with strides [${stride}])`}`);
  const elems = decodeRange(storage.bytes, dt, start, span);
  const data = rowMajor ? elems : gatherStrided(elems, shape, stride);
  return new TorchTensorImpl(dt, shape, data);
}

function torchGlobals(budget?: Budget): GlobalTable {
  const g = new Map<string, PyCallImpl | null>(BASE_GLOBALS);
  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  g.set('torch._utils._rebuild_tensor_v2', (a) => rebuildTensor(budget, a[0], a[1], a[2], a[3]));
  // _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype[, metadata])
  g.set('torch._utils._rebuild_tensor_v3', (a) => {
    const dt = a[6] instanceof PyGlobal ? DTYPE_GLOBALS[a[6].qualifiedName] : undefined;
    if (!dt) throw new PickleError('_rebuild_tensor_v3: unsupported dtype');
    return rebuildTensor(budget, a[0], a[1], a[2], a[3], dt);
  });
  const parameter: PyCallImpl = (a) => {
    if (!isTorchTensor(a[0])) throw new PickleError('_rebuild_parameter: expected a tensor');
    return a[0];
  };
  g.set('torch._utils._rebuild_parameter', parameter);
  g.set('torch._utils._rebuild_parameter_with_state', parameter);
  for (const name of [...Object.keys(STORAGE_DTYPES), ...UNTYPED_STORAGES, ...Object.keys(DTYPE_GLOBALS)]) {
    g.set(name, null); // named (in persistent ids / as dtypes), never called
  }
  g.set('torch.Size', (a) => (Array.isArray(a[0]) ? [...a[0]] : []));
  g.set('torch.device', (a) => (a.length > 1 && a[1] !== null ? `${String(a[0])}:${String(a[1])}` : String(a[0])));
  // torch.__version__ is a str subclass; checkpoints that record it pickle it by class.
  g.set('torch.torch_version.TorchVersion', (a) => String(a[0] ?? ''));
  return g;
}

/** The allowlist torch checkpoints are read with (BASE_GLOBALS plus torch's tensor builders). */
export const TORCH_GLOBALS: GlobalTable = torchGlobals();

// ------------------------------------------------------------------ the archive

const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return bytes.length >= prefix.length && prefix.every((b, i) => bytes[i] === b);
}

function notAZipMessage(bytes: Uint8Array, fileName: string): string {
  const resave =
    'Re-save it with torch ≥ 1.6 (`torch.save(torch.load(path), new_path)`, without ' +
    '`_use_new_zipfile_serialization=False`) to get the zip format this reader supports.';
  if (startsWith(bytes, LEGACY_MAGIC)) {
    return `${fileName} uses PyTorch's legacy (pre-1.6) serialization format, which this reader does not support. ${resave}`;
  }
  if (bytes.length >= 262 && new TextDecoder().decode(bytes.subarray(257, 262)) === 'ustar') {
    return `${fileName} is an old tar-format PyTorch file (torch < 0.4), which this reader does not support. ${resave}`;
  }
  if (bytes[0] === 0x80) {
    return `${fileName} is a bare pickle, not a torch.save zip archive (legacy or hand-pickled). ${resave}`;
  }
  if (bytes.length >= 9 && bytes[8] === 0x7b /* '{' */ && bytes[6] === 0 && bytes[7] === 0) {
    return `${fileName} looks like a safetensors file, not a torch.save archive: read it with readSafetensors.`;
  }
  return `${fileName} is not a PyTorch checkpoint: it does not start with a zip signature (truncated or a different format).`;
}

export function readTorchCheckpoint(bytes: Uint8Array, fileName = 'checkpoint', limits?: Budget | Partial<LoadLimits>): TorchCheckpoint {
  assertLittleEndianHost();
  const budget = budgetFor(fileName, limits);
  if (bytes.length === 0) throw new CheckpointFormatError(`${fileName} is empty`);
  if (!ZipReader.isZip(bytes)) throw new CheckpointFormatError(notAZipMessage(bytes, fileName));
  let zip: ZipReader;
  try {
    zip = new ZipReader(bytes, fileName, budget);
  } catch (e) {
    if (e instanceof ZipError) throw new CheckpointFormatError(`cannot read ${fileName}: ${e.message.replace(`${fileName}: `, '')}`);
    throw e;
  }
  const pkl = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkl.length !== 1) {
    throw new CheckpointFormatError(
      `${fileName} is a zip archive but not a torch.save checkpoint (${pkl.length ? 'several' : 'no'} <name>/data.pkl records)`,
    );
  }
  const archiveName = pkl[0]!.slice(0, -'/data.pkl'.length);
  const prefix = `${archiveName}/`;
  if (zip.has(`${prefix}constants.pkl`) || [...zip.entries.keys()].some((n) => n.startsWith(`${prefix}code/`))) {
    throw new CheckpointFormatError(
      `${fileName} is a TorchScript archive (torch.jit.save), which holds code, not just weights. ` +
        'Save the weights with torch.save(model.state_dict(), path) instead.',
    );
  }
  const text = (name: string): string | null =>
    zip.has(prefix + name) ? new TextDecoder().decode(zip.read(prefix + name)).trim() : null;
  const byteorder = text('byteorder');
  if (byteorder !== null && byteorder !== 'little') {
    throw new CheckpointFormatError(`${fileName} stores ${byteorder}-endian tensors; only little-endian is supported`);
  }
  const versionText = text('version');
  const formatVersion = versionText !== null && /^\d+$/.test(versionText) ? Number(versionText) : null;

  const storages = new Map<string, TorchStorage>();
  const persistentLoad = (pid: unknown): TorchStorage => {
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) {
      throw new PickleError(`${fileName}: unexpected persistent id (not a ('storage', ...) record)`);
    }
    const [, type, key, , count] = pid as unknown[];
    if (!(type instanceof PyGlobal) || typeof key !== 'string' || !Number.isSafeInteger(count)) {
      throw new PickleError(`${fileName}: malformed storage record`);
    }
    const cached = storages.get(key);
    if (cached) return cached;
    const untyped = UNTYPED_STORAGES.includes(type.qualifiedName);
    const dtype = untyped ? 'uint8' : STORAGE_DTYPES[type.qualifiedName];
    if (!dtype) throw new PickleError(`${fileName}: unsupported storage type '${type.qualifiedName}'`);
    const entry = `${prefix}data/${key}`;
    if (!zip.has(entry)) throw new CheckpointFormatError(`${fileName}: storage '${key}' is missing from the archive`);
    const data = zip.read(entry);
    const needed = (count as number) * DTYPE_BYTES[dtype];
    if (data.length < needed) {
      throw new CheckpointFormatError(`${fileName}: storage '${key}' has ${data.length} bytes, expected ${needed} (truncated file?)`);
    }
    const s = new TorchStorage(key, dtype, untyped, data.subarray(0, needed));
    storages.set(key, s);
    return s;
  };

  let root: unknown;
  try {
    root = unpickle(zip.read(`${prefix}data.pkl`), { fileName, globals: torchGlobals(budget), persistentLoad, budget });
  } catch (e) {
    if (e instanceof ZipError) throw new CheckpointFormatError(`cannot read ${fileName}: ${e.message.replace(`${fileName}: `, '')}`);
    throw e;
  }
  const meta: Record<string, unknown> = {};
  if (root instanceof Map) {
    const plain = new Map<unknown, unknown>();
    for (const [k, v] of root) if (!containsTensor(v)) plain.set(k, v);
    // one bounded copy of all the metadata: the node and character limits are per file
    Object.assign(meta, toPlain(plain, fileName, budget.limits) as Record<string, unknown>);
  }
  return { fileName, archiveName, formatVersion, root, meta };
}

// ------------------------------------------------------------------ helpers over the unpickled tree

function containsTensor(v: unknown, seen = new Set<unknown>()): boolean {
  if (isTorchTensor(v)) return true;
  if (v === null || typeof v !== 'object' || seen.has(v)) return false;
  seen.add(v);
  if (v instanceof Map) {
    for (const [k, x] of v) if (containsTensor(k, seen) || containsTensor(x, seen)) return true;
    return false;
  }
  if (Array.isArray(v) || v instanceof Set) {
    for (const x of v) if (containsTensor(x, seen)) return true;
  }
  return false;
}

/**
 * The unpickled tree as plain JS: Maps become objects (keys stringified), tuples and sets
 * arrays, `torch.float32`-style references their dotted names. Tensors, bytes (Uint8Array)
 * and big ints (bigint) are kept as they are. A bounded tree copy (limits.ts `boundedCopy`):
 * shared references are copied each time (and counted), a cycle or too deep, too large a tree
 * is refused with a `LoadLimitError` naming `source`.
 */
export function toPlain(value: unknown, source = 'checkpoint', limits: Partial<LoadLimits> = {}): unknown {
  return boundedCopy(value, source, {
    limits,
    leaf: (v) => (isTorchTensor(v) || v instanceof Uint8Array ? { keep: v } : v instanceof PyGlobal ? { keep: v.qualifiedName } : undefined),
    entries: (v) => (v instanceof Map ? v : null),
  });
}
export { LoadLimitError };

/** Every tensor in the tree, keyed by its dotted path (`optimizer_state_dict.state.0.exp_avg`). */
export function listTensors(value: unknown): Map<string, TorchTensor> {
  const out = new Map<string, TorchTensor>();
  const seen = new Set<unknown>();
  const walk = (v: unknown, path: string): void => {
    if (isTorchTensor(v)) {
      if (!out.has(path)) out.set(path, v);
      return;
    }
    if (v === null || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    const join = (k: unknown): string => (path ? `${path}.${String(k)}` : String(k));
    if (v instanceof Map) for (const [k, x] of v) walk(x, join(k));
    else if (Array.isArray(v)) v.forEach((x, i) => walk(x, join(i)));
  };
  walk(value, '');
  return out;
}

export interface FindStateDictOptions {
  /** Which weights to take from a training checkpoint holding both; default 'model'. */
  prefer?: 'model' | 'ema';
  /** Used in error messages. */
  fileName?: string;
}

export interface FoundStateDict {
  stateDict: Map<string, TorchTensor>;
  /** 'root' for a bare state_dict, else the top-level key it came from (e.g. 'ema_state_dict'). */
  source: string;
  /** The wrapper prefix removed from every key ('module.' from DataParallel, '_orig_mod.' from torch.compile), or null. */
  strippedPrefix: string | null;
}

const MODEL_KEYS = ['model_state_dict', 'state_dict', 'model'];
const EMA_KEYS = ['ema_state_dict', 'ema', 'model_ema', 'ema_model'];
const WRAPPER_PREFIXES = ['module.', '_orig_mod.'];

/**
 * The model's state_dict from a bare state_dict or from a training checkpoint dict
 * (`model_state_dict` / `state_dict` / `model`, or the EMA copy with `prefer: 'ema'`; either
 * falls back to the other when absent — check `source`).
 */
export function findStateDict(root: unknown, options: FindStateDictOptions = {}): FoundStateDict {
  const { prefer = 'model', fileName = 'checkpoint' } = options;
  const tensorsOf = (v: unknown, strict: boolean): Map<string, TorchTensor> | null => {
    if (!(v instanceof Map) || v.size === 0) return null;
    const out = new Map<string, TorchTensor>();
    for (const [k, t] of v) {
      if (typeof k === 'string' && isTorchTensor(t)) out.set(k, t);
      else if (strict) return null;
    }
    return out.size ? out : null;
  };
  let found: Map<string, TorchTensor> | null = tensorsOf(root, true);
  let source = 'root';
  if (!found && root instanceof Map) {
    for (const key of prefer === 'ema' ? [...EMA_KEYS, ...MODEL_KEYS] : [...MODEL_KEYS, ...EMA_KEYS]) {
      found = tensorsOf(root.get(key), false);
      if (found) {
        source = key;
        break;
      }
    }
  }
  if (!found) {
    const keys = root instanceof Map ? [...root.keys()].map(String).join(', ') : null;
    throw new CheckpointFormatError(
      `no state_dict in ${fileName}: expected a dict of tensors, or a dict with one of ` +
        `${[...MODEL_KEYS, ...EMA_KEYS].join(' / ')}` +
        (keys !== null ? ` (its top-level keys: ${keys || 'none'})` : ` (it holds a ${describe(root)})`),
    );
  }
  let strippedPrefix = '';
  for (let again = true; again; ) {
    again = false;
    for (const p of WRAPPER_PREFIXES) {
      if ([...found.keys()].every((k) => k.startsWith(p) && k.length > p.length)) {
        found = new Map([...found].map(([k, t]) => [k.slice(p.length), t]));
        strippedPrefix += p;
        again = true;
      }
    }
  }
  return { stateDict: found, source, strippedPrefix: strippedPrefix || null };
}

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'list';
  if (isTorchTensor(v)) return 'single tensor';
  return typeof v;
}
