/**
 * Hostile and broken weights files, generated at test time (nothing binary is committed): a
 * tiny pickler and torch.save-style zip writer, and one builder per case. Each case says how it
 * is loaded, what the refusal must say, and its time and memory budget.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { deflateSync, zipSync } from 'fflate';
import { paramSpecs, SEED_CONFIG, type UNetConfig } from '../../src/core/model.ts';
import { writeSafetensors } from '../../src/core/weights/safetensors.ts';
import { encodeWeights, modelTensors } from '../../src/core/weights/format.ts';
import { SEED_SCHEDULE } from '../../src/core/schedule.ts';

// ------------------------------------------------------------------ a tiny pickler (protocol 2)

/** Raw opcodes, written as they are. */
export class Raw {
  constructor(readonly bytes: Uint8Array) {}
}
/** A tensor over storage `key` (float32 unless `dtype`), rebuilt with _rebuild_tensor_v2. */
export class TensorRef {
  constructor(
    readonly key: string,
    readonly numel: number,
    readonly size: number[],
    readonly stride: number[],
    readonly offset = 0,
  ) {}
}
export class Tuple {
  constructor(readonly items: unknown[]) {}
}

const enc = new TextEncoder();
function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}
function cat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Opcodes for `v` (no memo: each value written in full unless wrapped in Raw). */
export function pickleValue(v: unknown, out: Uint8Array[] = []): Uint8Array[] {
  const op = (...b: number[]) => out.push(new Uint8Array(b));
  if (v instanceof Raw) out.push(v.bytes);
  else if (v === null) op(0x4e);
  else if (v === true) op(0x88);
  else if (v === false) op(0x89);
  else if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 31) {
    op(0x4a);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, v, true);
    out.push(b);
  } else if (typeof v === 'number') {
    op(0x47);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, false);
    out.push(b);
  } else if (typeof v === 'string') {
    const s = enc.encode(v);
    op(0x58);
    out.push(u32(s.length), s);
  } else if (v instanceof Tuple) {
    op(0x28);
    for (const x of v.items) pickleValue(x, out);
    op(0x74);
  } else if (Array.isArray(v)) {
    op(0x5d, 0x28);
    for (const x of v) pickleValue(x, out);
    op(0x65);
  } else if (v instanceof Map) {
    op(0x7d, 0x28);
    for (const [k, x] of v) {
      pickleValue(k, out);
      pickleValue(x, out);
    }
    op(0x75);
  } else if (v instanceof TensorRef) {
    out.push(enc.encode('ctorch._utils\n_rebuild_tensor_v2\n'));
    op(0x28);
    // persistent id ('storage', torch.FloatStorage, key, 'cpu', numel)
    op(0x28);
    pickleValue('storage', out);
    out.push(enc.encode('ctorch\nFloatStorage\n'));
    pickleValue(v.key, out);
    pickleValue('cpu', out);
    pickleValue(v.numel, out);
    op(0x74, 0x51);
    pickleValue(v.offset, out);
    pickleValue(new Tuple(v.size), out);
    pickleValue(new Tuple(v.stride), out);
    op(0x89);
    out.push(enc.encode('ccollections\nOrderedDict\n'));
    op(0x29, 0x52);
    op(0x74, 0x52);
  } else throw new Error(`pickleValue: cannot pickle ${String(v)}`);
  return out;
}

export function pickle(root: unknown): Uint8Array {
  return cat([new Uint8Array([0x80, 0x02]), ...pickleValue(root), new Uint8Array([0x2e])]);
}

/** A torch.save-style zip (stored entries) of `data.pkl` and storages. */
export function torchZip(pkl: Uint8Array, storages: Record<string, Uint8Array> = {}, archive = 'archive'): Uint8Array {
  const files: Record<string, [Uint8Array, { level: 0 }]> = {
    [`${archive}/data.pkl`]: [pkl, { level: 0 }],
    [`${archive}/byteorder`]: [enc.encode('little'), { level: 0 }],
    [`${archive}/version`]: [enc.encode('3\n'), { level: 0 }],
  };
  for (const [k, b] of Object.entries(storages)) files[`${archive}/data/${k}`] = [b, { level: 0 }];
  return zipSync(files as never);
}

// ------------------------------------------------------------------ a small valid model

export const SMALL: UNetConfig = { ...SEED_CONFIG, width: 0.125, numClasses: 0 };

