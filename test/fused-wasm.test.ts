/**
 * The AssemblyScript modules (wasm/*.ts → src/core/fused/*.wasm.ts: fused GroupNorm, the filter
 * gradient, AdamW, row copies):
 *   - each committed module is what `npm run build:wasm` makes from the committed source today;
 *   - it cannot write anywhere it is not told to: it imports its memory and has no data segments,
 *     no globals (so no stack pointer: no linear-memory stack), no start function and no memory
 *     of its own; the threaded variant's import is shared with tfjs' 4 GiB maximum;
 *   - both variants compute the same thing on a plain and on a shared memory (fused GroupNorm;
 *     the others are checked against tfjs in wasm-kernels.test.ts and adamw.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildWasmModule, outputOf, WASM_MODULES } from '../scripts/build-wasm.ts';
import { fusedNormOn } from '../src/core/fused/fused-norm-module.ts';
import { wasmBytes, type WasmModuleSource } from '../src/core/fused/wasm-module.ts';
import { FUSED_NORM_WASM } from '../src/core/fused/fused-norm.wasm.ts';
import { CONV_FILTER_GRAD_WASM } from '../src/core/fused/conv-filter-grad.wasm.ts';
import { ADAMW_WASM } from '../src/core/fused/adamw.wasm.ts';
import { COPY_WASM } from '../src/core/fused/copy.wasm.ts';

/** Each module as committed, with the functions it must export (and nothing else). */
const MODULES: Record<string, { source: WasmModuleSource; exports: string[] }> = {
  'fused-norm': { source: FUSED_NORM_WASM, exports: ['groupNormBackward', 'groupNormForward'] },
  'conv-filter-grad': { source: CONV_FILTER_GRAD_WASM, exports: ['convFilterGrad'] },
  adamw: { source: ADAMW_WASM, exports: ['adamwEma', 'addSquares'] },
  copy: { source: COPY_WASM, exports: ['copyRows'] },
};

test('every module in wasm/ is built and listed', () => {
  const sources = fs.readdirSync(path.join(import.meta.dirname, '..', 'wasm')).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3)).sort();
  assert.deepEqual(WASM_MODULES.map((m) => m.name).sort(), sources);
  assert.deepEqual(Object.keys(MODULES).sort(), sources);
});

for (const m of WASM_MODULES) {
  test(`src/core/fused/${m.name}.wasm.ts is fresh (rebuilding wasm/${m.name}.ts gives the same bytes)`, async () => {
    const rebuilt = await buildWasmModule(m);
    assert.ok(rebuilt === fs.readFileSync(outputOf(m), 'utf8'), 'the committed module is stale: run `npm run build:wasm` and commit it');
  });
}

/** Section ids (https://webassembly.github.io/spec/core/binary/modules.html). */
const SECTION = { type: 1, import: 2, function: 3, table: 4, memory: 5, global: 6, export: 7, start: 8, element: 9, code: 10, data: 11, dataCount: 12 } as const;

function leb(bytes: Uint8Array, at: number): [number, number] {
  let v = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[at++];
    v += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(b & 0x80)) return [v, at];
  }
}

function sections(bytes: Uint8Array): Map<number, Uint8Array> {
  assert.deepEqual([...bytes.subarray(0, 8)], [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0], 'not a wasm 1 module');
  const out = new Map<number, Uint8Array>();
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at];
    const [size, start] = leb(bytes, at + 1);
    out.set(id, bytes.subarray(start, start + size));
    at = start + size;
  }
  return out;
}

/** The single import as (module, name, kind, limits flag, min, max). */
function onlyImport(body: Uint8Array): { module: string; name: string; kind: number; flags: number; min: number; max: number | null } {
  const dec = new TextDecoder();
  let [count, at] = leb(body, 0);
  assert.equal(count, 1, 'exactly one import');
  let len: number;
  [len, at] = leb(body, at);
  const module = dec.decode(body.subarray(at, at + len));
  at += len;
  [len, at] = leb(body, at);
  const name = dec.decode(body.subarray(at, at + len));
  at += len;
  const kind = body[at++];
  const flags = body[at++];
  let min: number;
  [min, at] = leb(body, at);
  const max = flags & 1 ? leb(body, at)[0] : null;
  return { module, name, kind, flags, min, max };
}

for (const [name, mod] of Object.entries(MODULES)) for (const variant of ['plain', 'shared'] as const) {
  test(`${name}: the ${variant} module imports its memory and owns nothing in it (no data, globals, stack, start)`, () => {
    const bytes = wasmBytes(mod.source[variant]);
    const s = sections(bytes);
    for (const id of [SECTION.data, SECTION.dataCount, SECTION.global, SECTION.memory, SECTION.start, SECTION.table, SECTION.element]) {
      assert.ok(!s.has(id), `unexpected section ${id}`);
    }
    const imp = onlyImport(s.get(SECTION.import)!);
    assert.deepEqual([imp.module, imp.name, imp.kind], ['env', 'memory', 2]);
    assert.equal(imp.min, 0, 'asks for no minimum size');
    if (variant === 'shared') assert.deepEqual([imp.flags, imp.max], [3, 65536], 'shared, 4 GiB maximum (tfjs threaded build)');
    else assert.equal(imp.flags, 0, 'plain memory, no maximum');
    const exports = WebAssembly.Module.exports(new WebAssembly.Module(bytes)).map((e) => `${e.kind}:${e.name}`).sort();
    assert.deepEqual(exports, mod.exports.map((e) => `function:${e}`));
  });
}

test('both variants give the same forward and backward, and write only their outputs', () => {
  const run = (memory: WebAssembly.Memory) => {
    const k = fusedNormOn(memory);
    const f32 = new Float32Array(memory.buffer);
    const [B, HW, C, G] = [2, 6, 8, 2];
    let next = 64; // addresses in floats; 64 floats of canary at the start
    const alloc = (n: number) => ((next += n + 4) - n - 4) * 4;
    const fill = (at: number, n: number, seed: number) => { for (let i = 0; i < n; i++) f32[at / 4 + i] = Math.sin(seed * 7.1 + i * 1.3) * 2; return at; };
    const x = fill(alloc(B * HW * C), B * HW * C, 1);
    const shift = fill(alloc(B * C), B * C, 2);
    const gamma = fill(alloc(C), C, 3);
    const beta = fill(alloc(C), C, 4);
    const dy = fill(alloc(B * HW * C), B * HW * C, 5);
    const [y, stats, dx, dgamma, dbeta, dshift, scratch] = [B * HW * C, B * G * 2, B * HW * C, C, C, B * C, 8 * C].map(alloc);
    const end = next;
    f32.fill(-7, 0, 64);
    f32.fill(-7, end, end + 256);
    k.groupNormForward(x, shift, gamma, beta, y, stats, scratch, B, HW, C, G, 1, 1e-5);
    k.groupNormBackward(x, shift, gamma, beta, stats, dy, dx, dgamma, dbeta, dshift, scratch, B, HW, C, G, 1);
    assert.ok(f32.subarray(0, 64).every((v) => v === -7) && f32.subarray(end, end + 256).every((v) => v === -7), 'wrote outside its buffers');
    return [y, dx, dgamma, dbeta, dshift].map((at, i) => Array.from(f32.subarray(at / 4, at / 4 + [B * HW * C, B * HW * C, C, C, B * C][i])));
  };
  const plain = run(new WebAssembly.Memory({ initial: 1 }));
  const shared = run(new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true }));
  assert.deepEqual(shared, plain);
  assert.ok(plain.every((a) => a.every(Number.isFinite) && a.some((v) => v !== 0)));
});
