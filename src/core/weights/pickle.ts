/**
 * A safe unpickler for what `torch.save` writes (pickle protocols 2–5).
 *
 * Nothing is ever executed: opcodes are interpreted into plain JS values, and the only Python
 * callables a pickle may name (GLOBAL / STACK_GLOBAL) are the ones in an explicit allowlist,
 * each implemented here in TypeScript. Anything else — `os.system`, `builtins.eval`,
 * `subprocess.*` — is refused with an error naming it, before anything could use it.
 *
 * Python values map to JS as: None → null, bool → boolean, int → number (bigint beyond
 * ±(2^53−1)), float → number, str → string, bytes/bytearray → Uint8Array, list → array,
 * tuple → frozen array, dict → Map (keys kept as Python gave them: strings, numbers, ...),
 * set/frozenset → Set, collections.OrderedDict → Map. A GLOBAL that is allowed but not called
 * (a storage class, a dtype such as `torch.float32`) stays a `PyGlobal` reference.
 */

import { Budget, DEFAULT_LIMITS } from './limits.ts';

export class PickleError extends Error {
  override name = 'PickleError';
}

/** The pickle names a global that is not on the allowlist. */
export class UnsafePickleError extends PickleError {
  override name = 'UnsafePickleError';
  constructor(
    message: string,
    /** `module.name` exactly as the pickle spelled it, e.g. `posix.system`. */
    readonly globalName: string,
  ) {
    super(message);
  }
}

/** A call an allowlisted global makes; `args` is the (frozen) argument tuple. */
export type PyCallImpl = (args: readonly unknown[]) => unknown;

/** A reference to an allowlisted Python global. `call` is absent for ones that are only ever named. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly call?: PyCallImpl,
  ) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** Objects made by allowlisted callables may accept BUILD (`__setstate__`) through this symbol. */
export const SET_STATE: unique symbol = Symbol('pickle.setstate');
export interface PySettable {
  [SET_STATE](state: unknown): void;
}

/** Allowlist: `module.name` → implementation (`null`: may be named, not called). */
export type GlobalTable = ReadonlyMap<string, PyCallImpl | null>;

export interface UnpickleOptions {
  /** Used in error messages. */
  fileName?: string;
  /** The allowlist; defaults to `BASE_GLOBALS`. */
  globals?: GlobalTable;
  /** Resolves BINPERSID ids (torch's storage references). Without it, BINPERSID is an error. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Ends the refusal message: "…, which <purpose> never needs". */
  purpose?: string;
  /** The file's byte/element budget (shared with the tensor reader); a default one otherwise. */
  budget?: Budget;
}

/** A rough size of what a call copies from its arguments (containers' items, bytes). */
function shallowSize(v: unknown, depth = 0): number {
  if (v instanceof Uint8Array) return v.length;
  if (v instanceof Map || v instanceof Set) return 16 * v.size;
  if (Array.isArray(v)) return 16 * v.length + (depth < 1 ? v.reduce((a: number, x) => a + shallowSize(x, depth + 1), 0) : 0);
  return 0;
}

// ------------------------------------------------------------------ allowlisted globals

function makeDict(args: readonly unknown[]): Map<unknown, unknown> {
  const m = new Map<unknown, unknown>();
  const init = args[0];
  if (init instanceof Map) for (const [k, v] of init) m.set(k, v);
  else if (Array.isArray(init)) {
    for (const pair of init) {
      if (!Array.isArray(pair) || pair.length !== 2) throw new PickleError('OrderedDict(): expected (key, value) pairs');
      m.set(pair[0], pair[1]);
    }
  }
  return m;
}

function makeSet(args: readonly unknown[]): Set<unknown> {
  const init = args[0];
  if (init === undefined) return new Set();
  if (Array.isArray(init) || init instanceof Set) return new Set(init);
  throw new PickleError('set(): expected a list argument');
}

function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) throw new PickleError('_codecs.encode: character outside latin-1');
    out[i] = c;
  }
  return out;
}