/** A complete small SimpleUNet state_dict as one float32 storage and TensorRefs over it. */
export function smallStateDict(fill: (i: number) => number = (i) => Math.sin(i) * 0.01, cfg: UNetConfig = SMALL): { sd: Map<string, TensorRef>; storage: Uint8Array } {
  const specs = paramSpecs(cfg);
  const total = specs.reduce((a, s) => a + s.torchShape.reduce((x, y) => x * y, 1), 0);
  const data = new Float32Array(total);
  for (let i = 0; i < total; i++) data[i] = fill(i);
  const sd = new Map<string, TensorRef>();
  let off = 0;
  for (const s of specs) {
    const n = s.torchShape.reduce((x, y) => x * y, 1);
    const stride = s.torchShape.map((_, d) => s.torchShape.slice(d + 1).reduce((x, y) => x * y, 1));
    sd.set(s.name, new TensorRef('0', total, s.torchShape, stride, off));
    off += n;
  }
  return { sd, storage: new Uint8Array(data.buffer) };
}

function smallPth(meta: Map<string, unknown> = new Map(), fill?: (i: number) => number): Uint8Array {
  const { sd, storage } = smallStateDict(fill);
  // `step` makes the metadata a training record, which `import` writes out (as JSON) with its recipe
  return torchZip(pickle(new Map<string, unknown>([['model_state_dict', sd], ['step', 1], ...meta])), { '0': storage });
}

function smallSafetensors(fill: (i: number) => number, metadata?: Record<string, string>): Uint8Array {
  let k = 0;
  const tensors = paramSpecs(SMALL).map((s) => {
    const n = s.torchShape.reduce((x, y) => x * y, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = fill(k++);
    return { name: s.name, dtype: 'F32' as const, shape: s.torchShape, data };
  });
  return writeSafetensors(tensors, metadata);
}

/** A valid project weights folder of the small model, with `edit` applied to its manifest. */
function projectDir(dir: string, edit: (m: Record<string, unknown>) => unknown): void {
  const values = new Map(paramSpecs(SMALL).map((s) => [s.name, new Float32Array(s.shape.reduce((a, b) => a * b, 1)).fill(0.01)]));
  const { manifest, shards } = encodeWeights(modelTensors(values, SMALL), { modelConfig: SMALL, schedule: SEED_SCHEDULE, prediction: 'epsilon' });
  fs.mkdirSync(dir, { recursive: true });
  (manifest.weightsManifest[0]!.paths as string[]).forEach((p, i) => fs.writeFileSync(path.join(dir, p), shards[i]!));
  const edited = edit(manifest as unknown as Record<string, unknown>);
  fs.writeFileSync(path.join(dir, 'weights.json'), typeof edited === 'string' ? edited : JSON.stringify(edited ?? manifest));
}

// ------------------------------------------------------------------ zip surgery

/** Sets the declared (uncompressed) size of entry `name` in both its local and central headers. */
function setDeclaredSize(zip: Uint8Array, name: string, size: number): Uint8Array {
  const out = zip.slice();
  const dv = new DataView(out.buffer);
  const nameBytes = enc.encode(name);
  const matchAt = (p: number, off: number) => nameBytes.every((b, i) => out[p + off + i] === b);
  for (let p = 0; p + 4 <= out.length; p++) {
    const sig = dv.getUint32(p, true);
    if (sig === 0x04034b50 && dv.getUint16(p + 26, true) === nameBytes.length && matchAt(p, 30)) dv.setUint32(p + 22, size, true);
    if (sig === 0x02014b50 && dv.getUint16(p + 28, true) === nameBytes.length && matchAt(p, 46)) dv.setUint32(p + 24, size, true);
  }
  return out;
}

// ------------------------------------------------------------------ the cases

export interface HostileCase {
  name: string;
  /** What it is, for the table. */
  what: string;
  /** Writes the input under `dir`; returns the path to load. */
  make: (dir: string) => string;
  /** The refusal, as a pattern of the one-line message. */
  message: RegExp;
  /** Budgets in a child process: wall time (a loaded, shared machine: generous) and peak RSS. */
  maxSeconds: number;
  maxRssMB: number;
}

const write = (dir: string, name: string, bytes: Uint8Array | string): string => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, bytes);
  return f;
};

/** A list that references the previous level twice, `levels` deep, over a `leaf` string. */
function laughs(levels: number, leaf: string): Raw {
  const parts: Uint8Array[] = [];
  pickleValue(leaf, parts);
  parts.push(new Uint8Array([0x72]), u32(0)); // LONG_BINPUT 0
  parts.push(new Uint8Array([0x30])); // POP
  for (let i = 1; i <= levels; i++) {
    parts.push(new Uint8Array([0x5d, 0x28, 0x6a]), u32(i - 1), new Uint8Array([0x6a]), u32(i - 1), new Uint8Array([0x65]));
    parts.push(new Uint8Array([0x72]), u32(i));
    if (i < levels) parts.push(new Uint8Array([0x30]));
  }
  return new Raw(cat(parts));
}

