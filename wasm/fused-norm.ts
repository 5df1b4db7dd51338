// AssemblyScript source of the fused GroupNorm (+ per-(image, channel) shift, + affine, + SiLU)
// kernels for tfjs' wasm backend. Built by `npm run build:wasm` (scripts/build-wasm.ts) into
// src/core/fused/fused-norm.wasm.ts. The module imports the backend's own linear memory and
// works on tensors in place, so it must never own memory: no static data (no strings, no
// arrays), no allocation, no shadow stack. Everything it needs is passed as addresses of
// buffers the caller allocated on the tfjs heap.
//
// Layout: x, y, dy, dx are NHWC [B, HW, C] float32 with C a multiple of 4 (one f32x4 spans 4
// channels of one pixel); gamma, beta [C]; shift [B, C] (0 = none); stats [B, G, 2] = (mean of
// x + shift, 1/√(var + eps)) per image and group.

// exp on 4 lanes (Cephes expf: range reduction by ln 2, degree-6 polynomial; ≤ 2 ulp on [-87, 88]).
@inline function expv(v: v128): v128 {
  const x = f32x4.max(f32x4.min(v, f32x4.splat(88.3762626647949)), f32x4.splat(-87.3365447504)); // 2^n stays a normal float
  const n = f32x4.nearest(f32x4.mul(x, f32x4.splat(1.44269504088896341)));
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  p = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1));
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return f32x4.mul(p, scale);
}

@inline function sigmoidv(a: v128): v128 {
  return f32x4.div(f32x4.splat(1), f32x4.add(f32x4.splat(1), expv(f32x4.neg(a))));
}

@inline function zero(p: usize, n: i32): void {
  for (let i = 0; i < n; i += 4) v128.store(p + (<usize>i << 2), f32x4.splat(0));
}

/** acc[c] += Σ_p (x[p, c] − sub[c])^power over one image's HW pixels (power 1 or 2). */
@inline function channelSums(x: usize, sub: usize, acc: usize, HW: i32, C: i32, square: bool): void {
  zero(acc, C);
  const row = <usize>C << 2;
  for (let p = 0; p < HW; p++) {
    const xp = x + <usize>p * row;
    for (let c = 0; c < C; c += 4) {
      const o = <usize>c << 2;
      let v = v128.load(xp + o);
      if (square) {
        v = f32x4.sub(v, v128.load(sub + o));
        v = f32x4.mul(v, v);
      }
      v128.store(acc + o, f32x4.add(v128.load(acc + o), v));
    }
  }
}

/**
 * Per image: group means and variances of x + shift (two passes, like tf.moments), written to
 * stats, then y = act(x·scale_c + bias_c) with scale_c = γ_c·r_g and bias_c folding β, μ and the
 * shift. act is SiLU (a·σ(a)) when silu ≠ 0, else the identity.
 * scratch: 4·C floats.
 */
export function groupNormForward(x: usize, shift: usize, gamma: usize, beta: usize, y: usize, stats: usize, scratch: usize,
  B: i32, HW: i32, C: i32, G: i32, silu: i32, eps: f32): void {
  const acc = scratch;
  const m = scratch + (<usize>C << 2); // per channel: μ_g − shift_c (x − m = x + shift − μ)
  const scale = scratch + (<usize>C << 3);
  const bias = scratch + (<usize>C * 12);
  const cg = C / G;
  const n = <f32>(HW * cg);
  for (let b = 0; b < B; b++) {
    const xb = x + <usize>b * <usize>HW * (<usize>C << 2);
    const yb = y + <usize>b * <usize>HW * (<usize>C << 2);
    const sb = shift + (<usize>(b * C) << 2);
    channelSums(xb, 0, acc, HW, C, false);
    for (let g = 0; g < G; g++) {
      let s: f32 = 0;
      for (let c = g * cg; c < (g + 1) * cg; c++) {
        s += load<f32>(acc + (<usize>c << 2));
        if (shift) s += <f32>HW * load<f32>(sb + (<usize>c << 2));
      }
      const mean = s / n;
      for (let c = g * cg; c < (g + 1) * cg; c++) {
        store<f32>(m + (<usize>c << 2), shift ? mean - load<f32>(sb + (<usize>c << 2)) : mean);
      }
      store<f32>(stats + (<usize>((b * G + g) * 2) << 2), mean);
    }
    channelSums(xb, m, acc, HW, C, true);
    for (let g = 0; g < G; g++) {
      let s: f32 = 0;
      for (let c = g * cg; c < (g + 1) * cg; c++) s += load<f32>(acc + (<usize>c << 2));
      const r: f32 = <f32>1 / Mathf.sqrt(s / n + eps);
      store<f32>(stats + (<usize>((b * G + g) * 2 + 1) << 2), r);
      for (let c = g * cg; c < (g + 1) * cg; c++) {
        const o = <usize>c << 2;
        const sc = load<f32>(gamma + o) * r;
        store<f32>(scale + o, sc);
        store<f32>(bias + o, load<f32>(beta + o) - load<f32>(m + o) * sc);
      }
    }
    const row = <usize>C << 2;
    for (let p = 0; p < HW; p++) {
      const xp = xb + <usize>p * row;
      const yp = yb + <usize>p * row;
      for (let c = 0; c < C; c += 4) {
        const o = <usize>c << 2;
        let a = f32x4.add(f32x4.mul(v128.load(xp + o), v128.load(scale + o)), v128.load(bias + o));
        if (silu) a = f32x4.mul(a, sigmoidv(a));
        v128.store(yp + o, a);
      }
    }
  }
}

