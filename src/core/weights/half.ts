/**
 * float32 ⇄ float16 and bfloat16 ⇄ float32 on whole typed arrays (the 16-bit values travel as
 * raw bits in Uint16Array). float32 → float16 rounds to nearest, ties to even, keeps NaN a NaN,
 * overflows to ±Infinity and produces subnormals; float16 → float32 is exact.
 */

const scratchF = new Float32Array(1);
const scratchU = new Uint32Array(scratchF.buffer);

const F32_INFTY = 255 << 23;
const F16_MAX = (127 + 16) << 23; // 65536: anything at or above rounds to inf
const DENORM_MAGIC = ((127 - 15) + (23 - 10) + 1) << 23;
const MIN_NORMAL_F16_AS_F32 = 113 << 23; // 2^-14

/** float32 → float16 bits, round-to-nearest-even (after F. Giesen's float_to_half_fast3_rtne). */
export function toHalfBits(value: number): number {
  scratchF[0] = value;
  let x = scratchU[0]!;
  const sign = x & 0x80000000;
  x ^= sign;
  let o: number;
  if (x >= F16_MAX) {
    o = x > F32_INFTY ? 0x7e00 : 0x7c00; // NaN stays a (quiet) NaN, the rest overflows to inf
  } else if (x < MIN_NORMAL_F16_AS_F32) {
    // subnormal or zero: let float32 rounding align the mantissa (the double sum before
    // the float32 store is exact here, so there is no double rounding)
    scratchU[0] = DENORM_MAGIC;
    const magic = scratchF[0]!;
    scratchU[0] = x;
    scratchF[0] = scratchF[0]! + magic;
    o = (scratchU[0]! - DENORM_MAGIC) >>> 0;
  } else {
    const mantOdd = (x >>> 13) & 1;
    x = (x + (((15 - 127) << 23) >>> 0) + 0xfff) >>> 0;
    x = (x + mantOdd) >>> 0;
    o = x >>> 13;
  }
  return (o | (sign >>> 16)) & 0xffff;
}

/** float16 bits → the exact number. */
export function fromHalfBits(h: number): number {
  return halfTable()[h & 0xffff]!;
}

let table: Float32Array | null = null;
function halfTable(): Float32Array {
  if (table) return table;
  const t = new Float32Array(65536);
  const u = new Uint32Array(t.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) {
      t[h] = (sign ? -1 : 1) * mant * 2 ** -24; // zero or subnormal
    } else if (exp === 31) {
      u[h] = (sign | 0x7f800000 | (mant << 13)) >>> 0;
    } else {
      u[h] = (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
    }
  }
  table = t;
  return t;
}

export function float32ToFloat16(src: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = toHalfBits(src[i]!);
  return out;
}

export function float16ToFloat32(src: Uint16Array): Float32Array {
  const t = halfTable();
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]!]!;
  return out;
}

export function bfloat16ToFloat32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = src[i]! << 16;
  return out;
}

/** float32 → bfloat16 bits, round-to-nearest-even; NaN stays a quiet NaN. */
export function float32ToBfloat16(src: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    scratchF[0] = src[i]!;
    const x = scratchU[0]!;
    if ((x & 0x7fffffff) > 0x7f800000) out[i] = ((x >>> 16) | 0x0040) & 0xffff;
    else out[i] = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return out;
}
