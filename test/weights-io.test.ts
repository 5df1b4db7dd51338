import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { unzipSync, zipSync } from 'fflate';

import {
  bfloat16ToFloat32,
  float16ToFloat32,
  float32ToBfloat16,
  float32ToFloat16,
  fromHalfBits,
  toHalfBits,
} from '../src/core/weights/half.ts';
import { BASE_GLOBALS, PickleError, unpickle, UnsafePickleError } from '../src/core/weights/pickle.ts';
import { readSafetensors, SafetensorsError, writeSafetensors } from '../src/core/weights/safetensors.ts';
import {
  CheckpointFormatError,
  findStateDict,
  listTensors,
  readTorchCheckpoint,
  toPlain,
  type TorchTensor,
} from '../src/core/weights/torch-checkpoint.ts';

const dir = new URL('./fixtures/io/', import.meta.url);
const load = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(name, dir)));
const json = (name: string): any => JSON.parse(readFileSync(new URL(name, dir), 'utf8'));
const expected = json('expected.json');

interface Expected {
  dtype: string;
  shape: number[];
  values: Array<number | string>;
}

/** Exact comparison: float values were float32 in Python too; int64 come as decimal strings. */
function assertTensor(t: TorchTensor | undefined, e: Expected, label: string): void {
  assert.ok(t, `${label}: missing`);
  assert.equal(t.dtype, e.dtype, `${label}: dtype`);
  assert.deepEqual(t.shape, e.shape, `${label}: shape`);
  assert.equal(t.data.length, e.values.length, `${label}: length`);
  const got = Array.from(t.data as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? v.toString() : v));
  const want = e.values.map((v) => (t.dtype === 'int64' ? v : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v));
  assert.deepEqual(got, want, `${label}: values`);
}

function assertStateDict(sd: Map<string, TorchTensor>, want: Record<string, Expected>, label: string): void {
  assert.deepEqual([...sd.keys()], Object.keys(want), `${label}: keys in order`);
  for (const [k, e] of Object.entries(want)) assertTensor(sd.get(k), e, `${label} ${k}`);
}

// ------------------------------------------------------------------ torch checkpoints

for (const file of ['state_dict.pth', 'state_dict_p4.pth', 'state_dict_deflate.pth']) {
  test(`${file}: every tensor (all dtypes, strided views, shared storage) reads exactly`, () => {
    const ckpt = readTorchCheckpoint(load(file), file);
    assert.equal(ckpt.formatVersion, 3);
    assert.deepEqual(ckpt.meta, {});
    const { stateDict, source, strippedPrefix } = findStateDict(ckpt.root);
    assert.equal(source, 'root');
    assert.equal(strippedPrefix, null);
    assertStateDict(stateDict, expected.state_dict, file);
  });
}

test('strided and offset views come out as contiguous row-major copies', () => {
  const { stateDict: sd } = findStateDict(readTorchCheckpoint(load('state_dict.pth')).root);
  // base = arange(12) * 0.5 - 2; shared.a = base[2:8].view(2, 3); shared.b = base[6:]
  assert.deepEqual(Array.from(sd.get('shared.a')!.data as Float32Array), [-1, -0.5, 0, 0.5, 1, 1.5]);
  assert.deepEqual(Array.from(sd.get('shared.b')!.data as Float32Array), [1, 1.5, 2, 2.5, 3, 3.5]);
  assert.deepEqual(sd.get('shared.a')!.shape, [2, 3]);
  // arange(20).reshape(4, 5)[:, ::2]
  assert.deepEqual(Array.from(sd.get('strided.every_other')!.data as Float32Array), [0, 2, 4, 5, 7, 9, 10, 12, 14, 15, 17, 19]);
  // lin.weight_t = mat.t(): element [i][j] of the copy is mat[j][i], and it owns its buffer
  const t = sd.get('lin.weight_t')!;
  assert.deepEqual(t.shape, [4, 3]);
  assert.equal(t.data.byteOffset, 0);
  assert.equal(t.data.buffer.byteLength, 12 * 4);
  // 0-d and empty tensors
  assert.deepEqual(sd.get('scalar')!.shape, []);
  assert.deepEqual(Array.from(sd.get('scalar')!.data as Float32Array), [3.25]);
  assert.deepEqual(sd.get('empty')!.shape, [0, 3]);
  assert.equal(sd.get('empty')!.data.length, 0);
});