/** Protocol 2 spells Python 3 bytes as `_codecs.encode(text, 'latin1')`. */
function codecsEncode(args: readonly unknown[]): Uint8Array {
  const [text, encoding = 'utf-8'] = args;
  if (typeof text !== 'string' || typeof encoding !== 'string') throw new PickleError('_codecs.encode: expected (str, str)');
  const enc = encoding.toLowerCase().replace(/[-_]/g, '');
  if (enc === 'latin1' || enc === 'iso88591') return latin1Bytes(text);
  if (enc === 'utf8') return new TextEncoder().encode(text);
  throw new PickleError(`_codecs.encode: unsupported encoding '${encoding}'`);
}

/** numpy.dtype('f8', False, True) plus its BUILD state: enough to decode numpy scalars. */
class NumpyDtype implements PySettable {
  byteorder = '=';
  constructor(readonly code: string) {}
  [SET_STATE](state: unknown): void {
    if (Array.isArray(state) && typeof state[1] === 'string') this.byteorder = state[1];
  }
}

function numpyDtype(args: readonly unknown[]): NumpyDtype {
  const code = args[0];
  if (typeof code !== 'string') throw new PickleError('numpy.dtype: expected a type code');
  return new NumpyDtype(code);
}

/** numpy scalars (np.float64(0.5) in a list of losses) as JS numbers. */
function numpyScalar(args: readonly unknown[]): number | bigint | boolean {
  const [dtype, raw] = args;
  if (!(dtype instanceof NumpyDtype) || !(raw instanceof Uint8Array)) {
    throw new PickleError('numpy scalar: expected (dtype, bytes) — only plain numeric numpy scalars are supported');
  }
  const m = /^([<>=|]?)([fiub])(\d+)$/.exec(dtype.code);
  const size = m ? Number(m[3]) : 0;
  if (!m || raw.length !== size) throw new PickleError(`numpy scalar: unsupported dtype '${dtype.code}'`);
  const le = (m[1] || dtype.byteorder) !== '>';
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const kind = m[2]!;
  if (kind === 'b') return raw[0] !== 0;
  if (kind === 'f') {
    if (size === 8) return dv.getFloat64(0, le);
    if (size === 4) return dv.getFloat32(0, le);
    if (size === 2) {
      const h = dv.getUint16(0, le);
      const e = (h >>> 10) & 0x1f;
      const f = h & 0x3ff;
      const s = h & 0x8000 ? -1 : 1;
      if (e === 0) return s * f * 2 ** -24;
      if (e === 31) return f ? NaN : s * Infinity;
      return s * (1 + f / 1024) * 2 ** (e - 15);
    }
  } else if (size === 8) {
    return toSafe(kind === 'i' ? dv.getBigInt64(0, le) : dv.getBigUint64(0, le));
  } else if (size === 4) {
    return kind === 'i' ? dv.getInt32(0, le) : dv.getUint32(0, le);
  } else if (size === 2) {
    return kind === 'i' ? dv.getInt16(0, le) : dv.getUint16(0, le);
  } else if (size === 1) {
    return kind === 'i' ? dv.getInt8(0) : dv.getUint8(0);
  }
  throw new PickleError(`numpy scalar: unsupported dtype '${dtype.code}'`);
}

/**
 * numpy arrays of plain numbers (a data order, a loss history): `_reconstruct(ndarray, (0,), b'b')`
 * then BUILD with (version, shape, dtype, fortran, raw bytes). Object arrays are refused.
 */
export class NumpyArray implements PySettable {
  shape: number[] = [];
  data: Float64Array | Float32Array | Int32Array | BigInt64Array | Uint8Array = new Float64Array(0);
  [SET_STATE](state: unknown): void {
    if (!Array.isArray(state) || state.length < 5) throw new PickleError('numpy array: unexpected state');
    const [, shape, dtype, fortran, raw] = state as [unknown, unknown, unknown, unknown, unknown];
    if (!(dtype instanceof NumpyDtype) || !(raw instanceof Uint8Array)) {
      throw new PickleError('numpy array: only arrays of plain numbers are supported (no object arrays)');
    }
    if (fortran) throw new PickleError('numpy array: Fortran-order arrays are not supported');
    const m = /^([<>=|]?)([fiub])(\d+)$/.exec(dtype.code);
    if (!m || (m[1] || dtype.byteorder) === '>') throw new PickleError(`numpy array: unsupported dtype '${dtype.code}'`);
    this.shape = (shape as unknown[]).map(Number);
    const buf = raw.slice().buffer;
    const kind = m[2]! + m[3]!;
    const views: Record<string, () => NumpyArray['data']> = {
      f8: () => new Float64Array(buf), f4: () => new Float32Array(buf), i4: () => new Int32Array(buf),
      i8: () => new BigInt64Array(buf), u1: () => new Uint8Array(buf), b1: () => new Uint8Array(buf),
    };
    const make = views[kind];
    if (!make) throw new PickleError(`numpy array: unsupported dtype '${dtype.code}'`);
    this.data = make();
  }
}

