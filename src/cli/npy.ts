/** Minimal .npy reader/writer for float32 (and float64 on read) C-order arrays. */
import * as fs from 'node:fs';
import { UserError } from './command.ts';

export interface NpyArray {
  shape: number[];
  data: Float32Array;
}

export function readNpy(file: string): NpyArray {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new UserError(`${file} is not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hstart, hstart + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || shapeText === undefined) throw new UserError(`${file}: cannot read the .npy header`);
  if (fortran) throw new UserError(`${file}: Fortran-order arrays are not supported (save with np.ascontiguousarray)`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const n = shape.reduce((a, b) => a * b, 1);
  const body = buf.subarray(hstart + hlen);
  let data: Float32Array;
  if (descr === '<f4') {
    if (body.length < n * 4) throw new UserError(`${file}: truncated (needs ${n * 4} bytes of data, has ${body.length})`);
    data = new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + n * 4));
  } else if (descr === '<f8') {
    if (body.length < n * 8) throw new UserError(`${file}: truncated`);
    data = Float32Array.from(new Float64Array(body.buffer.slice(body.byteOffset, body.byteOffset + n * 8)));
  } else {
    throw new UserError(`${file}: dtype ${descr} is not supported (use float32)`);
  }
  return { shape, data };
}

export function writeNpy(file: string, arr: NpyArray): void {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${arr.shape.join(', ')}${arr.shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength)]));
}

/** NCHW ⇄ NHWC for image batches. */
export function nchwToNhwc(src: Float32Array, n: number, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let b = 0; b < n; b++) for (let ch = 0; ch < c; ch++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    out[((b * h + y) * w + x) * c + ch] = src[((b * c + ch) * h + y) * w + x];
  }
  return out;
}

export function nhwcToNchw(src: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let b = 0; b < n; b++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) {
    out[((b * c + ch) * h + y) * w + x] = src[((b * h + y) * w + x) * c + ch];
  }
  return out;
}
