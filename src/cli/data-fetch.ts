/**
 * The testable parts of `diffusion data`: downloading (with redirects), MD5 verification and a
 * minimal, safe ustar reader that extracts a .tar.gz (regular files and folders only; absolute
 * paths, `..`, links and devices are refused).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { UserError } from './command.ts';

export const CIFAR_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';
export const CIFAR_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530';
/** Size of the official tarball, used for the progress bar when the server sends no length. */
export const CIFAR_TARBALL_BYTES = 170_052_171;

// ---------------------------------------------------------------------------------------------
// MD5

export async function md5File(file: string, onBytes?: (n: number) => void): Promise<string> {
  const hash = crypto.createHash('md5');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
    const buf = chunk as Buffer;
    hash.update(buf);
    onBytes?.(buf.length);
  }
  return hash.digest('hex');
}

/** Throws a UserError unless `actual` equals `expected` (hex, case-insensitive). */
export function checkMd5(actual: string, expected: string, what: string): void {
  if (actual.toLowerCase() !== expected.toLowerCase()) {
    throw new UserError(
      `MD5 mismatch for ${what}: expected ${expected.toLowerCase()}, got ${actual.toLowerCase()}. ` +
        `The file is corrupt, incomplete or not the official CIFAR-10 binary tarball; ` +
        `delete it and download again (or pass --no-verify if you trust it).`,
    );
  }
}

/** Computes the file's MD5 and checks it; resolves to the digest. */
export async function verifyMd5(file: string, expected: string, onBytes?: (n: number) => void): Promise<string> {
  const actual = await md5File(file, onBytes);
  checkMd5(actual, expected, file);
  return actual;
}

// ---------------------------------------------------------------------------------------------
// Download

export interface DownloadOptions {
  maxRedirects?: number;
  /** Abort when no data arrives for this long (ms). Default 30 s. */
  idleTimeoutMs?: number;
  /** Called once the response starts, with Content-Length (or undefined). */
  onStart?: (totalBytes: number | undefined) => void;
  onBytes?: (n: number) => void;
}

export interface DownloadResult {
  bytes: number;
  md5: string;
  /** The URL that finally served the file (after redirects). */
  url: string;
}

function retryHint(url: string): string {
  return (
    `Check your connection and run the command again, or download ${url} ` +
    `yourself and pass it with --from FILE.tar.gz.`
  );
}

function get(url: string, timeoutMs: number): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      reject(new UserError(`Not a valid URL: ${url}`));
      return;
    }
    const mod = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : null;
    if (mod === null) {
      reject(new UserError(`Unsupported URL protocol ${u.protocol} in ${url} (use http or https)`));
      return;
    }
    const req = mod.get(u, { headers: { 'user-agent': 'diffusion-cli', accept: '*/*' } }, resolve);
    req.setTimeout(timeoutMs, () => {
      req.destroy(new Error(`no response within ${Math.round(timeoutMs / 1000)} s`));
    });
    req.on('error', (e) => reject(new UserError(`Download of ${url} failed: ${e.message}. ${retryHint(url)}`)));
  });
}

/**
 * Streams `url` into `destFile` (following redirects), computing the MD5 on the way. On any
 * failure the partial file is removed and a UserError explains how to retry.
 */
export async function download(url: string, destFile: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  const maxRedirects = opts.maxRedirects ?? 5;
  const idle = opts.idleTimeoutMs ?? 30_000;
  let current = url;
  let res: http.IncomingMessage | undefined;
  for (let hop = 0; ; hop++) {
    res = await get(current, idle);
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      if (hop >= maxRedirects) {
        throw new UserError(`Download of ${url} failed: more than ${maxRedirects} redirects. ${retryHint(url)}`);
      }
      current = new URL(res.headers.location, current).toString();
      continue;
    }
    if (status !== 200) {
      res.resume();
      throw new UserError(
        `Download of ${current} failed: HTTP ${status} ${res.statusMessage ?? ''}`.trimEnd() + `. ${retryHint(url)}`,
      );
    }
    break;
  }
  const lenHeader = res.headers['content-length'];
  const expectedLen = lenHeader !== undefined ? Number(lenHeader) : undefined;
  opts.onStart?.(expectedLen !== undefined && Number.isFinite(expectedLen) ? expectedLen : undefined);

  const hash = crypto.createHash('md5');
  const out = fs.createWriteStream(destFile);
  let bytes = 0;
  const response = res;
  try {
    await new Promise<void>((resolve, reject) => {
      response.setTimeout(idle, () => response.destroy(new Error(`stalled: no data for ${Math.round(idle / 1000)} s`)));
      response.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
        opts.onBytes?.(chunk.length);
        if (!out.write(chunk)) {
          response.pause();
          out.once('drain', () => response.resume());
        }
      });
      response.on('error', reject);
      response.on('aborted', () => reject(new Error('connection closed by the server')));
      response.on('end', () => {
        if (!response.complete) reject(new Error('connection closed before the end of the file'));
        else out.end(resolve);
      });
      out.on('error', reject);
    });
    if (expectedLen !== undefined && Number.isFinite(expectedLen) && bytes !== expectedLen) {
      throw new Error(`got ${bytes} bytes, the server announced ${expectedLen}`);
    }
  } catch (e) {
    out.destroy();
    fs.rmSync(destFile, { force: true });
    if (e instanceof UserError) throw e;
    throw new UserError(`Download of ${current} failed after ${bytes} bytes: ${(e as Error).message}. ${retryHint(url)}`);
  }
  return { bytes, md5: hash.digest('hex'), url: current };
}

