import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import {
  CLASS_NAMES,
  IMAGE_BYTES,
  RECORD_BYTES,
  TEST_FILE,
  TRAIN_FILES,
  classCounts,
  parseCifarBatch,
  toNHWCFloat,
} from '../src/core/data/cifar.ts';
import { loadCifar, resolveCifarDir } from '../src/cli/data-path.ts';
import { UserError } from '../src/cli/command.ts';
import { TarReader, download, extractTarGz, safeTarPath, verifyMd5 } from '../src/cli/data-fetch.ts';
import { formatBytes, formatRate, progress } from '../src/cli/progress.ts';
import { runData } from '../src/cli/commands/data.ts';

const SHARED = path.resolve(import.meta.dirname, '..', '..', 'shared', 'data', 'cifar-10-batches-bin');
const HAVE_SHARED = fs.existsSync(path.join(SHARED, 'data_batch_1.bin'));
const SKIP_SHARED = HAVE_SHARED ? false : `shared CIFAR-10 data not found at ${SHARED}`;

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'cifar-test-'));
}

/** `n` synthetic records; record i has label labelOf(i) and pixel bytes (i*7 + j) & 255. */
function records(n: number, labelOf: (i: number) => number = (i) => i % 10): Uint8Array {
  const b = new Uint8Array(n * RECORD_BYTES);
  for (let i = 0; i < n; i++) {
    b[i * RECORD_BYTES] = labelOf(i);
    for (let j = 0; j < IMAGE_BYTES; j++) b[i * RECORD_BYTES + 1 + j] = (i * 7 + j) & 255;
  }
  return b;
}

// ------------------------------------------------------------------------------------ tar writer

interface TarMember {
  name: string;
  type?: string; // typeflag, default '0' (or '5' when body is undefined and name ends with '/')
  body?: Uint8Array;
  linkname?: string;
}

function tarHeader(m: TarMember, size: number): Uint8Array {
  const h = new Uint8Array(512);
  const enc = new TextEncoder();
  const put = (s: string, off: number, len: number) => h.set(enc.encode(s).subarray(0, len), off);
  const num = (n: number, off: number, len: number) => put(n.toString(8).padStart(len - 1, '0') + '\0', off, len);
  put(m.name, 0, 100);
  num(0o644, 100, 8);
  num(0, 108, 8);
  num(0, 116, 8);
  num(size, 124, 12);
  num(0, 136, 12);
  put('        ', 148, 8);
  put(m.type ?? (m.name.endsWith('/') ? '5' : '0'), 156, 1);
  if (m.linkname) put(m.linkname, 157, 100);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return h;
}

function buildTar(members: TarMember[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const m of members) {
    const body = m.body ?? new Uint8Array(0);
    parts.push(tarHeader(m, body.length));
    parts.push(body);
    const pad = (512 - (body.length % 512)) % 512;
    if (pad) parts.push(new Uint8Array(pad));
  }
  parts.push(new Uint8Array(1024));
  return Buffer.concat(parts);
}

function writeTarGz(file: string, members: TarMember[]): string {
  fs.writeFileSync(file, zlib.gzipSync(buildTar(members)));
  return crypto.createHash('md5').update(fs.readFileSync(file)).digest('hex');
}

/** A fake CIFAR-10 tarball: 6 small batches (3 records each) + the meta file. */
function fakeCifarMembers(): TarMember[] {
  const ms: TarMember[] = [{ name: 'cifar-10-batches-bin/' }];
  for (const f of [...TRAIN_FILES, TEST_FILE]) {
    ms.push({ name: `cifar-10-batches-bin/${f}`, body: records(3) });
  }
  ms.push({ name: 'cifar-10-batches-bin/batches.meta.txt', body: new TextEncoder().encode(CLASS_NAMES.join('\n')) });
  return ms;
}

function collect(tty = false): { stream: { write(s: string): boolean; isTTY: boolean }; text: () => string } {
  let buf = '';
  return {
    stream: {
      write(s: string) {
        buf += s;
        return true;
      },
      isTTY: tty,
    },
    text: () => buf,
  };
}

// ------------------------------------------------------------------------------------- parsing

