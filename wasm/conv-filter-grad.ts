// AssemblyScript source of a direct filter gradient (Conv2DBackpropFilter) for tfjs' wasm backend,
// which lacks one: src/core/wasm-kernels.ts emulates it with two transposes and an XNNPACK
// convolution whose "filter" is the whole output gradient, repacked every call (5–20 GFLOP/s).
// Built by `npm run build:wasm` into src/core/fused/conv-filter-grad.wasm.ts. Like fused-norm.ts it
// imports the backend's memory and owns nothing in it: no static data, no allocation, no stack.
//
//   dW[ky, kx, ci, co] = Σ_{b, oy, ox} X[b, oy·sh + ky − pt, ox·sw + kx − pl, ci] · dY[b, oy, ox, co]
//
// x NHWC [B, H, W, Ci], dy NHWC [B, Ho, Wo, Co], dw [KH, KW, Ci, Co]. For one tap (ky, kx) this is
// a GEMM over the output pixels whose input pixel lies inside x (a rectangle: no padding is
// materialised). Images are taken `chunk` at a time, so the pixels every tap and register tile
// streams over stay in cache. Two register tilings:
//   wide (Co a multiple of 8): 4 input × 8 output channels, vectors along Co;
//   narrow (Ci a multiple of 8, e.g. the 3 output channels of the last convolution): 8 input ×
//   4 output channels, vectors along Ci (output channels past Co reread the last one and are dropped).

@inline function ceilDiv(a: i32, b: i32): i32 {
  return a >= 0 ? (a + b - 1) / b : -(-a / b);
}