// ---------------------------------------------------------------------------------------------
// Tar

export type TarEntryType = 'file' | 'dir';

export interface TarEntry {
  /** Normalised, relative, forward-slash path (no trailing slash). */
  path: string;
  type: TarEntryType;
  size: number;
  mode: number;
}

export interface TarHandler {
  entry(e: TarEntry): void;
  /** File contents; the chunk is only valid during the call (copy or write it at once). */
  data(chunk: Uint8Array): void;
  /** End of the current file's contents. */
  endEntry(): void;
}

/**
 * Validates a member name and returns it normalised; throws for absolute paths, `..`
 * segments, backslashes, NUL bytes and empty names.
 */
export function safeTarPath(name: string): string {
  if (name.includes('\0')) throw new Error(`tar member name contains a NUL byte: ${JSON.stringify(name)}`);
  if (name.includes('\\')) throw new Error(`refusing tar member with a backslash in its name: ${name}`);
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) {
    throw new Error(`refusing tar member with an absolute path: ${name}`);
  }
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new Error(`refusing tar member with a ".." path segment: ${name}`);
  if (parts.length === 0) throw new Error(`tar member with an empty name: ${JSON.stringify(name)}`);
  return parts.join('/');
}

const BLOCK = 512;
const decoder = new TextDecoder('utf-8');

function readString(h: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && h[end] !== 0) end++;
  return decoder.decode(h.subarray(off, end));
}