describe('parseCifarBatch', () => {
  test('real data_batch_1.bin: 10000 records with the documented class counts', { skip: SKIP_SHARED }, () => {
    const bytes = new Uint8Array(fs.readFileSync(path.join(SHARED, 'data_batch_1.bin')));
    const b = parseCifarBatch(bytes, 'data_batch_1.bin');
    assert.equal(b.count, 10000);
    assert.equal(b.images.length, 10000 * IMAGE_BYTES);
    assert.deepEqual(classCounts(b.labels), [1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981]);
    // image 0 is the record's bytes after the label
    assert.deepEqual(b.images.subarray(0, IMAGE_BYTES), bytes.subarray(1, RECORD_BYTES));
    assert.deepEqual(b.images.subarray(9999 * IMAGE_BYTES), bytes.subarray(9999 * RECORD_BYTES + 1));
  });

  test('synthetic records round-trip', () => {
    const b = parseCifarBatch(records(4, (i) => 9 - i), 'x.bin');
    assert.equal(b.count, 4);
    assert.deepEqual([...b.labels], [9, 8, 7, 6]);
    assert.equal(b.images[IMAGE_BYTES + 5], (7 + 5) & 255);
  });

  test('truncated file: error names the file, size and the incomplete record offset', () => {
    const bytes = records(3).subarray(0, 2 * RECORD_BYTES + 100);
    assert.throws(
      () => parseCifarBatch(bytes, 'data_batch_3.bin'),
      (e: Error) =>
        /data_batch_3\.bin/.test(e.message) &&
        e.message.includes(`${2 * RECORD_BYTES + 100}`) &&
        e.message.includes(`byte offset ${2 * RECORD_BYTES}`),
    );
    assert.throws(() => parseCifarBatch(new Uint8Array(0), 'empty.bin'), /empty\.bin.*empty/);
  });

  test('label byte 10: error names the file, record index and offset', () => {
    const bytes = records(3);
    bytes[RECORD_BYTES * 2] = 10;
    assert.throws(
      () => parseCifarBatch(bytes, 'test_batch.bin'),
      (e: Error) =>
        e.message.includes('test_batch.bin') &&
        e.message.includes('record 2') &&
        e.message.includes(`byte offset ${2 * RECORD_BYTES}`) &&
        e.message.includes('label 10'),
    );
  });
});

describe('toNHWCFloat', () => {
  // One image: R(y,x) = x, G(y,x) = y, B = 255 - x.
  const img = new Uint8Array(2 * IMAGE_BYTES);
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      const p = y * 32 + x;
      img[IMAGE_BYTES + p] = x * 8;
      img[IMAGE_BYTES + 1024 + p] = y * 8;
      img[IMAGE_BYTES + 2048 + p] = 255 - x;
    }
  }
  const f = (v: number) => Math.fround(v / 127.5 - 1);

  test('gathers CHW bytes into NHWC float32 in [-1, 1]', () => {
    const out = toNHWCFloat(img, [1, 0]);
    assert.equal(out.length, 2 * 32 * 32 * 3);
    for (const [y, x] of [
      [0, 0],
      [3, 17],
      [31, 31],
    ] as const) {
      const o = (y * 32 + x) * 3;
      assert.equal(out[o], f(x * 8));
      assert.equal(out[o + 1], f(y * 8));
      assert.equal(out[o + 2], f(255 - x));
    }
    // second gathered image is image 0 (all zeros) → -1
    assert.ok(out.subarray(IMAGE_BYTES).every((v) => v === -1));
    const all = toNHWCFloat(img, [1]);
    assert.equal(Math.min(...all), -1);
    assert.equal(Math.max(...all), 1);
  });

  test('flip mirrors horizontally only where asked', () => {
    const out = toNHWCFloat(img, [1, 1], [true, false]);
    for (const [y, x] of [
      [0, 0],
      [5, 9],
    ] as const) {
      const o = (y * 32 + x) * 3;
      assert.equal(out[o], f((31 - x) * 8), 'flipped R');
      assert.equal(out[o + 1], f(y * 8), 'flipped G (rows unchanged)');
      assert.equal(out[o + 2], f(255 - (31 - x)), 'flipped B');
      assert.equal(out[IMAGE_BYTES + o], f(x * 8), 'unflipped');
    }
    assert.throws(() => toNHWCFloat(img, [0], [true, false]), /flip/);
    assert.throws(() => toNHWCFloat(img, [2]), /out of range/);
  });
});

// ---------------------------------------------------------------------------------- data paths

