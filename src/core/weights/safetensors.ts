/**
 * safetensors: an 8-byte little-endian header length, a JSON header
 * `{ "__metadata__": {str: str}, name: { dtype, shape, data_offsets: [begin, end] } }`, then
 * the raw little-endian tensor bytes (offsets relative to the end of the header).
 */

import { bfloat16ToFloat32, float16ToFloat32, float32ToFloat16 } from './half.ts';
import { budgetFor, parseJsonLimited, LoadLimitError, type Budget, type LoadLimits } from './limits.ts';
import { aligned, assertLittleEndianHost, DTYPE_BYTES, numel, TorchTensorImpl, type TensorData, type TorchDtype, type TorchTensor } from './tensor.ts';

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'U8' | 'BOOL';

const DTYPES: Record<SafetensorsDtype, TorchDtype> = {
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  F64: 'float64',
  I64: 'int64',
  I32: 'int32',
  U8: 'uint8',
  BOOL: 'bool',
};

export interface SafetensorsFile {
  /** In file (data offset) order. */
  tensors: Map<string, TorchTensor>;
  metadata: Record<string, string>;
}

/** The safetensors spec caps the header at 100 MB. */
const MAX_HEADER = 100_000_000;

function decode(raw: Uint8Array, dtype: TorchDtype, count: number): TensorData {
  const a = aligned(raw, DTYPE_BYTES[dtype]);
  switch (dtype) {
    case 'float32':
      return new Float32Array(a.buffer, a.byteOffset, count).slice();
    case 'float16':
      return float16ToFloat32(new Uint16Array(a.buffer, a.byteOffset, count));
    case 'bfloat16':
      return bfloat16ToFloat32(new Uint16Array(a.buffer, a.byteOffset, count));
    case 'float64':
      return new Float32Array(new Float64Array(a.buffer, a.byteOffset, count));
    case 'int64':
      return new BigInt64Array(a.buffer, a.byteOffset, count).slice();
    case 'int32':
      return new Int32Array(a.buffer, a.byteOffset, count).slice();
    case 'uint8':
    case 'bool':
      return a.slice();
  }
}

export function readSafetensors(bytes: Uint8Array, fileName = 'safetensors file', limits?: Budget | Partial<LoadLimits>): SafetensorsFile {
  assertLittleEndianHost();
  const budget = budgetFor(fileName, limits);
  const fail = (msg: string): never => {
    throw new SafetensorsError(`${fileName}: ${msg}`);
  };
  if (bytes.length < 8) fail(`too short to be a safetensors file (${bytes.length} bytes)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  const headerLen = hi * 2 ** 32 + lo;
  if (headerLen > MAX_HEADER) fail(`header length ${headerLen} is implausible (not a safetensors file?)`);
  if (8 + headerLen > bytes.length) fail(`header length ${headerLen} runs past the end of the file (${bytes.length} bytes): truncated?`);
  let header: unknown;
  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch (e) {
    fail(`header is not valid UTF-8 (${(e as Error).message})`);
  }
  try {
    header = parseJsonLimited(text, `${fileName} header`, budget.limits);
  } catch (e) {
    if (e instanceof LoadLimitError) throw new SafetensorsError(e.message);
    throw e;
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const data = bytes.subarray(8 + headerLen);
  const metadata: Record<string, string> = {};
  const entries: Array<{ name: string; begin: number; end: number; dtype: TorchDtype; dims: number[]; count: number }> = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (info === null || typeof info !== 'object' || Array.isArray(info)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    if (info === null || typeof info !== 'object') fail(`tensor '${name}': entry is not an object`);
    const { dtype: st, shape, data_offsets: offsets } = info as Record<string, unknown>;
    const dtype = typeof st === 'string' && Object.hasOwn(DTYPES, st) ? DTYPES[st as SafetensorsDtype] : undefined;
    if (!dtype) fail(`tensor '${name}': unsupported dtype ${JSON.stringify(st)} (supported: ${Object.keys(DTYPES).join(', ')})`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor '${name}': shape must be a list of non-negative integers`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      fail(`tensor '${name}': data_offsets must be [begin, end] with 0 ≤ begin ≤ end`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > data.length) fail(`tensor '${name}': data_offsets [${begin}, ${end}] run past the end of the data (${data.length} bytes): truncated?`);
    const dims = shape as number[];
    const count = numel(dims);
    const expected = count * DTYPE_BYTES[dtype!];
    if (end - begin !== expected) {
      fail(`tensor '${name}': ${end - begin} bytes for shape [${dims}] of ${st as string}, expected ${expected}`);
    }
    entries.push({ name, begin, end, dtype: dtype!, dims: [...dims], count });
  }
  // overlaps first, then the budget, and only then decode: nothing is allocated for a file that lies
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < entries.length; i++) {
    const prev = entries[i - 1]!;
    const cur = entries[i]!;
    if (cur.begin < prev.end) fail(`tensors '${prev.name}' and '${cur.name}' overlap`);
  }
  for (const e of entries) budget.chargeElements(e.count, `tensor '${e.name}' of shape [${e.dims}]`);
  const tensors = new Map<string, TorchTensor>();
  for (const e of entries) tensors.set(e.name, new TorchTensorImpl(e.dtype, e.dims, decode(data.subarray(e.begin, e.end), e.dtype, e.count)));
  return { tensors, metadata };
}

export interface SafetensorsInput {
  name: string;
  /** How to store the values; F16 rounds to nearest even. */
  dtype: 'F32' | 'F16';
  shape: readonly number[];
  data: Float32Array;
}

/** A safetensors file of `tensors` in the given order; the header is space-padded to 8-byte alignment. */
export function writeSafetensors(tensors: readonly SafetensorsInput[], metadata?: Record<string, string>): Uint8Array {
  assertLittleEndianHost();
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`writeSafetensors: metadata '${k}' is not a string`);
    }
    header['__metadata__'] = { ...metadata };
  }
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const t of tensors) {
    if (t.name === '__metadata__' || Object.hasOwn(header, t.name)) {
      throw new SafetensorsError(`writeSafetensors: duplicate or reserved tensor name '${t.name}'`);
    }
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new SafetensorsError(`writeSafetensors: bad shape for '${t.name}'`);
    if (numel(t.shape) !== t.data.length) {
      throw new SafetensorsError(`writeSafetensors: '${t.name}' has ${t.data.length} values for shape [${t.shape}]`);
    }
    let blob: Uint8Array;
    if (t.dtype === 'F32') blob = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    else if (t.dtype === 'F16') {
      const h = float32ToFloat16(t.data);
      blob = new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
    } else throw new SafetensorsError(`writeSafetensors: unsupported dtype '${String(t.dtype)}'`);
    header[t.name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + blob.length] };
    blobs.push(blob);
    offset += blob.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setUint32(0, headerLen, true); // high word stays 0
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let p = 8 + headerLen;
  for (const b of blobs) {
    out.set(b, p);
    p += b.length;
  }
  return out;
}