test('checkpoint.pth: model / EMA state dicts, a real AdamW state and plain metadata', () => {
  const ckpt = readTorchCheckpoint(load('checkpoint.pth'), 'checkpoint.pth');
  const e = expected.checkpoint;

  const model = findStateDict(ckpt.root);
  assert.equal(model.source, 'model_state_dict');
  assert.equal(model.strippedPrefix, null);
  assertStateDict(model.stateDict, e.model_state_dict, 'model');

  const ema = findStateDict(ckpt.root, { prefer: 'ema' });
  assert.equal(ema.source, 'ema_state_dict');
  assert.equal(ema.strippedPrefix, 'module.');
  assertStateDict(ema.stateDict, e.ema_state_dict, 'ema');

  // optimizer: tensors by path, param_groups as plain values
  const all = listTensors(ckpt.root);
  for (const [id, tensors] of Object.entries(e.optimizer.state as Record<string, Record<string, Expected>>)) {
    for (const [name, want] of Object.entries(tensors)) {
      assertTensor(all.get(`optimizer_state_dict.state.${id}.${name}`), want, `optimizer ${id}.${name}`);
    }
  }
  const opt = toPlain((ckpt.root as Map<string, unknown>).get('optimizer_state_dict')) as any;
  assert.deepEqual(opt.param_groups, e.optimizer.param_groups);

  // metadata: everything without tensors, as plain JS
  const want = { ...e.meta, big_int: BigInt(e.meta.big_int), raw: new Uint8Array(e.meta.raw) };
  assert.deepEqual(ckpt.meta, want);
  assert.deepEqual(Object.keys(ckpt.meta).sort(), Object.keys(want).sort());
});

test('malicious.pth is refused, naming os.system, before anything could run', () => {
  let err: unknown;
  try {
    readTorchCheckpoint(load('malicious.pth'), 'malicious.pth');
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof UnsafePickleError, String(err));
  assert.equal(err.globalName, 'posix.system');
  assert.match(err.message, /^refusing to load malicious\.pth: the pickle references 'os\.system'/);
  assert.match(err.message, /allowed: collections\.OrderedDict/);
  assert.match(err.message, /Nothing from the file was run/);
});

test('plain pickles of builtins.eval / subprocess.call are refused too', () => {
  const p = json('pickles.json');
  assert.throws(() => unpickle(Buffer.from(p.evil_eval, 'hex'), { fileName: 'eval.pkl' }), (e: unknown) => {
    return e instanceof UnsafePickleError && /'builtins\.eval'/.test(e.message) && /eval\.pkl/.test(e.message);
  });
  assert.throws(() => unpickle(Buffer.from(p.evil_stack_global, 'hex')), (e: unknown) => {
    return e instanceof UnsafePickleError && e.globalName === 'subprocess.call';
  });
});

test('legacy (pre-1.6) files are refused with a re-save hint', () => {
  assert.throws(
    () => readTorchCheckpoint(load('legacy.pth'), 'legacy.pth'),
    (e: unknown) =>
      e instanceof CheckpointFormatError &&
      /legacy\.pth uses PyTorch's legacy \(pre-1\.6\) serialization format/.test(e.message) &&
      /Re-save it with torch ≥ 1\.6/.test(e.message),
  );
});