@inline function floorDiv(a: i32, b: i32): i32 {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

export function convFilterGrad(x: usize, dy: usize, dw: usize, B: i32, H: i32, W: i32, Ci: i32, Ho: i32, Wo: i32, Co: i32,
  KH: i32, KW: i32, sh: i32, sw: i32, pt: i32, pl: i32, chunk: i32, narrow: i32): void {
  const total = KH * KW * Ci * Co;
  for (let i = 0; i < total; i++) store<f32>(dw + (<usize>i << 2), 0);
  for (let b0 = 0; b0 < B; b0 += chunk) {
    const b1 = min(B, b0 + chunk);
    for (let ky = 0; ky < KH; ky++) {
      const oy0 = max(0, ceilDiv(pt - ky, sh));
      const oy1 = min(Ho, floorDiv(H - 1 + pt - ky, sh) + 1);
      if (oy1 <= oy0) continue;
      for (let kx = 0; kx < KW; kx++) {
        const ox0 = max(0, ceilDiv(pl - kx, sw));
        const n = min(Wo, floorDiv(W - 1 + pl - kx, sw) + 1) - ox0;
        if (n <= 0) continue;
        const tap = dw + (<usize>((ky * KW + kx) * Ci * Co) << 2);
        // x of (b, oy, ox0) for this tap, and of the row one output row down: base + b·imgX + oy·rowX.
        const xBase = x + (<usize>(((ky - pt) * W + ox0 * sw + kx - pl) * Ci) << 2);
        const dBase = dy + (<usize>(ox0 * Co) << 2);
        if (narrow) narrowTap(xBase, dBase, tap, b0, b1, oy0, oy1, n, H, W, Ci, Ho, Wo, Co, sh, sw);
        else wideTap(xBase, dBase, tap, b0, b1, oy0, oy1, n, H, W, Ci, Ho, Wo, Co, sh, sw);
      }
    }
  }
}

/** Address of pixel (b, oy) of a tap's span in x (from xBase) or dy (from dBase). */
@inline function xRow(xBase: usize, b: i32, oy: i32, H: i32, W: i32, Ci: i32, sh: i32, ci: i32): usize {
  return xBase + (<usize>(((b * H + oy * sh) * W) * Ci + ci) << 2);
}
@inline function dRow(dBase: usize, b: i32, oy: i32, Ho: i32, Wo: i32, Co: i32, co: i32): usize {
  return dBase + (<usize>(((b * Ho + oy) * Wo) * Co + co) << 2);
}

@inline function wideTap(xBase: usize, dBase: usize, tap: usize, b0: i32, b1: i32, oy0: i32, oy1: i32, n: i32,
  H: i32, W: i32, Ci: i32, Ho: i32, Wo: i32, Co: i32, sh: i32, sw: i32): void {
  const xStep = <usize>(sw * Ci) << 2;
  const dStep = <usize>Co << 2;
  const row = <usize>Co << 2;
  let ci = 0;
  for (; ci + 4 <= Ci; ci += 4) {
    for (let co = 0; co < Co; co += 8) {
      const out = tap + (<usize>(ci * Co + co) << 2);
      let a00 = v128.load(out), a01 = v128.load(out + 16);
      let a10 = v128.load(out + row), a11 = v128.load(out + row + 16);
      let a20 = v128.load(out + 2 * row), a21 = v128.load(out + 2 * row + 16);
      let a30 = v128.load(out + 3 * row), a31 = v128.load(out + 3 * row + 16);
      for (let b = b0; b < b1; b++) {
        for (let oy = oy0; oy < oy1; oy++) {
          let xp = xRow(xBase, b, oy, H, W, Ci, sh, ci);
          let dp = dRow(dBase, b, oy, Ho, Wo, Co, co);
          for (let i = 0; i < n; i++) {
            const d0 = v128.load(dp);
            const d1 = v128.load(dp + 16);
            const x0 = v128.load32_splat(xp);
            a00 = f32x4.add(a00, f32x4.mul(x0, d0));
            a01 = f32x4.add(a01, f32x4.mul(x0, d1));
            const x1 = v128.load32_splat(xp + 4);
            a10 = f32x4.add(a10, f32x4.mul(x1, d0));
            a11 = f32x4.add(a11, f32x4.mul(x1, d1));
            const x2 = v128.load32_splat(xp + 8);
            a20 = f32x4.add(a20, f32x4.mul(x2, d0));
            a21 = f32x4.add(a21, f32x4.mul(x2, d1));
            const x3 = v128.load32_splat(xp + 12);
            a30 = f32x4.add(a30, f32x4.mul(x3, d0));
            a31 = f32x4.add(a31, f32x4.mul(x3, d1));
            xp += xStep;
            dp += dStep;
          }
        }
      }
      v128.store(out, a00); v128.store(out + 16, a01);
      v128.store(out + row, a10); v128.store(out + row + 16, a11);
      v128.store(out + 2 * row, a20); v128.store(out + 2 * row + 16, a21);
      v128.store(out + 3 * row, a30); v128.store(out + 3 * row + 16, a31);
    }
  }
  // Input channels left over (e.g. the 3 colour channels of the first convolution): one at a time.
  for (; ci < Ci; ci++) {
    for (let co = 0; co < Co; co += 8) {
      const out = tap + (<usize>(ci * Co + co) << 2);
      let a0 = v128.load(out), a1 = v128.load(out + 16);
      for (let b = b0; b < b1; b++) {
        for (let oy = oy0; oy < oy1; oy++) {
          let xp = xRow(xBase, b, oy, H, W, Ci, sh, ci);
          let dp = dRow(dBase, b, oy, Ho, Wo, Co, co);
          for (let i = 0; i < n; i++) {
            const x0 = v128.load32_splat(xp);
            a0 = f32x4.add(a0, f32x4.mul(x0, v128.load(dp)));
            a1 = f32x4.add(a1, f32x4.mul(x0, v128.load(dp + 16)));
            xp += xStep;
            dp += dStep;
          }
        }
      }
      v128.store(out, a0); v128.store(out + 16, a1);
    }
  }
}

@inline function narrowTap(xBase: usize, dBase: usize, tap: usize, b0: i32, b1: i32, oy0: i32, oy1: i32, n: i32,
  H: i32, W: i32, Ci: i32, Ho: i32, Wo: i32, Co: i32, sh: i32, sw: i32): void {
  const xStep = <usize>(sw * Ci) << 2;
  const dStep = <usize>Co << 2;
  for (let ci = 0; ci < Ci; ci += 8) {
    for (let co = 0; co < Co; co += 4) {
      // Byte offsets of output channels co+1..co+3 from co, clamped to the last channel.
      const o1 = <usize>(min(co + 1, Co - 1) - co) << 2;
      const o2 = <usize>(min(co + 2, Co - 1) - co) << 2;
      const o3 = <usize>(min(co + 3, Co - 1) - co) << 2;
      let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
      let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
      for (let b = b0; b < b1; b++) {
        for (let oy = oy0; oy < oy1; oy++) {
          let xp = xRow(xBase, b, oy, H, W, Ci, sh, ci);
          let dp = dRow(dBase, b, oy, Ho, Wo, Co, co);
          for (let i = 0; i < n; i++) {
            const x0 = v128.load(xp);
            const x1 = v128.load(xp + 16);
            const d0 = v128.load32_splat(dp);
            a00 = f32x4.add(a00, f32x4.mul(x0, d0));
            a01 = f32x4.add(a01, f32x4.mul(x1, d0));
            const d1 = v128.load32_splat(dp + o1);
            a10 = f32x4.add(a10, f32x4.mul(x0, d1));
            a11 = f32x4.add(a11, f32x4.mul(x1, d1));
            const d2 = v128.load32_splat(dp + o2);
            a20 = f32x4.add(a20, f32x4.mul(x0, d2));
            a21 = f32x4.add(a21, f32x4.mul(x1, d2));
            const d3 = v128.load32_splat(dp + o3);
            a30 = f32x4.add(a30, f32x4.mul(x0, d3));
            a31 = f32x4.add(a31, f32x4.mul(x1, d3));
            xp += xStep;
            dp += dStep;
          }
        }
      }
      const out = tap + (<usize>(ci * Co + co) << 2);
      addLanes(out, Co, a00, a01);
      if (co + 1 < Co) addLanes(out + 4, Co, a10, a11);
      if (co + 2 < Co) addLanes(out + 8, Co, a20, a21);
      if (co + 3 < Co) addLanes(out + 12, Co, a30, a31);
    }
  }
}

/** dw[ci + l, ·] += lane l of (lo, hi) for l < 8, rows Co floats apart. */
@inline function addLanes(p: usize, Co: i32, lo: v128, hi: v128): void {
  const r = <usize>Co << 2;
  store<f32>(p, load<f32>(p) + f32x4.extract_lane(lo, 0));
  store<f32>(p + r, load<f32>(p + r) + f32x4.extract_lane(lo, 1));
  store<f32>(p + 2 * r, load<f32>(p + 2 * r) + f32x4.extract_lane(lo, 2));
  store<f32>(p + 3 * r, load<f32>(p + 3 * r) + f32x4.extract_lane(lo, 3));
  store<f32>(p + 4 * r, load<f32>(p + 4 * r) + f32x4.extract_lane(hi, 0));
  store<f32>(p + 5 * r, load<f32>(p + 5 * r) + f32x4.extract_lane(hi, 1));
  store<f32>(p + 6 * r, load<f32>(p + 6 * r) + f32x4.extract_lane(hi, 2));
  store<f32>(p + 7 * r, load<f32>(p + 7 * r) + f32x4.extract_lane(hi, 3));
}
