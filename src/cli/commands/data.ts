/**
 * `diffusion data`: download (or take a local copy of) the official CIFAR-10 binary tarball,
 * verify its MD5, extract it safely and validate every batch file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CIFAR_DIR_NAME,
  CLASS_NAMES,
  META_FILE,
  RECORD_BYTES,
  RECORDS_PER_FILE,
  TEST_FILE,
  TRAIN_FILES,
  classCounts,
  parseCifarBatch,
} from '../../core/data/cifar.ts';
import { UserError, type Command } from '../command.ts';
import { CIFAR_MD5, CIFAR_TARBALL_BYTES, CIFAR_URL, download, extractTarGz, verifyMd5, checkMd5 } from '../data-fetch.ts';
import { formatBytes, progress, type ProgressStream } from '../progress.ts';

const USAGE = `Usage: diffusion data [--dir DIR] [--url URL | --from FILE.tar.gz] [--md5 HEX] [--no-verify] [--force]

Downloads the official CIFAR-10 binary tarball (${CIFAR_URL}),
checks its MD5 (${CIFAR_MD5}), extracts it to DIR/${CIFAR_DIR_NAME}/ and
validates every batch file.

Options:
  --dir DIR         where to put the data (default ./data)
  --url URL         download from this mirror instead of the official address
  --from FILE       use a tarball you already have instead of downloading
  --md5 HEX         expect this MD5 instead of the official one (for a mirror's own packaging)
  --no-verify       skip the MD5 check (prints a warning)
  --force           download and extract again even if the data is already there
  -h, --help        show this help

The other commands find the data in --data DIR, $CIFAR10_DIR, ./data/${CIFAR_DIR_NAME}
or ../shared/data/${CIFAR_DIR_NAME}, in that order.`;

export interface DataOptions {
  dir: string;
  url: string;
  from?: string;
  md5: string;
  verify: boolean;
  force: boolean;
  help: boolean;
}

export function parseDataArgs(args: string[]): DataOptions {
  const o: DataOptions = { dir: 'data', url: CIFAR_URL, md5: CIFAR_MD5, verify: true, force: false, help: false };
  for (let i = 0; i < args.length; i++) {
    const raw = args[i]!;
    const eq = raw.startsWith('--') ? raw.indexOf('=') : -1;
    const flag = eq > 0 ? raw.slice(0, eq) : raw;
    const value = (): string => {
      if (eq > 0) return raw.slice(eq + 1);
      const v = args[++i];
      if (v === undefined || v === '') throw new UserError(`${flag} needs a value\n\n${USAGE}`);
      return v;
    };
    switch (flag) {
      case '--dir':
        o.dir = value();
        break;
      case '--url':
        o.url = value();
        break;
      case '--from':
        o.from = value();
        break;
      case '--md5': {
        const v = value().toLowerCase();
        if (!/^[0-9a-f]{32}$/.test(v)) throw new UserError(`--md5 must be 32 hex digits, got ${v}`);
        o.md5 = v;
        break;
      }
      case '--no-verify':
        o.verify = false;
        break;
      case '--force':
        o.force = true;
        break;
      case '-h':
      case '--help':
        o.help = true;
        break;
      default:
        throw new UserError(`Unknown argument ${raw}\n\n${USAGE}`);
    }
  }
  return o;
}

export interface DataIO {
  out: ProgressStream;
  err: ProgressStream;
}

const ALL_FILES = [...TRAIN_FILES, TEST_FILE];

export interface BatchSummary {
  file: string;
  records: number;
  counts: number[];
}

/** Parses every batch file in `dir`; throws a UserError naming any missing or corrupt one. */
export function validateCifarDir(dir: string): BatchSummary[] {
  const missing = ALL_FILES.filter((f) => !fs.existsSync(path.join(dir, f)));
  if (missing.length > 0) {
    throw new UserError(`${dir} is missing ${missing.join(', ')}; the tarball was not the CIFAR-10 binary version.`);
  }
  return ALL_FILES.map((f) => {
    const file = path.join(dir, f);
    let parsed;
    try {
      parsed = parseCifarBatch(new Uint8Array(fs.readFileSync(file)), file);
    } catch (e) {
      throw new UserError((e as Error).message);
    }
    return { file: f, records: parsed.count, counts: classCounts(parsed.labels) };
  });
}

function printSummary(dir: string, rows: BatchSummary[], io: DataIO): void {
  const w = (s: string) => io.out.write(`${s}\n`);
  const names = CLASS_NAMES.map((n) => n.slice(0, 5).padStart(6)).join('');
  w(`CIFAR-10 in ${dir}:`);
  w(`  ${'file'.padEnd(18)}${'records'.padStart(8)}${names}`);
  const totals = new Array<number>(CLASS_NAMES.length).fill(0);
  let total = 0;
  for (const r of rows) {
    w(`  ${r.file.padEnd(18)}${String(r.records).padStart(8)}${r.counts.map((c) => String(c).padStart(6)).join('')}`);
    r.counts.forEach((c, k) => (totals[k]! += c));
    total += r.records;
  }
  w(`  ${'total'.padEnd(18)}${String(total).padStart(8)}${totals.map((c) => String(c).padStart(6)).join('')}`);
  const odd = rows.filter((r) => r.records !== RECORDS_PER_FILE);
  if (odd.length > 0) {
    io.err.write(
      `warning: ${odd.map((r) => `${r.file} has ${r.records} records`).join(', ')} ` +
        `(the official files have ${RECORDS_PER_FILE} each)\n`,
    );
  }
}

