/**
 * A small zip reader over the central directory: STORED entries come back as zero-copy
 * subarrays of the input (a torch checkpoint is mostly stored tensor bytes, often tens of MB),
 * DEFLATE entries are inflated with fflate, streaming, into a buffer of the declared size that
 * the file's byte budget must allow first: inflation stops at the declared size, so a small
 * entry that claims or inflates to gigabytes is refused without allocating them. Zip64 sizes
 * and offsets are understood; names with `..`, absolute or drive paths are listed but refused
 * when read.
 */

import { Inflate } from 'fflate';
import { Budget } from './limits.ts';

export interface ZipEntry {
  readonly name: string;
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localHeaderOffset: number;
}

export class ZipError extends Error {
  override name = 'ZipError';
}

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;

export class ZipReader {
  readonly entries: ReadonlyMap<string, ZipEntry>;
  private readonly dv: DataView;

  private readonly budget: Budget;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly fileName = 'archive',
    budget?: Budget,
  ) {
    this.budget = budget ?? new Budget(fileName);
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.entries = this.readCentralDirectory();
  }

  static isZip(bytes: Uint8Array): boolean {
    return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
  }

  private fail(msg: string): never {
    throw new ZipError(`${this.fileName}: ${msg}`);
  }

  private u16(at: number): number {
    if (at < 0 || at + 2 > this.bytes.length) this.fail('truncated or corrupt zip (read past the end)');
    return this.dv.getUint16(at, true);
  }

  private u32(at: number): number {
    if (at < 0 || at + 4 > this.bytes.length) this.fail('truncated or corrupt zip (read past the end)');
    return this.dv.getUint32(at, true);
  }

  private u64(at: number): number {
    const lo = this.u32(at);
    const hi = this.u32(at + 4);
    const v = hi * 2 ** 32 + lo;
    if (!Number.isSafeInteger(v)) this.fail('zip64 value out of range');
    return v;
  }

  private readCentralDirectory(): Map<string, ZipEntry> {
    const n = this.bytes.length;
    if (n < 22) this.fail(`too short to be a zip archive (${n} bytes)`);
    // the end-of-central-directory record sits in the last 22 + 65535 (comment) bytes
    let eocd = -1;
    for (let i = n - 22; i >= Math.max(0, n - 22 - 65535); i--) {
      if (this.dv.getUint32(i, true) === SIG_EOCD) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) this.fail('no zip end-of-central-directory record: the file is truncated or not a zip archive');
    let count = this.u16(eocd + 10);
    let cdSize = this.u32(eocd + 12);
    let cdOffset = this.u32(eocd + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const loc = eocd - 20;
      if (loc < 0 || this.u32(loc) !== SIG_ZIP64_LOCATOR) this.fail('zip64 locator missing (corrupt zip)');
      const z64 = this.u64(loc + 8);
      if (this.u32(z64) !== SIG_ZIP64_EOCD) this.fail('zip64 end-of-central-directory record missing (corrupt zip)');
      count = this.u64(z64 + 32);
      cdSize = this.u64(z64 + 40);
      cdOffset = this.u64(z64 + 48);
    }
    if (cdOffset + cdSize > n) this.fail('central directory runs past the end of the file (truncated zip)');
    // every central record takes at least 46 bytes: a count beyond that is a lie, not a loop to run
    if (count > cdSize / 46) this.fail(`central directory claims ${count} entries in ${cdSize} bytes (corrupt zip)`);
    const entries = new Map<string, ZipEntry>();
    const decoder = new TextDecoder('utf-8');
    let p = cdOffset;
    for (let i = 0; i < count; i++) {
      if (this.u32(p) !== SIG_CENTRAL) this.fail(`corrupt central directory at offset ${p}`);
      const method = this.u16(p + 10);
      let compressedSize = this.u32(p + 20);
      let size = this.u32(p + 24);
      const nameLen = this.u16(p + 28);
      const extraLen = this.u16(p + 30);
      const commentLen = this.u16(p + 32);
      let localHeaderOffset = this.u32(p + 42);
      if (p + 46 + nameLen + extraLen > n) this.fail('central directory entry runs past the end of the file');
      const name = decoder.decode(this.bytes.subarray(p + 46, p + 46 + nameLen));
      // zip64 extended information: only the fields that overflowed are present, in this order
      let e = p + 46 + nameLen;
      const extraEnd = e + extraLen;
      while (e + 4 <= extraEnd) {
        const id = this.u16(e);
        const sz = this.u16(e + 2);
        if (id === 0x0001) {
          let q = e + 4;
          if (size === 0xffffffff) (size = this.u64(q)), (q += 8);
          if (compressedSize === 0xffffffff) (compressedSize = this.u64(q)), (q += 8);
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = this.u64(q);
        }
        e += 4 + sz;
      }
      entries.set(name, { name, method, compressedSize, size, localHeaderOffset });
      p = extraEnd + commentLen;
    }
    return entries;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The entry's bytes: a view into the archive when STORED, a fresh array when DEFLATEd. */
  read(name: string): Uint8Array {
    const entry = this.entries.get(name);
    if (!entry) this.fail(`missing entry '${name}'`);
    if (name.startsWith('/') || /^[A-Za-z]:/.test(name) || name.split(/[\\/]/).includes('..')) {
      this.fail(`entry name '${name}' points outside the archive; refusing to read it`);
    }
    const e = entry!;
    const at = e.localHeaderOffset;
    if (this.u32(at) !== SIG_LOCAL) this.fail(`corrupt local header for '${name}'`);
    // local name/extra lengths can differ from the central ones (torch pads with an alignment field)
    const start = at + 30 + this.u16(at + 26) + this.u16(at + 28);
    const end = start + e.compressedSize;
    if (end > this.bytes.length) this.fail(`entry '${name}' runs past the end of the file (truncated zip)`);
    const raw = this.bytes.subarray(start, end);
    if (e.method === 0) {
      if (e.compressedSize !== e.size) this.fail(`stored entry '${name}' has inconsistent sizes`);
      return raw;
    }
    if (e.method === 8) return this.inflate(name, raw, e.size);
    return this.fail(`entry '${name}' uses zip compression method ${e.method}; only stored (0) and deflate (8) are supported`);
  }

  /** Streams `raw` through inflate into `size` bytes (charged to the budget first); stops at the first byte too many. */
  private inflate(name: string, raw: Uint8Array, size: number): Uint8Array {
    this.budget.chargeBytes(size, `zip entry '${name}' (declared ${size} bytes inflated from ${raw.length})`);
    const out = new Uint8Array(size);
    let at = 0;
    let done = false;
    const TOO_MANY = new Error('too many');
    const inf = new Inflate((chunk, final) => {
      if (at + chunk.length > size) throw TOO_MANY;
      out.set(chunk, at);
      at += chunk.length;
      if (final) done = true;
    });
    // small input chunks: one push can inflate at most ~1000× its size before the cap is checked
    const CHUNK = 4 * 1024;
    try {
      for (let p = 0; p < raw.length || !done; p += CHUNK) {
        const last = p + CHUNK >= raw.length;
        inf.push(raw.subarray(p, Math.min(raw.length, p + CHUNK)), last);
        if (last) break;
      }
    } catch (err) {
      if (err === TOO_MANY) this.fail(`entry '${name}' inflates to more than the ${size} bytes it declares; refusing it`);
      this.fail(`entry '${name}' does not inflate: ${(err as Error).message}`);
    }
    if (at !== size) this.fail(`entry '${name}' inflated to ${at} bytes, expected ${size}`);
    return out;
  }
}
