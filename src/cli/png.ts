/** A small PNG writer (RGB, 8-bit) and the sample-grid layout the CLI saves. */
import * as zlib from 'node:zlib';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bufs: Buffer[]): number {
  let c = 0xffffffff;
  for (const b of bufs) for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const t = Buffer.from(type, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32([t, data]));
  return Buffer.concat([len, t, data, crc]);
}

/** rgb: width·height·3 bytes, row-major. */
export function encodePNG(rgb: Uint8Array, width: number, height: number): Buffer {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0; // filter: none
    Buffer.from(rgb.buffer, rgb.byteOffset + y * width * 3, width * 3).copy(raw, y * (width * 3 + 1) + 1);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * n NHWC images in [-1, 1] → one RGB grid (ceil(√n) columns, `gap` px between, each pixel
 * repeated `scale` times so 32×32 samples are visible).
 */
/** `cols` fixes the number of columns (e.g. one row per class); square-ish by default. */
export function imageGrid(nhwc: Float32Array, n: number, size = 32, scale = 1, gap = 2, cols = Math.ceil(Math.sqrt(n))): { rgb: Uint8Array; width: number; height: number } {
  const rows = Math.ceil(n / cols);
  const cell = size * scale;
  const width = cols * cell + (cols + 1) * gap;
  const height = rows * cell + (rows + 1) * gap;
  const rgb = new Uint8Array(width * height * 3).fill(255);
  for (let i = 0; i < n; i++) {
    const ox = gap + (i % cols) * (cell + gap);
    const oy = gap + Math.floor(i / cols) * (cell + gap);
    for (let y = 0; y < cell; y++) for (let x = 0; x < cell; x++) {
      const src = ((i * size + Math.floor(y / scale)) * size + Math.floor(x / scale)) * 3;
      const dst = ((oy + y) * width + ox + x) * 3;
      for (let c = 0; c < 3; c++) rgb[dst + c] = Math.max(0, Math.min(255, Math.round((nhwc[src + c] + 1) * 127.5)));
    }
  }
  return { rgb, width, height };
}