/** A tarball left by an earlier run whose extraction failed is reused when its MD5 is right. */
async function reusableTarball(file: string, o: DataOptions, io: DataIO): Promise<boolean> {
  if (o.force || !o.verify || !fs.existsSync(file)) return false;
  io.out.write(`Found ${file} from an earlier run; checking its MD5\n`);
  try {
    await verifyMd5(file, o.md5);
    io.out.write(`MD5 ok (${o.md5}); not downloading again\n`);
    return true;
  } catch {
    io.err.write(`${file} does not match; downloading again\n`);
    fs.rmSync(file, { force: true });
    return false;
  }
}

export async function runData(args: string[], io: DataIO): Promise<number> {
  const o = parseDataArgs(args);
  if (o.help) {
    io.out.write(`${USAGE}\n`);
    return 0;
  }
  const dir = path.resolve(o.dir);
  const target = path.join(dir, CIFAR_DIR_NAME);

  if (!o.force && fs.existsSync(target)) {
    try {
      const rows = validateCifarDir(target);
      io.out.write(`CIFAR-10 is already in ${target} (use --force to download and extract it again).\n`);
      printSummary(target, rows, io);
      return 0;
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      io.err.write(`Existing data in ${target} is incomplete or corrupt (${e.message.split('\n')[0]}); fetching it again.\n`);
    }
  }

  fs.mkdirSync(dir, { recursive: true });
  let tarball: string;
  let downloaded = false;
  if (o.from !== undefined) {
    tarball = path.resolve(o.from);
    if (!fs.existsSync(tarball)) throw new UserError(`--from: no such file ${tarball}`);
    if (o.verify) {
      const size = fs.statSync(tarball).size;
      const bar = progress({ total: size, label: 'md5', unit: 'B', stream: io.err });
      await verifyMd5(tarball, o.md5, (n) => bar.tick(n));
      bar.done();
      io.out.write(`MD5 ok (${o.md5})\n`);
    }
  } else if (await reusableTarball(path.join(dir, 'cifar-10-binary.tar.gz'), o, io)) {
    tarball = path.join(dir, 'cifar-10-binary.tar.gz');
    downloaded = true;
  } else {
    tarball = path.join(dir, 'cifar-10-binary.tar.gz');
    const part = `${tarball}.part`;
    io.out.write(`Downloading ${o.url}\n`);
    let bar = progress({ total: CIFAR_TARBALL_BYTES, label: 'download', unit: 'B', stream: io.err });
    const res = await download(o.url, part, {
      onStart: (len) => {
        if (len !== undefined && len !== CIFAR_TARBALL_BYTES) {
          bar = progress({ total: len, label: 'download', unit: 'B', stream: io.err });
        }
      },
      onBytes: (n) => bar.tick(n),
    });
    bar.done();
    if (o.verify) {
      try {
        checkMd5(res.md5, o.md5, res.url);
      } catch (e) {
        fs.rmSync(part, { force: true });
        throw e;
      }
      io.out.write(`MD5 ok (${o.md5})\n`);
    }
    fs.renameSync(part, tarball);
    downloaded = true;
  }
  if (!o.verify) {
    io.err.write(`warning: --no-verify: the tarball's MD5 was not checked; the data may be corrupt or not CIFAR-10.\n`);
  }

  // Extract into a fresh temporary folder next to the target, then move the result in place.
  const tmp = fs.mkdtempSync(path.join(dir, '.extract-'));
  try {
    const size = fs.statSync(tarball).size;
    const bar = progress({ total: size, label: 'extract', unit: 'B', stream: io.err });
    const files = await extractTarGz(tarball, tmp, { onBytes: (n) => bar.tick(n) });
    bar.done(`${files.length} files`);
    const extracted = path.join(tmp, CIFAR_DIR_NAME);
    if (!fs.existsSync(extracted)) {
      throw new UserError(
        `${tarball} has no ${CIFAR_DIR_NAME}/ folder (it holds ${files.slice(0, 5).join(', ')}` +
          `${files.length > 5 ? ', …' : ''}); is it the CIFAR-10 *binary* version?`,
      );
    }
    const rows = validateCifarDir(extracted);
    if (fs.existsSync(target)) fs.rmSync(target, { recursive: true, force: true });
    fs.renameSync(extracted, target);
    if (!fs.existsSync(path.join(target, META_FILE))) {
      io.err.write(`warning: ${META_FILE} is missing (not needed: the class names are built in).\n`);
    }
    printSummary(target, rows, io);
    io.out.write(`Extracted ${formatBytes(rows.reduce((s, r) => s + r.records * RECORD_BYTES, 0))} of batches to ${target}\n`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  if (downloaded) fs.rmSync(tarball, { force: true });
  return 0;
}

export const dataCommand: Command = {
  name: 'data',
  summary: 'Download, verify and extract the CIFAR-10 binary dataset',
  usage: USAGE,
  run: (args) => runData(args, { out: process.stdout, err: process.stderr }),
};

export default dataCommand;