function readNumber(h: Uint8Array, off: number, len: number, field: string): number {
  if ((h[off]! & 0x80) !== 0) {
    // GNU base-256: big-endian, first byte's top bit is the marker.
    let v = h[off]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + h[off + i]!;
    return v;
  }
  const s = readString(h, off, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new Error(`invalid tar header: ${field} field ${JSON.stringify(s)} is not octal`);
  return parseInt(s, 8);
}

/**
 * A streaming ustar reader: feed it chunks with push(), then call finish(). Only regular files
 * and directories are accepted; pax ('x', 'g') metadata records are skipped; anything else
 * (links, devices, GNU long names) is an error. Every name goes through safeTarPath.
 */
export class TarReader {
  private header = new Uint8Array(BLOCK);
  private headerFill = 0;
  private state: 'header' | 'data' | 'skip' | 'end' = 'header';
  private remaining = 0;
  private padAfter = 0;
  private zeroBlocks = 0;
  private offset = 0;
  private headerOffset = 0;
  entries = 0;

  constructor(private readonly handler: TarHandler) {}

  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'end') return; // ignore anything after the end-of-archive marker
      if (this.state === 'header') {
        const n = Math.min(BLOCK - this.headerFill, chunk.length - i);
        this.header.set(chunk.subarray(i, i + n), this.headerFill);
        this.headerFill += n;
        i += n;
        this.offset += n;
        if (this.headerFill === BLOCK) {
          this.headerFill = 0;
          this.onHeader();
        }
      } else {
        const n = Math.min(this.remaining, chunk.length - i);
        if (this.state === 'data' && n > 0) this.handler.data(chunk.subarray(i, i + n));
        this.remaining -= n;
        i += n;
        this.offset += n;
        if (this.remaining === 0) this.afterBody();
      }
    }
  }

  /** Call at end of input; throws if the archive stops in the middle of a member. */
  finish(): void {
    if (this.state === 'end') return;
    if (this.state !== 'header' || this.headerFill !== 0) {
      throw new Error(`tar archive is truncated (input ended at byte ${this.offset}, inside a member)`);
    }
    if (this.entries === 0) throw new Error('tar archive is empty');
  }

  private afterBody(): void {
    if (this.state === 'data') {
      this.handler.endEntry();
      this.state = 'skip';
      this.remaining = this.padAfter;
      this.padAfter = 0;
      if (this.remaining > 0) return;
    }
    this.state = 'header';
  }

  private onHeader(): void {
    const h = this.header;
    this.headerOffset = this.offset - BLOCK;
    if (h.every((b) => b === 0)) {
      this.zeroBlocks++;
      if (this.zeroBlocks >= 2) this.state = 'end';
      return;
    }
    this.zeroBlocks = 0;
    const stored = readNumber(h, 148, 8, 'checksum');
    let sum = 0;
    for (let k = 0; k < BLOCK; k++) sum += k >= 148 && k < 156 ? 32 : h[k]!;
    if (sum !== stored) {
      throw new Error(`not a tar archive or corrupt: bad header checksum at byte ${this.headerOffset}`);
    }
    let name = readString(h, 0, 100);
    const magic = readString(h, 257, 6);
    if (magic.startsWith('ustar')) {
      const prefix = readString(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    const size = readNumber(h, 124, 12, 'size');
    const mode = readNumber(h, 100, 8, 'mode');
    const typeflag = String.fromCharCode(h[156]!);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (typeflag === 'x' || typeflag === 'g') {
      this.state = 'skip';
      this.remaining = padded;
      if (this.remaining === 0) this.state = 'header';
      return;
    }
    const isFile = typeflag === '0' || typeflag === '\0' || typeflag === '7';
    const isDir = typeflag === '5';
    if (!isFile && !isDir) {
      const kinds: Record<string, string> = {
        '1': 'hard link',
        '2': 'symbolic link',
        '3': 'character device',
        '4': 'block device',
        '6': 'FIFO',
        L: 'GNU long name',
        K: 'GNU long link name',
      };
      throw new Error(
        `refusing tar member ${JSON.stringify(name)}: type '${typeflag}' (${kinds[typeflag] ?? 'unsupported'}); ` +
          `only regular files and folders are extracted`,
      );
    }
    const safe = safeTarPath(name);
    this.entries++;
    if (isDir) {
      this.handler.entry({ path: safe, type: 'dir', size: 0, mode });
      this.state = padded > 0 ? 'skip' : 'header';
      this.remaining = padded;
      return;
    }
    this.handler.entry({ path: safe, type: 'file', size, mode });
    this.padAfter = padded - size;
    this.remaining = size;
    this.state = 'data';
    if (size === 0) this.afterBody();
  }
}

export interface ExtractOptions {
  /** Called with compressed bytes read. */
  onBytes?: (n: number) => void;
  /** Refuse archives that unpack to more than this many bytes (default 1 GiB). */
  maxBytes?: number;
}

/**
 * Extracts a .tar.gz into `destDir` (created if needed) and resolves to the relative paths of
 * the files written. Extract into a fresh folder: members are written with plain paths.
 */
export async function extractTarGz(tarGz: string, destDir: string, opts: ExtractOptions = {}): Promise<string[]> {
  const maxBytes = opts.maxBytes ?? 1 << 30;
  const root = path.resolve(destDir);
  fs.mkdirSync(root, { recursive: true });
  const files: string[] = [];
  let fd: number | null = null;
  let written = 0;

  const resolveInside = (rel: string): string => {
    const full = path.resolve(root, ...rel.split('/'));
    if (full !== root && !full.startsWith(root + path.sep)) {
      throw new Error(`refusing tar member outside the destination: ${rel}`);
    }
    return full;
  };

  const reader = new TarReader({
    entry(e) {
      const full = resolveInside(e.path);
      if (e.type === 'dir') {
        fs.mkdirSync(full, { recursive: true });
        return;
      }
      fs.mkdirSync(path.dirname(full), { recursive: true });
      const st = fs.lstatSync(full, { throwIfNoEntry: false });
      if (st !== undefined && !st.isFile()) throw new Error(`refusing to overwrite non-file ${full}`);
      fd = fs.openSync(full, 'w', 0o644);
      files.push(e.path);
    },
    data(chunk) {
      written += chunk.length;
      if (written > maxBytes) throw new Error(`archive unpacks to more than ${maxBytes} bytes; refusing`);
      let off = 0;
      while (off < chunk.length) off += fs.writeSync(fd!, chunk, off, chunk.length - off);
    },
    endEntry() {
      fs.closeSync(fd!);
      fd = null;
    },
  });

  const input = fs.createReadStream(tarGz, { highWaterMark: 1 << 20 });
  input.on('data', (c) => opts.onBytes?.((c as Buffer).length));
  const gunzip = zlib.createGunzip();
  input.pipe(gunzip);
  input.on('error', (e) => gunzip.destroy(e));
  try {
    for await (const chunk of gunzip) reader.push(chunk as Buffer);
    reader.finish();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const msg = err.code?.startsWith('Z_') ? `not a valid gzip file (${err.message})` : err.message;
    throw new UserError(`Cannot extract ${tarGz}: ${msg}`);
  } finally {
    if (fd !== null) fs.closeSync(fd);
    input.destroy();
  }
  return files;
}