test('truncated, corrupt and foreign files give clear errors, not crashes', () => {
  const good = load('state_dict.pth');
  for (const n of [0, 3, 10, 100, good.length >> 1, good.length - 30, good.length - 1]) {
    assert.throws(
      () => readTorchCheckpoint(good.subarray(0, n), 'cut.pth'),
      (e: unknown) => e instanceof CheckpointFormatError && /cut\.pth/.test(e.message),
      `cut at ${n}`,
    );
  }
  assert.throws(
    () => readTorchCheckpoint(new TextEncoder().encode('hello, not a checkpoint'), 'x.pth'),
    /x\.pth is not a PyTorch checkpoint/,
  );
  assert.throws(() => readTorchCheckpoint(load('tiny.safetensors'), 'w.pth'), /looks like a safetensors file/);

  // rebuild the archive with a damaged data.pkl / a short storage
  const files = unzipSync(good);
  const rezip = (patch: (f: Record<string, Uint8Array>) => void): Uint8Array => {
    const copy = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v.slice()]));
    patch(copy);
    return zipSync(copy, { level: 0 });
  };
  const badOp = rezip((f) => (f['state_dict/data.pkl']![2] = 0xff));
  assert.throws(
    () => readTorchCheckpoint(badOp, 'op.pth'),
    (e: unknown) => e instanceof PickleError && /op\.pth: unknown pickle opcode .* \(opcode 0xff at offset 2\)/.test(e.message),
  );
  const cutPkl = rezip((f) => (f['state_dict/data.pkl'] = f['state_dict/data.pkl']!.subarray(0, 200)));
  assert.throws(() => readTorchCheckpoint(cutPkl, 'pkl.pth'), (e: unknown) => e instanceof PickleError && /pkl\.pth: truncated pickle/.test(e.message));
  const shortStorage = rezip((f) => (f['state_dict/data/0'] = f['state_dict/data/0']!.subarray(0, 8)));
  assert.throws(() => readTorchCheckpoint(shortStorage, 's.pth'), /s\.pth: storage '0' has 8 bytes, expected \d+ \(truncated file\?\)/);
  const missing = rezip((f) => delete f['state_dict/data/1']);
  assert.throws(() => readTorchCheckpoint(missing, 'm.pth'), /m\.pth: storage '1' is missing from the archive/);
  const script = rezip((f) => (f['state_dict/constants.pkl'] = new Uint8Array([0x80, 2, 0x29, 0x2e])));
  assert.throws(() => readTorchCheckpoint(script, 'jit.pt'), /jit\.pt is a TorchScript archive/);
  assert.throws(() => readTorchCheckpoint(zipSync({ 'a.txt': new Uint8Array(3) }), 'z.zip'), /not a torch\.save checkpoint/);
  // a state_dict finder error that says what it saw
  assert.throws(
    () => findStateDict(new Map([['epoch', 1]]), { fileName: 'c.pth' }),
    /no state_dict in c\.pth: .*top-level keys: epoch/,
  );
});

// ------------------------------------------------------------------ the unpickler itself

function normalize(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v).replace('Infinity', 'inf');
  if (v instanceof Uint8Array) return Array.from(v);
  if (v instanceof Set) return [...v].map(normalize).sort();
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), normalize(x)]));
  if (Array.isArray(v)) return v.map(normalize);
  return v;
}

test('protocols 2–5: plain values, big ints, bytes, tuples, sets and memo sharing', () => {
  const p = json('pickles.json');
  for (const proto of ['2', '3', '4', '5']) {
    const v = unpickle(Buffer.from(p.by_protocol[proto], 'hex'), { globals: BASE_GLOBALS }) as Map<string, any>;
    assert.deepEqual(normalize(v), p.expected, `protocol ${proto}`);
    const shared = v.get('shared');
    assert.equal(shared[0], shared[1], `protocol ${proto}: memo keeps identity`);
    assert.ok(Object.isFrozen(v.get('tuple')), 'tuples are frozen arrays');
  }
});