function numpyReconstruct(): NumpyArray {
  return new NumpyArray();
}

/** Globals any plain-data pickle may use. Python 2 spellings (`__builtin__.set`) only for the harmless ones. */
export const BASE_GLOBALS: GlobalTable = new Map<string, PyCallImpl | null>([
  ['collections.OrderedDict', makeDict],
  ['builtins.set', makeSet],
  ['builtins.frozenset', makeSet],
  ['__builtin__.set', makeSet],
  ['__builtin__.frozenset', makeSet],
  ['_codecs.encode', codecsEncode],
  ['numpy.dtype', numpyDtype],
  ['numpy.core.multiarray.scalar', numpyScalar],
  ['numpy._core.multiarray.scalar', numpyScalar],
  ['numpy.core.multiarray._reconstruct', numpyReconstruct],
  ['numpy._core.multiarray._reconstruct', numpyReconstruct],
  ['numpy.ndarray', null], // named as _reconstruct's first argument, never called
]);

// ------------------------------------------------------------------ the interpreter

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
function toSafe(b: bigint): number | bigint {
  return b <= MAX_SAFE && b >= -MAX_SAFE ? Number(b) : b;
}

const OPCODE_NAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT',
  0x4a: 'BININT', 0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID',
  0x51: 'BINPERSID', 0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND', 0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT',
  0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET',
  0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT',
  0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT', 0x80: 'PROTO',
  0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3',
  0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES',
  0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS',
  0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME',
  0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

function describeOpcode(op: number): string {
  const name = OPCODE_NAMES[op];
  const ch = op >= 0x20 && op < 0x7f ? ` '${String.fromCharCode(op)}'` : '';
  const hex = `0x${op.toString(16).padStart(2, '0')}`;
  return name ? `${hex}${ch} (${name})` : `${hex}${ch}`;
}

/** What a refused global really is, when pickle spelled it by its implementation module. */
function aliasOf(module: string, name: string): string | null {
  if (module === 'posix' || module === 'nt') return `os.${name}`;
  if (module === '__builtin__') return `builtins.${name}`;
  return null;
}

/** `torch._utils.{_rebuild_tensor_v2, _rebuild_parameter}, torch.{FloatStorage, float32}, ...` */
function summarize(names: Iterable<string>): string {
  const byModule = new Map<string, string[]>();
  for (const q of names) {
    const dot = q.lastIndexOf('.');
    const m = q.slice(0, dot);
    if (!byModule.has(m)) byModule.set(m, []);
    byModule.get(m)!.push(q.slice(dot + 1));
  }
  return [...byModule]
    .map(([m, ns]) => (ns.length === 1 ? `${m}.${ns[0]}` : `${m}.{${ns.join(', ')}}`))
    .join(', ');
}