export const CASES: HostileCase[] = [
  {
    name: 'stride0-views.pth',
    what: '3 stride-0 views of a 1-element storage, 2^28 elements each',
    make: (dir) => {
      const views = [0, 1, 2].map(() => new TensorRef('0', 1, [16384, 16384], [0, 0]));
      return write(dir, 'stride0-views.pth', torchZip(pickle(new Map([['a', views[0]], ['b', views[1]], ['c', views[2]]])), { '0': new Uint8Array(4) }));
    },
    message: /stride0-views\.pth: tensor of shape \[16384,16384\] \(a view with strides \[0,0\]\) needs 268,435,457 elements, over the 134,217,728/,
    maxSeconds: 20, maxRssMB: 400,
  },
  {
    name: 'zip-bomb-declared.pth',
    what: 'data.pkl deflated from 8 MB, declaring 2 GiB',
    make: (dir) => {
      const files = { 'archive/data.pkl': [new Uint8Array(8 << 20), { level: 9 }] } as never;
      return write(dir, 'zip-bomb-declared.pth', setDeclaredSize(zipSync(files), 'archive/data.pkl', 2 ** 31));
    },
    message: /zip-bomb-declared\.pth: zip entry 'archive\/data\.pkl' \(declared 2147483648 bytes inflated from \d+\) needs 2\.0 GiB, over the 1\.0 GiB/,
    maxSeconds: 20, maxRssMB: 400,
  },
  {
    name: 'zip-bomb-lying.pth',
    what: 'data.pkl declaring 1 kB that inflates to 16 MB',
    make: (dir) => {
      const files = { 'archive/data.pkl': [new Uint8Array(16 << 20), { level: 9 }] } as never;
      return write(dir, 'zip-bomb-lying.pth', setDeclaredSize(zipSync(files), 'archive/data.pkl', 1000));
    },
    message: /zip-bomb-lying\.pth: entry 'archive\/data\.pkl' inflates to more than the 1000 bytes it declares/,
    maxSeconds: 20, maxRssMB: 400,
  },
  {
    name: 'long4-256k.pth',
    what: 'a 256 KB LONG4 integer in data.pkl',
    make: (dir) => {
      const n = 256 * 1024;
      const body = new Uint8Array(n).fill(0x5a);
      const pkl = cat([new Uint8Array([0x80, 0x02, 0x8b]), u32(n), body, new Uint8Array([0x2e])]);
      return write(dir, 'long4-256k.pth', torchZip(pkl));
    },
    message: /long4-256k\.pth: a 262144-byte integer, over the 4096 bytes this reader allows/,
    maxSeconds: 20, maxRssMB: 400,
  },
  {
    name: 'laughs-nodes.pth',
    what: 'metadata: a list doubling through shared references 40 times (2^40 leaves)',
    make: (dir) => write(dir, 'laughs-nodes.pth', smallPth(new Map([['train_config', laughs(40, 'ha')]]))),
    message: /laughs-nodes\.pth: metadata has more than 1,000,000 values \(shared references are counted each time they are used\)/,
    maxSeconds: 30, maxRssMB: 600,
  },
  {
    name: 'laughs-chars.pth',
    what: 'metadata: one 1 MB string shared 2^11 times (2 GiB as text)',
    make: (dir) => write(dir, 'laughs-chars.pth', smallPth(new Map([['train_config', laughs(11, 'x'.repeat(1 << 20))]]))),
    message: /laughs-chars\.pth: metadata holds more than 67,108,864 characters/,
    maxSeconds: 30, maxRssMB: 600,
  },
  {
    name: 'cyclic.pth',
    what: 'metadata: a list that contains itself',
    make: (dir) => {
      // EMPTY_LIST, BINPUT 0, BINGET 0, APPEND: l = []; l.append(l)
      const cyc = new Raw(new Uint8Array([0x5d, 0x71, 0x00, 0x68, 0x00, 0x61]));
      return write(dir, 'cyclic.pth', smallPth(new Map([['train_config', cyc]])));
    },
    message: /cyclic\.pth: metadata contains a cycle/,
    maxSeconds: 20, maxRssMB: 400,
  },
  {
    name: 'schedule-1e9.pth',
    what: 'diffusion_config num_timesteps 1e9',
    make: (dir) => write(dir, 'schedule-1e9.pth', smallPth(new Map([['diffusion_config', new Map<string, unknown>([['num_timesteps', 1e9]])]]))),
    message: /schedule-1e9\.pth: unusable noise schedule: T is 1000000000, more steps than the 100000/,
    maxSeconds: 20, maxRssMB: 400,
  },
  {
    name: 'betas-out-of-range.pth',
    what: 'diffusion_config beta_end 1.5',
    make: (dir) => write(dir, 'betas-out-of-range.pth', smallPth(new Map([['diffusion_config', new Map<string, unknown>([['beta_end', 1.5]])]]))),
    message: /betas-out-of-range\.pth: unusable noise schedule: betas must lie in \(0, 1\)/,
    maxSeconds: 20, maxRssMB: 400,
  },
  {
    name: 'betas-decreasing.pth',
    what: 'diffusion_config beta_start 0.02 > beta_end 1e-4',
    make: (dir) => write(dir, 'betas-decreasing.pth', smallPth(new Map([['diffusion_config', new Map<string, unknown>([['beta_start', 0.02], ['beta_end', 1e-4]])]]))),
    message: /betas-decreasing\.pth: unusable noise schedule: betas must not decrease/,
    maxSeconds: 20, maxRssMB: 400,
  },
  {
    name: 'unknown-kinds.pth',
    what: "diffusion_config schedule 'quadratic'",
    make: (dir) => write(dir, 'unknown-kinds.pth', smallPth(new Map([['diffusion_config', new Map<string, unknown>([['schedule', 'quadratic']])]]))),
    message: /unknown-kinds\.pth: unusable noise schedule: unknown kind 'quadratic'/,
    maxSeconds: 20, maxRssMB: 400,
  },
  {
    name: 'prediction-x0.pth',
    what: "prediction 'x0'",
    make: (dir) => write(dir, 'prediction-x0.pth', smallPth(new Map([['prediction', 'x0']]))),
    message: /prediction-x0\.pth: unknown prediction "x0" \(expected 'epsilon' or 'v'\)/,
    maxSeconds: 20, maxRssMB: 400,
  },
  {
    name: 'nan.pth',
    what: 'a NaN among the weights',
    make: (dir) => write(dir, 'nan.pth', smallPth(new Map(), (i) => (i === 5 ? NaN : 0.01))),
    message: /nan\.pth: 1 tensor\(s\) hold NaN or infinite values: time_mlp\.0\.weight \(first at index 5: NaN\)$/,
    maxSeconds: 20, maxRssMB: 400,
  },
  {
    name: 'inf.safetensors',
    what: 'an Infinity among the weights',
    make: (dir) => write(dir, 'inf.safetensors', smallSafetensors((i) => (i === 3 ? Infinity : 0.01))),
    message: /inf\.safetensors: 1 tensor\(s\) hold NaN or infinite values: time_mlp\.0\.weight \(first at index 3: Infinity\)$/,
    maxSeconds: 20, maxRssMB: 400,
  },
  {
    name: 'schedule-T1.safetensors',
    what: 'simple_unet metadata with T = 1',
    make: (dir) => write(dir, 'schedule-T1.safetensors', smallSafetensors(() => 0.01, { simple_unet: JSON.stringify({ schedule: { T: 1 } }) })),
    message: /schedule-T1\.safetensors \(metadata simple_unet\): unusable noise schedule: T must be an integer >= 2, got 1/,
    maxSeconds: 20, maxRssMB: 400,
  },
  {
    name: 'deep-header.safetensors',
    what: 'a header nested 200,000 levels deep',
    make: (dir) => {
      const json = enc.encode(`{"__metadata__":{},"x":${'['.repeat(200000)}${']'.repeat(200000)}}`);
      const b = new Uint8Array(8 + json.length);
      new DataView(b.buffer).setUint32(0, json.length, true);
      b.set(json, 8);
      return write(dir, 'deep-header.safetensors', b);
    },
    message: /deep-header\.safetensors header: JSON nested 200,001 levels deep, over the 64 allowed/,
    maxSeconds: 20, maxRssMB: 400,
  },
  {
    name: 'weights.json: T 1e8',
    what: 'schedule.T 1e8 in weights.json',
    make: (dir) => {
      const d = path.join(dir, 'schedule-1e8');
      projectDir(d, (m) => ({ ...m, schedule: { ...SEED_SCHEDULE, T: 1e8 } }));
      return d;
    },
    message: /schedule-1e8\/weights\.json: unusable noise schedule: T is 100000000/,
    maxSeconds: 20, maxRssMB: 400,
  },
  {
    name: 'weights.json: ../../etc/passwd',
    what: 'a shard path outside the folder',
    make: (dir) => {
      const d = path.join(dir, 'traversal');
      projectDir(d, (m) => {
        (m.weightsManifest as { paths: string[] }[])[0]!.paths[0] = '../../etc/passwd';
        return m;
      });
      return d;
    },
    message: /traversal\/weights\.json: shard path "\.\.\/\.\.\/etc\/passwd" has an empty, "\." or "\.\." segment; shard paths must stay inside the weights folder/,
    maxSeconds: 20, maxRssMB: 400,
  },
  {
    name: 'weights.json: symlinked shard',
    what: 'a shard that is a symbolic link to /etc/passwd',
    make: (dir) => {
      const d = path.join(dir, 'symlink');
      projectDir(d, (m) => m);
      const shard = path.join(d, 'group1-shard1of1.bin');
      fs.rmSync(shard);
      fs.symlinkSync('/etc/passwd', shard);
      return d;
    },
    message: /symlink\/weights\.json: weights shard group1-shard1of1\.bin resolves outside the weights folder/,
    maxSeconds: 20, maxRssMB: 400,
  },
  {
    name: 'weights.json: null',
    what: 'the manifest is `null`',
    make: (dir) => {
      const d = path.join(dir, 'null');
      projectDir(d, () => 'null');
      return d;
    },
    message: /null\/weights\.json is not a valid simple-unet-weights manifest: not a JSON object/,
    maxSeconds: 20, maxRssMB: 400,
  },
  {
    name: 'weights.json: no paths',
    what: 'a group without `paths`',
    make: (dir) => {
      const d = path.join(dir, 'nopaths');
      projectDir(d, (m) => {
        delete (m.weightsManifest as { paths?: string[] }[])[0]!.paths;
        return m;
      });
      return d;
    },
    message: /nopaths\/weights\.json is not a valid simple-unet-weights manifest: weightsManifest\[0\]\.paths is not a list/,
    maxSeconds: 20, maxRssMB: 400,
  },
  {
    name: 'weights.json: string shape',
    what: 'a tensor whose shape is a string',
    make: (dir) => {
      const d = path.join(dir, 'strshape');
      projectDir(d, (m) => {
        (m.weightsManifest as { weights: { shape: unknown }[] }[])[0]!.weights[0]!.shape = '3,3';
        return m;
      });
      return d;
    },
    message: /strshape\/weights\.json is not a valid simple-unet-weights manifest: time_mlp\.0\.weight: shape must be a list of at most 8 non-negative integers/,
    maxSeconds: 20, maxRssMB: 400,
  },
  {
    name: 'weights.json: 200,000 deep',
    what: 'a manifest nested 200,000 levels deep',
    make: (dir) => {
      const d = path.join(dir, 'deep');
      projectDir(d, () => `{"extra":${'['.repeat(200000)}${']'.repeat(200000)}}`);
      return d;
    },
    message: /deep\/weights\.json: JSON nested 200,001 levels deep, over the 64 allowed/,
    maxSeconds: 20, maxRssMB: 400,
  },
  {
    name: 'weights zip: ../ entry',
    what: "a project zip whose shard is named '../evil.bin'",
    make: (dir) => {
      const values = new Map(paramSpecs(SMALL).map((s) => [s.name, new Float32Array(s.shape.reduce((a, b) => a * b, 1))]));
      const { manifest, shards } = encodeWeights(modelTensors(values, SMALL), { modelConfig: SMALL, schedule: SEED_SCHEDULE, prediction: 'epsilon' });
      manifest.weightsManifest[0]!.paths[0] = '../evil.bin';
      return write(dir, 'traversal.zip', zipSync({ 'weights.json': enc.encode(JSON.stringify(manifest)), '../evil.bin': shards[0]! } as never));
    },
    message: /traversal\.zip \(weights\.json\): shard path "\.\.\/evil\.bin" has an empty, "\." or "\.\." segment/,
    maxSeconds: 20, maxRssMB: 400,
  },
];

/** Valid inputs that must still load (the layer refuses only what is wrong). */
export function validSmallPth(dir: string): string {
  return write(dir, 'valid-small.pth', smallPth(new Map<string, unknown>([['diffusion_config', new Map<string, unknown>([['num_timesteps', 1000], ['beta_start', 1e-4], ['beta_end', 0.02]])], ['train_config', new Map([['lr', 2e-4]])], ['step', 10]])));
}

export { deflateSync };