test('unpickler errors name the opcode and offset', () => {
  const u = (bytes: number[]): unknown => unpickle(new Uint8Array(bytes), { fileName: 't.pkl' });
  assert.throws(() => u([0x80, 2, 0x49]), /t\.pkl: unsupported pickle opcode .*\(opcode 0x49 'I' \(INT\) at offset 2\)/);
  assert.throws(() => u([0x80, 2, 0xfe]), /unknown pickle opcode .*0xfe at offset 2/);
  assert.throws(() => u([0x80, 2, 0x58, 10, 0, 0, 0, 0x61]), /truncated pickle: needs 10 more bytes but only 1 remain/);
  assert.throws(() => u([0x80, 2, 0x68, 7, 0x2e]), /memo key 7 was never stored/);
  assert.throws(() => u([0x80, 2, 0x2e]), /stack underflow/);
  assert.throws(() => u([0x80, 2, 0x4e]), /ended at offset 3 without a STOP/);
  assert.throws(() => u([0x80, 9]), /protocol 9 is newer/);
  assert.throws(() => u([0x80, 2, 0x51, 0x2e]), /stack underflow/);
  assert.throws(() => u([0x80, 2, 0x4e, 0x51, 0x2e]), /persistent id in a pickle that has no storage/);
  assert.equal(u([0x80, 2, 0x8a, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x2e]), -(2n ** 71n));
});

// ------------------------------------------------------------------ safetensors

test('tiny.safetensors reads every dtype and the metadata', () => {
  const f = readSafetensors(load('tiny.safetensors'), 'tiny.safetensors');
  assert.deepEqual(f.metadata, expected.safetensors.metadata);
  assert.deepEqual([...f.tensors.keys()], Object.keys(expected.safetensors.tensors));
  for (const [k, e] of Object.entries(expected.safetensors.tensors as Record<string, Expected>)) assertTensor(f.tensors.get(k), e, k);
});

test('writeSafetensors → readSafetensors round trip (F32 exact, F16 rounded), aligned header', () => {
  const a = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i) * 100);
  const b = new Float32Array([1e-8, 65519, 65520, -0, 0.1, NaN]);
  const bytes = writeSafetensors(
    [
      { name: 'z.last', dtype: 'F32', shape: [2, 3, 4], data: a },
      { name: 'a.first', dtype: 'F16', shape: [6], data: b },
      { name: 'empty', dtype: 'F32', shape: [0], data: new Float32Array(0) },
    ],
    { format: 'pt', note: 'round trip' },
  );
  const headerLen = new DataView(bytes.buffer).getUint32(0, true);
  assert.equal((8 + headerLen) % 8, 0);
  assert.equal(new DataView(bytes.buffer).getUint32(4, true), 0);
  const header = new TextDecoder().decode(bytes.subarray(8, 8 + headerLen));
  assert.match(header, / *$/);
  assert.deepEqual(Object.keys(JSON.parse(header)), ['__metadata__', 'z.last', 'a.first', 'empty']);

  const back = readSafetensors(bytes);
  assert.deepEqual(back.metadata, { format: 'pt', note: 'round trip' });
  assert.deepEqual([...back.tensors.keys()], ['z.last', 'a.first', 'empty']);
  assert.deepEqual(back.tensors.get('z.last')!.shape, [2, 3, 4]);
  assert.deepEqual(back.tensors.get('z.last')!.data, a);
  const h = back.tensors.get('a.first')!;
  assert.equal(h.dtype, 'float16');
  assert.deepEqual(Array.from(h.data as Float32Array), [0, 65504, Infinity, -0, fromHalfBits(0x2e66), NaN]);
});

