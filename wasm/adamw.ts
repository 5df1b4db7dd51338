// AssemblyScript source of the fused optimizer step for tfjs' wasm backend (src/core/fused/wasm-adamw.ts):
// the AdamW update (PyTorch semantics: decoupled weight decay) and the EMA of the weights in one
// pass per parameter tensor, where the op path (src/core/trainer.ts) runs ~15 small kernels. Each
// value is computed with the same f32 operations in the same order as that op path, so the two
// agree to the bit. Built by `npm run build:wasm` into src/core/fused/adamw.wasm.ts; like
// fused-norm.ts it imports the backend's memory and owns nothing in it.
//
//   g = grad·clip; m' = m·β1 + g·(1 − β1); v' = v·β2 + g²·(1 − β2); d = √v' / √bc2 + ε
//   p' = p·keep − (m' / d)·step; e' = e·decay + p'·(1 − decay)
// with keep = 1 − lr·wd and step = lr / bc1 (the caller's JS numbers, rounded to f32 like tfjs'
// scalars), clip a float32 scalar in memory (the clipping factor, computed on the backend).


export function adamwEma(p: usize, m: usize, v: usize, e: usize, grad: usize, clip: usize,
  pOut: usize, mOut: usize, vOut: usize, eOut: usize, n: i32,
  beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32, sqrtBc2: f32, eps: f32,
  keep: f32, step: f32, decay: f32, oneMinusDecay: f32): void {
  const s = load<f32>(clip);
  const S = f32x4.splat(s);
  const B1 = f32x4.splat(beta1), C1 = f32x4.splat(oneMinusBeta1), B2 = f32x4.splat(beta2), C2 = f32x4.splat(oneMinusBeta2);
  const Q = f32x4.splat(sqrtBc2), E = f32x4.splat(eps), K = f32x4.splat(keep), T = f32x4.splat(step);
  const D = f32x4.splat(decay), CD = f32x4.splat(oneMinusDecay);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const g = f32x4.mul(v128.load(grad + o), S);
    const m1 = f32x4.add(f32x4.mul(v128.load(m + o), B1), f32x4.mul(g, C1));
    const v1 = f32x4.add(f32x4.mul(v128.load(v + o), B2), f32x4.mul(f32x4.mul(g, g), C2));
    const d = f32x4.add(f32x4.div(f32x4.sqrt(v1), Q), E);
    const p1 = f32x4.sub(f32x4.mul(v128.load(p + o), K), f32x4.mul(f32x4.div(m1, d), T));
    v128.store(mOut + o, m1);
    v128.store(vOut + o, v1);
    v128.store(pOut + o, p1);
    v128.store(eOut + o, f32x4.add(f32x4.mul(v128.load(e + o), D), f32x4.mul(p1, CD)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(grad + o) * s;
    const m1 = load<f32>(m + o) * beta1 + g * oneMinusBeta1;
    const v1 = load<f32>(v + o) * beta2 + (g * g) * oneMinusBeta2;
    const d = Mathf.sqrt(v1) / sqrtBc2 + eps;
    const p1 = load<f32>(p + o) * keep - (m1 / d) * step;
    store<f32>(mOut + o, m1);
    store<f32>(vOut + o, v1);
    store<f32>(pOut + o, p1);
    store<f32>(eOut + o, load<f32>(e + o) * decay + p1 * oneMinusDecay);
  }
}

/** *acc = (first ? 0 : *acc) + Σ x² over n floats (the squared gradient norm, one tensor at a time). */
export function addSquares(x: usize, n: i32, acc: usize, first: i32): void {
  let a = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    a = f32x4.add(a, f32x4.mul(v, v));
  }
  let s = (f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1)) + (f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3));
  for (; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    s += v * v;
  }
  store<f32>(acc, first ? s : load<f32>(acc) + s);
}