describe('resolveCifarDir / loadCifar', () => {
  function withCwdEnv<T>(cwd: string, envValue: string | undefined, fn: () => T): T {
    const oldCwd = process.cwd();
    const oldEnv = process.env.CIFAR10_DIR;
    process.chdir(cwd);
    if (envValue === undefined) delete process.env.CIFAR10_DIR;
    else process.env.CIFAR10_DIR = envValue;
    try {
      return fn();
    } finally {
      process.chdir(oldCwd);
      if (oldEnv === undefined) delete process.env.CIFAR10_DIR;
      else process.env.CIFAR10_DIR = oldEnv;
    }
  }
  function makeData(parent: string): string {
    const d = path.join(parent, 'cifar-10-batches-bin');
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, 'data_batch_1.bin'), records(2));
    return d;
  }

  test('lookup order: explicit, $CIFAR10_DIR, ./data, ../shared/data', () => {
    const root = tmpDir();
    try {
      const cwd = path.join(root, 'repo');
      fs.mkdirSync(cwd);
      const shared = makeData(path.join(root, 'shared', 'data'));
      const envParent = path.join(root, 'elsewhere');
      const envDir = makeData(envParent);
      const explicitDir = makeData(path.join(root, 'explicit'));
      const real = (p: string) => fs.realpathSync(p);

      // only ../shared/data
      assert.equal(real(withCwdEnv(cwd, undefined, () => resolveCifarDir())), real(shared));
      // ./data beats ../shared/data
      const local = makeData(path.join(cwd, 'data'));
      assert.equal(real(withCwdEnv(cwd, undefined, () => resolveCifarDir())), real(local));
      // env var (a parent folder) beats ./data; the folder itself works too
      assert.equal(real(withCwdEnv(cwd, envParent, () => resolveCifarDir())), real(envDir));
      assert.equal(real(withCwdEnv(cwd, envDir, () => resolveCifarDir())), real(envDir));
      // explicit beats env
      assert.equal(real(withCwdEnv(cwd, envParent, () => resolveCifarDir(explicitDir))), real(explicitDir));
      assert.equal(real(withCwdEnv(cwd, envParent, () => resolveCifarDir('../explicit'))), real(explicitDir));
      // an explicit path without data is an error, not a silent fallback
      assert.throws(
        () => withCwdEnv(cwd, envParent, () => resolveCifarDir(path.join(root, 'nope'))),
        (e: Error) => e instanceof UserError && e.message.includes(path.join(root, 'nope')),
      );
      // nothing anywhere: lists every place and suggests `diffusion data`
      fs.rmSync(path.join(cwd, 'data'), { recursive: true });
      fs.rmSync(path.join(root, 'shared'), { recursive: true });
      const bogusEnv = path.join(root, 'missing-env');
      assert.throws(
        () => withCwdEnv(cwd, bogusEnv, () => resolveCifarDir()),
        (e: Error) =>
          e instanceof UserError &&
          e.message.includes(bogusEnv) &&
          e.message.includes(path.join('data', 'cifar-10-batches-bin')) &&
          e.message.includes(path.join('shared', 'data', 'cifar-10-batches-bin')) &&
          e.message.includes('diffusion data'),
      );
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  test('loadCifar names missing files', () => {
    const root = tmpDir();
    try {
      fs.writeFileSync(path.join(root, 'data_batch_1.bin'), records(2));
      assert.throws(
        () => loadCifar(root, 'train'),
        (e: Error) => e instanceof UserError && /data_batch_2\.bin/.test(e.message) && /data_batch_5\.bin/.test(e.message),
      );
      assert.throws(() => loadCifar(root, 'test'), /test_batch\.bin/);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  test('loadCifar refuses short batch files, concatenates batches in order and honours limit', () => {
    const root = tmpDir();
    try {
      TRAIN_FILES.forEach((f, k) => fs.writeFileSync(path.join(root, f), records(3, () => k)));
      assert.throws(() => loadCifar(root, 'train'), (e: Error) => e instanceof UserError && /data_batch_1\.bin is 9,219 bytes \(3 records\); an official CIFAR-10 batch holds 10,000 records/.test(e.message));
      const all = loadCifar(root, 'train', { anySize: true });
      assert.equal(all.count, 15);
      assert.deepEqual([...all.labels], [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]);
      const some = loadCifar(root, 'train', { limit: 7, anySize: true });
      assert.equal(some.count, 7);
      assert.equal(some.images.length, 7 * IMAGE_BYTES);
      assert.deepEqual([...some.labels], [0, 0, 0, 1, 1, 1, 2]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  test('loadCifar on the shared data with a limit', { skip: SKIP_SHARED }, () => {
    const b = loadCifar(SHARED, 'train', { limit: 10005 });
    assert.equal(b.count, 10005);
    const first = new Uint8Array(fs.readFileSync(path.join(SHARED, 'data_batch_2.bin')).subarray(0, 5 * RECORD_BYTES));
    const p2 = parseCifarBatch(first, 'data_batch_2.bin');
    assert.deepEqual(b.labels.subarray(10000), p2.labels);
    assert.deepEqual(b.images.subarray(10000 * IMAGE_BYTES), p2.images);
  });
});

// --------------------------------------------------------------------------------- tar and MD5

describe('tar extraction and MD5', () => {
  test('safeTarPath', () => {
    assert.equal(safeTarPath('./a/b/'), 'a/b');
    assert.throws(() => safeTarPath('../evil'), /\.\./);
    assert.throws(() => safeTarPath('a/../../evil'), /\.\./);
    assert.throws(() => safeTarPath('/etc/passwd'), /absolute/);
    assert.throws(() => safeTarPath('C:/x'), /absolute/);
    assert.throws(() => safeTarPath('a\\..\\b'), /backslash/);
  });

  test('extracts files and folders from a .tar.gz, byte for byte', async () => {
    const root = tmpDir();
    try {
      const big = new Uint8Array(70_000).map((_, i) => (i * 31) & 255);
      const tgz = path.join(root, 'x.tar.gz');
      const md5 = writeTarGz(tgz, [
        { name: 'top/' },
        { name: 'top/a.txt', body: new TextEncoder().encode('hello') },
        { name: 'top/sub/big.bin', body: big },
        { name: 'top/empty', body: new Uint8Array(0) },
      ]);
      const out = path.join(root, 'out');
      const files = await extractTarGz(tgz, out);
      assert.deepEqual(files, ['top/a.txt', 'top/sub/big.bin', 'top/empty']);
      assert.equal(fs.readFileSync(path.join(out, 'top', 'a.txt'), 'utf8'), 'hello');
      assert.deepEqual(new Uint8Array(fs.readFileSync(path.join(out, 'top', 'sub', 'big.bin'))), big);
      assert.equal(fs.statSync(path.join(out, 'top', 'empty')).size, 0);
      assert.equal(await verifyMd5(tgz, md5.toUpperCase()), md5);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  test('TarReader handles input split at arbitrary points', () => {
    const tar = buildTar([
      { name: 'd/' },
      { name: 'd/x', body: new Uint8Array(1000).fill(7) },
      { name: 'd/y', body: new Uint8Array(3).fill(9) },
    ]);
    const got: Record<string, number[]> = {};
    let cur = '';
    const r = new TarReader({
      entry: (e) => {
        if (e.type === 'file') got[(cur = e.path)] = [];
      },
      data: (c) => got[cur]!.push(...c),
      endEntry: () => {},
    });
    for (let i = 0; i < tar.length; i += 37) r.push(tar.subarray(i, i + 37));
    r.finish();
    assert.equal(got['d/x']!.length, 1000);
    assert.deepEqual(got['d/y'], [9, 9, 9]);
    const r2 = new TarReader({ entry: () => {}, data: () => {}, endEntry: () => {} });
    r2.push(tar.subarray(0, 1200));
    assert.throws(() => r2.finish(), /truncated/);
  });

  test('refuses ../evil, absolute paths and links, writing nothing outside', async () => {
    const root = tmpDir();
    try {
      const cases: [TarMember[], RegExp][] = [
        [[{ name: 'ok.txt', body: new Uint8Array([1]) }, { name: '../evil', body: new Uint8Array([1]) }], /\.\./],
        [[{ name: '/tmp/evil-abs', body: new Uint8Array([1]) }], /absolute/],
        [[{ name: 'link', type: '2', linkname: '/etc/passwd' }], /symbolic link/],
        [[{ name: 'hard', type: '1', linkname: 'ok.txt' }], /hard link/],
      ];
      for (const [i, [members, re]] of cases.entries()) {
        const tgz = path.join(root, `bad${i}.tar.gz`);
        writeTarGz(tgz, members);
        const out = path.join(root, `out${i}`);
        await assert.rejects(extractTarGz(tgz, out), (e: Error) => e instanceof UserError && re.test(e.message));
      }
      assert.equal(fs.existsSync(path.join(root, 'evil')), false);
      assert.equal(fs.existsSync('/tmp/evil-abs'), false);
      assert.equal(fs.existsSync(path.join(root, 'out2', 'link')), false);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  test('corrupt inputs: bad gzip, bad header checksum', async () => {
    const root = tmpDir();
    try {
      const notGz = path.join(root, 'a.tar.gz');
      fs.writeFileSync(notGz, 'this is not gzip');
      await assert.rejects(extractTarGz(notGz, path.join(root, 'o1')), /gzip/);
      const tar = buildTar([{ name: 'f', body: new Uint8Array(5) }]);
      tar[10] = 0x41; // corrupt the header after the checksum was computed
      const badSum = path.join(root, 'b.tar.gz');
      fs.writeFileSync(badSum, zlib.gzipSync(tar));
      await assert.rejects(extractTarGz(badSum, path.join(root, 'o2')), /checksum/);
      const trunc = path.join(root, 'c.tar.gz');
      fs.writeFileSync(trunc, zlib.gzipSync(buildTar([{ name: 'f', body: new Uint8Array(5000) }])).subarray(0, 60));
      await assert.rejects(extractTarGz(trunc, path.join(root, 'o3')), UserError);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  test('MD5 mismatch names both digests', async () => {
    const root = tmpDir();
    try {
      const f = path.join(root, 'x.tar.gz');
      fs.writeFileSync(f, 'abc');
      await assert.rejects(
        verifyMd5(f, 'c32a1d4ab5d03f1284b67883e8d87530'),
        (e: Error) =>
          e instanceof UserError &&
          e.message.includes('c32a1d4ab5d03f1284b67883e8d87530') &&
          e.message.includes('900150983cd24fb0d6963f7d28e17f72') &&
          e.message.includes(f),
      );
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

// ------------------------------------------------------------------------------ the command

describe('diffusion data', () => {
  test('--from with --md5 extracts, validates and summarises; a second run is a no-op', async () => {
    const root = tmpDir();
    try {
      const tgz = path.join(root, 'cifar.tar.gz');
      const md5 = writeTarGz(tgz, fakeCifarMembers());
      const dir = path.join(root, 'data');
      const out = collect();
      const err = collect();
      assert.equal(await runData(['--dir', dir, '--from', tgz, `--md5=${md5}`], { out: out.stream, err: err.stream }), 0);
      const target = path.join(dir, 'cifar-10-batches-bin');
      for (const f of [...TRAIN_FILES, TEST_FILE, 'batches.meta.txt']) assert.ok(fs.existsSync(path.join(target, f)), f);
      assert.match(out.text(), /MD5 ok/);
      assert.match(out.text(), /total\s+18\s+6\s+6\s+6\s+0\s+0\s+0\s+0\s+0\s+0\s+0\n/);
      assert.match(err.text(), /has 3 records/);
      assert.deepEqual(fs.readdirSync(dir), ['cifar-10-batches-bin'], 'no temp folders left');
      const out2 = collect();
      assert.equal(await runData(['--dir', dir, '--from', tgz], { out: out2.stream, err: collect().stream }), 0);
      assert.match(out2.text(), /already/);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  test('official MD5 mismatch fails; --no-verify warns and proceeds', async () => {
    const root = tmpDir();
    try {
      const tgz = path.join(root, 'cifar.tar.gz');
      writeTarGz(tgz, fakeCifarMembers());
      const dir = path.join(root, 'data');
      const io = { out: collect().stream, err: collect().stream };
      await assert.rejects(runData(['--dir', dir, '--from', tgz], io), /MD5 mismatch.*c32a1d4ab5d03f1284b67883e8d87530/s);
      assert.equal(fs.existsSync(path.join(dir, 'cifar-10-batches-bin')), false);
      const err = collect();
      assert.equal(await runData(['--dir', dir, '--from', tgz, '--no-verify'], { out: collect().stream, err: err.stream }), 0);
      assert.match(err.text(), /warning: --no-verify/);
      // a tarball without the batches is rejected with a clear message
      const other = path.join(root, 'other.tar.gz');
      writeTarGz(other, [{ name: 'cifar-10-batches-bin/data_batch_1.bin', body: records(1) }]);
      await assert.rejects(
        runData(['--dir', path.join(root, 'd2'), '--from', other, '--no-verify'], { out: collect().stream, err: collect().stream }),
        /missing data_batch_2\.bin/,
      );
      await assert.rejects(runData(['--bogus'], io), /Unknown argument --bogus/);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  test('downloads over HTTP following a redirect, verifying the MD5', async () => {
    const root = tmpDir();
    const tgzBytes = zlib.gzipSync(buildTar(fakeCifarMembers()));
    const md5 = crypto.createHash('md5').update(tgzBytes).digest('hex');
    const server = http.createServer((req, res) => {
      if (req.url === '/old') {
        res.writeHead(302, { location: '/files/cifar.tar.gz' });
        res.end();
      } else if (req.url === '/files/cifar.tar.gz') {
        res.writeHead(200, { 'content-length': tgzBytes.length });
        res.end(tgzBytes);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const part = path.join(root, 'dl.part');
      const res = await download(`http://127.0.0.1:${port}/old`, part);
      assert.equal(res.md5, md5);
      assert.equal(res.bytes, tgzBytes.length);
      assert.match(res.url, /\/files\/cifar\.tar\.gz$/);
      await assert.rejects(
        download(`http://127.0.0.1:${port}/missing`, path.join(root, 'x')),
        (e: Error) => e instanceof UserError && /HTTP 404/.test(e.message) && /--from/.test(e.message),
      );
      const dir = path.join(root, 'data');
      const out = collect();
      const code = await runData(['--dir', dir, '--url', `http://127.0.0.1:${port}/old`, '--md5', md5], {
        out: out.stream,
        err: collect().stream,
      });
      assert.equal(code, 0);
      assert.deepEqual(fs.readdirSync(dir), ['cifar-10-batches-bin'], 'tarball removed after extraction');
    } finally {
      server.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

// ------------------------------------------------------------------------------------ progress

describe('progress', () => {
  test('formatting helpers', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.50 KiB');
    assert.equal(formatBytes(170_052_171), '162 MiB');
    assert.equal(formatRate(2.5 * 1024 * 1024, 'B'), '2.50 MiB/s');
    assert.equal(formatRate(1234, 'img'), '1,234 img/s');
    assert.equal(formatRate(0.25, 'step'), '4.0 s/step');
  });

  test('non-TTY: a line every ~5%, then a final line', () => {
    let t = 0;
    const c = collect(false);
    const bar = progress({ total: 1000, label: 'train', unit: 'img', stream: c.stream, now: () => t });
    for (let i = 0; i < 1000; i++) {
      t += 10;
      bar.tick(1, `loss 0.${i}`);
    }
    bar.done();
    const lines = c.text().trimEnd().split('\n');
    assert.equal(lines.length, 20, c.text()); // 5%, 10%, …, 95%, then the final line
    assert.ok(!c.text().includes('\r'));
    assert.match(lines[9]!, /^train\s+50%\s+500\/1,000 img\s+100 img\/s\s+elapsed 0:05, ETA 0:05\s+loss 0\.499$/);
    assert.match(lines[19]!, /100%\s+1,000\/1,000 img/);
    assert.doesNotMatch(lines[19]!, /ETA/);
  });

  test('non-TTY with unknown total: a line every 10 s; bytes human-readable', () => {
    let t = 0;
    const c = collect(false);
    const bar = progress({ label: 'download', unit: 'B', stream: c.stream, now: () => t });
    for (let i = 0; i < 25; i++) {
      t += 1000;
      bar.tick(1024 * 1024);
    }
    bar.done();
    const lines = c.text().trimEnd().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /^download\s+10\.0 MiB\s+1\.00 MiB\/s\s+elapsed 0:10$/);
    assert.match(lines[2]!, /25\.0 MiB/);
  });

  test('TTY: redraws in place with a bar', () => {
    let t = 0;
    const c = collect(true);
    const bar = progress({ total: 10, unit: 'step', stream: c.stream, now: () => t });
    for (let i = 0; i < 10; i++) {
      t += 200;
      bar.tick();
    }
    bar.done();
    assert.ok(c.text().startsWith('\r'));
    assert.ok(c.text().endsWith('\n'));
    assert.match(c.text(), /\[#{20}\]  100%/);
  });
});