test('safetensors: bad headers and offsets give clear errors', () => {
  const good = load('tiny.safetensors');
  const withHeader = (h: string, dataLen = 0): Uint8Array => {
    const j = new TextEncoder().encode(h);
    const out = new Uint8Array(8 + j.length + dataLen);
    new DataView(out.buffer).setUint32(0, j.length, true);
    out.set(j, 8);
    return out;
  };
  const bad = (bytes: Uint8Array, re: RegExp): void => {
    assert.throws(() => readSafetensors(bytes, 'w.safetensors'), (e: unknown) => e instanceof SafetensorsError && re.test(e.message));
  };
  bad(good.subarray(0, 5), /too short/);
  bad(good.subarray(0, 40), /runs past the end of the file/);
  bad(good.subarray(0, good.length - 3), /run past the end of the data .*truncated/);
  bad(withHeader('{"a": '), /not valid JSON/);
  bad(withHeader('[1]'), /not a JSON object/);
  bad(withHeader('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', 8), /'a': 4 bytes for shape \[2\] of F32, expected 8/);
  bad(withHeader('{"a":{"dtype":"Q8","shape":[1],"data_offsets":[0,1]}}', 1), /unsupported dtype "Q8"/);
  bad(withHeader('{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}', 1), /shape must be/);
  bad(withHeader('{"a":{"dtype":"U8","shape":[2],"data_offsets":[2,0]}}', 2), /data_offsets must be/);
  bad(
    withHeader('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}', 3),
    /'a' and 'b' overlap/,
  );
  bad(withHeader('{"__metadata__":{"x":1}}'), /__metadata__\.x is not a string/);
  assert.throws(() => writeSafetensors([{ name: 'a', dtype: 'F32', shape: [3], data: new Float32Array(2) }]), /2 values for shape \[3\]/);
  assert.throws(
    () =>
      writeSafetensors([
        { name: 'a', dtype: 'F32', shape: [1], data: new Float32Array(1) },
        { name: 'a', dtype: 'F32', shape: [1], data: new Float32Array(1) },
      ]),
    /duplicate/,
  );
});

// ------------------------------------------------------------------ half precision

test('float16: every bit pattern round-trips; rounding is nearest-even; inf/nan/subnormals', () => {
  const bits = new Uint16Array(65536).map((_, i) => i);
  const f = float16ToFloat32(bits);
  const back = float32ToFloat16(f);
  for (let i = 0; i < 65536; i++) {
    if (Number.isNaN(f[i])) assert.ok(Number.isNaN(fromHalfBits(back[i]!)), `nan ${i}`);
    else assert.equal(back[i], i, `bits ${i.toString(16)}`);
  }
  const cases: Array<[number, number]> = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [65519.99, 0x7bff],
    [65520, 0x7c00], // rounds up to inf
    [1e6, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // tie → even (0)
    [3 * 2 ** -25, 0x0002], // tie → even (2)
    [2 ** -14, 0x0400], // smallest normal
    [1 + 2 ** -11, 0x3c00], // tie → even
    [1 + 3 * 2 ** -11, 0x3c02], // tie → even (up)
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
    [0.1, 0x2e66],
  ];
  for (const [x, h] of cases) assert.equal(toHalfBits(x), h, `toHalfBits(${x})`);
  assert.ok(Number.isNaN(fromHalfBits(toHalfBits(NaN))));
  assert.equal(fromHalfBits(0x0001), 2 ** -24);
  assert.equal(fromHalfBits(0x7c00), Infinity);
});

test('float32 → float16 matches numpy on random values, ties, subnormals and the overflow edge', () => {
  const { f32_bits, f16_bits } = expected.float16 as { f32_bits: number[]; f16_bits: number[] };
  const x = new Float32Array(new Uint32Array(f32_bits).buffer);
  assert.deepEqual(Array.from(float32ToFloat16(x)), f16_bits);
});

test('bfloat16 ⇄ float32', () => {
  const x = new Float32Array([1.5, -2, 3.140625, 0, -0, Infinity, NaN, 1 + 2 ** -8, 1 + 3 * 2 ** -8]);
  const bf = float32ToBfloat16(x);
  assert.deepEqual(Array.from(bf.subarray(0, 6)), [0x3fc0, 0xc000, 0x4049, 0, 0x8000, 0x7f80]);
  assert.equal(bf[7], 0x3f80); // tie → even (down)
  assert.equal(bf[8], 0x3f82); // tie → even (up)
  const back = bfloat16ToFloat32(bf);
  assert.deepEqual(Array.from(back.subarray(0, 6)), [1.5, -2, 3.140625, 0, -0, Infinity]);
  assert.ok(Number.isNaN(back[6]));
});