export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}): unknown {
  const fileName = options.fileName ?? 'pickle';
  const globals = options.globals ?? BASE_GLOBALS;
  const purpose = options.purpose ?? 'a state_dict';
  const budget = options.budget ?? new Budget(fileName);
  const maxIntBytes = budget.limits.maxIntBytes ?? DEFAULT_LIMITS.maxIntBytes;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8');
  const len = bytes.length;
  let pos = 0;
  let opStart = 0;
  let op = 0;
  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();

  const fail = (msg: string): never => {
    throw new PickleError(`${fileName}: ${msg} (opcode ${describeOpcode(op)} at offset ${opStart})`);
  };
  const need = (n: number): void => {
    if (n > len - pos) {
      fail(`truncated pickle: needs ${n} more bytes but only ${len - pos} remain`);
    }
  };
  const u8 = (): number => {
    need(1);
    return bytes[pos++]!;
  };
  const u16 = (): number => {
    need(2);
    const v = dv.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const i32 = (): number => {
    need(4);
    const v = dv.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = dv.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const lo = dv.getUint32(pos, true);
    const hi = dv.getUint32(pos + 4, true);
    pos += 8;
    const v = hi * 2 ** 32 + lo;
    if (v > len) fail(`length ${v} runs past the end of the data`);
    return v;
  };
  const take = (n: number): Uint8Array => {
    if (n < 0) fail(`negative length ${n}`);
    need(n);
    const out = bytes.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('truncated pickle: missing newline');
    const s = utf8.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  // (not `stack.push(popMark())`: that would push onto the array popMark just detached)
  const push = (v: unknown): void => {
    stack.push(v);
  };
  const pop = (): unknown => {
    if (stack.length === 0) fail('stack underflow (corrupt pickle)');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail('stack underflow (corrupt pickle)');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = metastack.pop();
    if (prev === undefined) fail('no MARK on the stack (corrupt pickle)');
    stack = prev!;
    return items;
  };
  // Linear time: one hex string and one BigInt parse (byte-at-a-time shifts are quadratic).
  const long = (raw: Uint8Array): number | bigint => {
    if (raw.length === 0) return 0;
    if (raw.length > maxIntBytes) fail(`a ${raw.length}-byte integer, over the ${maxIntBytes} bytes this reader allows`);
    let hex = '';
    for (let i = raw.length - 1; i >= 0; i--) hex += HEX[raw[i]!]!;
    let v = BigInt(`0x${hex}`);
    if (raw[raw.length - 1]! & 0x80) v -= 1n << BigInt(8 * raw.length);
    return toSafe(v);
  };
  const resolveGlobal = (module: string, name: string): PyGlobal => {
    const q = `${module}.${name}`;
    if (!globals.has(q)) {
      const alias = aliasOf(module, name);
      const shown = alias ? `'${alias}' (spelled '${q}' in the pickle)` : `'${q}'`;
      const list = summarize(globals.keys());
      throw new UnsafePickleError(
        `refusing to load ${fileName}: the pickle references ${shown}, which ${purpose} never needs ` +
          `(allowed: ${list}). Nothing from the file was run.`,
        q,
      );
    }
    return new PyGlobal(module, name, globals.get(q) ?? undefined);
  };
  const callGlobal = (fn: unknown, args: unknown): unknown => {
    if (!(fn instanceof PyGlobal)) fail('call of something that is not an allowlisted global');
    const g = fn as PyGlobal;
    if (!g.call) fail(`'${g.qualifiedName}' is allowed as a name but cannot be called`);
    if (!Array.isArray(args)) fail(`arguments to '${g.qualifiedName}' are not a tuple`);
    budget.chargeBytes(shallowSize(args), `a call of '${g.qualifiedName}'`);
    try {
      return g.call!(args as unknown[]);
    } catch (e) {
      if (e instanceof PickleError) throw new PickleError(`${fileName}: ${e.message}`);
      throw e;
    }
  };
  const memoIndex = (i: number): unknown => {
    if (!memo.has(i)) fail(`memo key ${i} was never stored (corrupt pickle)`);
    return memo.get(i);
  };
  const setItems = (target: unknown, items: unknown[]): void => {
    if (!(target instanceof Map)) fail('SETITEM(S) on something that is not a dict');
    if (items.length % 2) fail('odd number of items for SETITEMS');
    for (let i = 0; i < items.length; i += 2) (target as Map<unknown, unknown>).set(items[i], items[i + 1]);
  };
  const appendItems = (target: unknown, items: unknown[]): void => {
    if (!Array.isArray(target) || Object.isFrozen(target)) fail('APPEND(S) on something that is not a list');
    for (const it of items) (target as unknown[]).push(it);
  };
  const str = (raw: Uint8Array): string => utf8.decode(raw);

  for (;;) {
    opStart = pos;
    if (pos >= len) {
      op = 0;
      throw new PickleError(`${fileName}: truncated pickle: ended at offset ${pos} without a STOP opcode`);
    }
    op = bytes[pos++]!;
    switch (op) {
      case 0x80: {
        const proto = u8();
        if (proto > 5) fail(`pickle protocol ${proto} is newer than this reader knows (2–5)`);
        break;
      }
      case 0x95: // FRAME: framing is only a read-ahead hint
        u64();
        break;
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        metastack.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x4e:
        push(null);
        break;
      case 0x88:
        push(true);
        break;
      case 0x89:
        push(false);
        break;
      case 0x4a:
        push(i32());
        break;
      case 0x4b:
        push(u8());
        break;
      case 0x4d:
        push(u16());
        break;
      case 0x8a:
        push(long(take(u8())));
        break;
      case 0x8b:
        push(long(take(i32())));
        break;
      case 0x47: {
        need(8);
        push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      }
      case 0x58:
        push(str(take(u32())));
        break;
      case 0x8c:
        push(str(take(u8())));
        break;
      case 0x8d:
        push(str(take(u64())));
        break;
      case 0x54: // BINSTRING (Python 2 str; torch.load decodes these as utf-8)
        push(str(take(i32())));
        break;
      case 0x55:
        push(str(take(u8())));
        break;
      case 0x42:
        push(take(u32()).slice());
        break;
      case 0x43:
        push(take(u8()).slice());
        break;
      case 0x8e:
        push(take(u64()).slice());
        break;
      case 0x96: // BYTEARRAY8
        push(take(u64()).slice());
        break;
      case 0x7d:
        push(new Map());
        break;
      case 0x5d:
        push([]);
        break;
      case 0x29:
        push(Object.freeze([]));
        break;
      case 0x74:
        push(Object.freeze(popMark()));
        break;
      case 0x85:
        push(Object.freeze([pop()]));
        break;
      case 0x86: {
        const b = pop();
        const a = pop();
        push(Object.freeze([a, b]));
        break;
      }
      case 0x87: {
        const c = pop();
        const b = pop();
        const a = pop();
        push(Object.freeze([a, b, c]));
        break;
      }
      case 0x64: {
        const items = popMark();
        const m = new Map<unknown, unknown>();
        setItems(m, items);
        push(m);
        break;
      }
      case 0x6c:
        push(popMark());
        break;
      case 0x61: {
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: {
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x73: {
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f:
        push(new Set());
        break;
      case 0x90: {
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail('ADDITEMS on something that is not a set');
        for (const it of items) (s as Set<unknown>).add(it);
        break;
      }
      case 0x91:
        push(new Set(popMark()));
        break;
      case 0x71:
        memo.set(u8(), top());
        break;
      case 0x72: {
        const i = u32();
        memo.set(i, top());
        break;
      }
      case 0x94:
        memo.set(memo.size, top());
        break;
      case 0x68:
        push(memoIndex(u8()));
        break;
      case 0x6a:
        push(memoIndex(u32()));
        break;
      case 0x63: {
        const module = line();
        const name = line();
        push(resolveGlobal(module, name));
        break;
      }
      case 0x93: {
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        push(resolveGlobal(module as string, name as string));
        break;
      }
      case 0x52: {
        const args = pop();
        const fn = pop();
        push(callGlobal(fn, args));
        break;
      }
      case 0x81: {
        const args = pop();
        const cls = pop();
        push(callGlobal(cls, args));
        break;
      }
      case 0x92: {
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!(kwargs instanceof Map) || kwargs.size > 0) fail('NEWOBJ_EX with keyword arguments is not supported');
        push(callGlobal(cls, args));
        break;
      }
      case 0x62: {
        const state = pop();
        const obj = top();
        if (obj !== null && typeof obj === 'object' && SET_STATE in obj) {
          budget.chargeBytes(shallowSize(state), 'BUILD state');
          (obj as PySettable)[SET_STATE](state);
        } else if (obj instanceof Map) {
          // OrderedDict instance attributes (a state_dict's `_metadata` versions): not needed
        } else {
          fail('BUILD on an object that takes no state');
        }
        break;
      }
      case 0x51: {
        const pid = pop();
        if (!options.persistentLoad) fail('persistent id in a pickle that has no storage to resolve it');
        push(options.persistentLoad!(pid));
        break;
      }
      default:
        if (op in OPCODE_NAMES) {
          fail(`unsupported pickle opcode (torch.save never writes it)`);
        }
        fail(`unknown pickle opcode — the file is corrupt or not a pickle`);
    }
  }
}