/**
 * The gradient of groupNormForward, from x and its stats (x̂ is recomputed, not stored).
 *   a = γ·x̂ + β, da = dy·σ(a)·(1 + a·(1 − σ(a))) (SiLU) or dy
 *   dγ = Σ da·x̂, dβ = Σ da, dx = r·(γ·da − mean_g(γ·da) − x̂·mean_g(γ·da·x̂)), dshift = Σ_pixels dx
 * Pass 1 writes da into dx and per-channel sums of x, da, da·x̂; pass 2 rewrites dx as
 * da·A_c + x·B_c + D_c. dgamma and dbeta are sums over the batch; dshift (0 = none) is [B, C].
 * scratch: 8·C floats.
 */
export function groupNormBackward(x: usize, shift: usize, gamma: usize, beta: usize, stats: usize, dy: usize,
  dx: usize, dgamma: usize, dbeta: usize, dshift: usize, scratch: usize, B: i32, HW: i32, C: i32, G: i32, silu: i32): void {
  const f = <usize>C << 2;
  const sx = scratch; // Σ x
  const s1 = scratch + f; // Σ da
  const s2 = scratch + 2 * f; // Σ da·x̂
  const xr = scratch + 3 * f; // x̂ = x·xr_c + xt_c
  const xt = scratch + 4 * f;
  const A = scratch + 5 * f;
  const Bc = scratch + 6 * f;
  const D = scratch + 7 * f;
  const cg = C / G;
  const n = <f32>(HW * cg);
  zero(dgamma, C);
  zero(dbeta, C);
  const row = <usize>C << 2;
  for (let b = 0; b < B; b++) {
    const xb = x + <usize>b * <usize>HW * row;
    const dyb = dy + <usize>b * <usize>HW * row;
    const dxb = dx + <usize>b * <usize>HW * row;
    const sb = shift + (<usize>(b * C) << 2);
    for (let g = 0; g < G; g++) {
      const mean = load<f32>(stats + (<usize>((b * G + g) * 2) << 2));
      const r = load<f32>(stats + (<usize>((b * G + g) * 2 + 1) << 2));
      for (let c = g * cg; c < (g + 1) * cg; c++) {
        const o = <usize>c << 2;
        const mc = shift ? mean - load<f32>(sb + o) : mean;
        store<f32>(xr + o, r);
        store<f32>(xt + o, -mc * r);
      }
    }
    zero(sx, C);
    zero(s1, C);
    zero(s2, C);
    for (let p = 0; p < HW; p++) {
      const xp = xb + <usize>p * row;
      const dyp = dyb + <usize>p * row;
      const dxp = dxb + <usize>p * row;
      for (let c = 0; c < C; c += 4) {
        const o = <usize>c << 2;
        const xv = v128.load(xp + o);
        const xh = f32x4.add(f32x4.mul(xv, v128.load(xr + o)), v128.load(xt + o));
        let da = v128.load(dyp + o);
        if (silu) {
          const a = f32x4.add(f32x4.mul(xh, v128.load(gamma + o)), v128.load(beta + o));
          const s = sigmoidv(a);
          da = f32x4.mul(da, f32x4.mul(s, f32x4.add(f32x4.splat(1), f32x4.mul(a, f32x4.sub(f32x4.splat(1), s)))));
        }
        v128.store(dxp + o, da);
        v128.store(sx + o, f32x4.add(v128.load(sx + o), xv));
        v128.store(s1 + o, f32x4.add(v128.load(s1 + o), da));
        v128.store(s2 + o, f32x4.add(v128.load(s2 + o), f32x4.mul(da, xh)));
      }
    }
    for (let c = 0; c < C; c += 4) {
      const o = <usize>c << 2;
      v128.store(dbeta + o, f32x4.add(v128.load(dbeta + o), v128.load(s1 + o)));
      v128.store(dgamma + o, f32x4.add(v128.load(dgamma + o), v128.load(s2 + o)));
    }
    for (let g = 0; g < G; g++) {
      let m1: f32 = 0;
      let m2: f32 = 0;
      for (let c = g * cg; c < (g + 1) * cg; c++) {
        const o = <usize>c << 2;
        const gm = load<f32>(gamma + o);
        m1 += gm * load<f32>(s1 + o);
        m2 += gm * load<f32>(s2 + o);
      }
      m1 /= n;
      m2 /= n;
      const r = load<f32>(stats + (<usize>((b * G + g) * 2 + 1) << 2));
      for (let c = g * cg; c < (g + 1) * cg; c++) {
        const o = <usize>c << 2;
        const a = r * load<f32>(gamma + o);
        const bc = -r * m2 * load<f32>(xr + o);
        const d = -r * m1 - r * m2 * load<f32>(xt + o);
        store<f32>(A + o, a);
        store<f32>(Bc + o, bc);
        store<f32>(D + o, d);
        if (dshift) {
          store<f32>(dshift + (<usize>(b * C + c) << 2), a * load<f32>(s1 + o) + bc * load<f32>(sx + o) + <f32>HW * d);
        }
      }
    }
    for (let p = 0; p < HW; p++) {
      const xp = xb + <usize>p * row;
      const dxp = dxb + <usize>p * row;
      for (let c = 0; c < C; c += 4) {
        const o = <usize>c << 2;
        const v = f32x4.add(f32x4.mul(v128.load(dxp + o), v128.load(A + o)), f32x4.add(f32x4.mul(v128.load(xp + o), v128.load(Bc + o)), v128.load(D + o)));
        v128.store(dxp + o, v);
      }
    }
  }
}
