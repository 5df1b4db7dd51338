/**
 * Files the CLI writes, written so that a crash or a kill never costs a run:
 *
 * - `ensureDir` / `checkWritableDir`: create a folder one level at a time (Node's recursive mkdir
 *   loops forever under /proc) and prove it writable before any work starts.
 * - `writeDirAtomic`: a weights folder replaced as a unit. The new folder is written beside the
 *   old one (`DIR.tmp`, every file fsynced, the manifest last and renamed into place inside it,
 *   the folder fsynced), then `DIR` → `DIR.old`, `DIR.tmp` → `DIR`, the parent fsynced, and
 *   `DIR.old` removed. At every instant one of DIR, DIR.tmp (once its manifest exists) and DIR.old
 *   is complete; `recoverDir` (run before every write and every read) puts the newest complete one
 *   back at DIR and clears the rest. A complete DIR is never deleted before its successor is whole.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from './command.ts';

/** Called before each filesystem step with its name; tests throw from it to simulate a kill there. */
export type StepHook = (step: string) => void;

const exists = (p: string): boolean => fs.existsSync(p);

function fsyncPath(p: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(p, 'r');
    fs.fsyncSync(fd);
  } catch (e) {
    // Some platforms cannot fsync a folder (Windows: EPERM/EISDIR); the data files were fsynced.
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EBADF') throw e;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function writeFileSynced(file: string, data: Uint8Array | string): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Creates `dir` and its missing parents one level at a time; errors say which level and why. */
export function ensureDir(dir: string): void {
  const abs = path.resolve(dir);
  const missing: string[] = [];
  let p = abs;
  while (!exists(p)) {
    missing.push(p);
    const up = path.dirname(p);
    if (up === p) break;
    p = up;
  }
  if (exists(p) && !fs.statSync(p).isDirectory()) throw new UserError(`cannot create ${dir}: ${p} is a file, not a folder`);
  for (const m of missing.reverse()) {
    try {
      fs.mkdirSync(m);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && fs.statSync(m).isDirectory()) continue;
      throw new UserError(`cannot create ${m} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
}

/** `ensureDir`, then a probe file written and removed: an unusable --out fails before any work. */
export function checkWritableDir(dir: string, what = dir): void {
  try {
    ensureDir(dir);
  } catch (e) {
    throw new UserError(what === dir ? (e as Error).message : `${what}: ${(e as Error).message}`);
  }
  const probe = path.join(path.resolve(dir), `.write-test-${process.pid}`);
  try {
    writeFileSynced(probe, 'ok');
    fs.rmSync(probe, { force: true });
  } catch (e) {
    throw new UserError(`cannot write to ${what}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** For an output file: its folder exists (or is created) and is writable, and the path is not a folder. */
export function checkWritableFile(file: string, flag: string): void {
  const abs = path.resolve(file);
  if (exists(abs) && fs.statSync(abs).isDirectory()) throw new UserError(`${flag} ${file} is a folder, not a file`);
  checkWritableDir(path.dirname(abs), `${flag} ${file}`);
}

export const tmpOf = (dir: string): string => `${path.resolve(dir)}.tmp`;
export const oldOf = (dir: string): string => `${path.resolve(dir)}.old`;

/**
 * Finishes or undoes an interrupted `writeDirAtomic`: if DIR is complete, leftovers go; if not,
 * the newest complete copy (DIR.tmp, else DIR.old) becomes DIR. `marker` is the file written last.
 */
export function recoverDir(dir: string, marker: string, hook: StepHook = () => {}): void {
  const abs = path.resolve(dir);
  const tmp = tmpOf(abs);
  const old = oldOf(abs);
  const complete = (d: string) => exists(path.join(d, marker));
  if (!exists(abs)) {
    if (complete(tmp)) {
      hook('recover: rename tmp');
      fs.renameSync(tmp, abs);
    } else if (complete(old)) {
      hook('recover: rename old');
      fs.renameSync(old, abs);
    } else return;
    fsyncPath(path.dirname(abs));
  }
  if (complete(abs)) {
    hook('recover: rm leftovers');
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.rmSync(old, { recursive: true, force: true });
  }
}

/**
 * Replaces the folder `dir` with `files` (name → contents; the `marker` file is written last, so
 * its presence means the folder is complete). See the file comment for the order of steps.
 */
export function writeDirAtomic(dir: string, files: ReadonlyArray<readonly [string, Uint8Array | string]>, marker: string, hook: StepHook = () => {}): void {
  const abs = path.resolve(dir);
  const tmp = tmpOf(abs);
  const old = oldOf(abs);
  ensureDir(path.dirname(abs));
  recoverDir(abs, marker, hook);
  hook('rm tmp');
  fs.rmSync(tmp, { recursive: true, force: true });
  hook('mkdir tmp');
  fs.mkdirSync(tmp);
  const last = files.filter(([n]) => n === marker);
  if (last.length !== 1) throw new Error(`writeDirAtomic: exactly one '${marker}' expected`);
  for (const [name, data] of files) {
    if (name === marker) continue;
    hook(`write ${name}`);
    writeFileSynced(path.join(tmp, name), data);
  }
  hook(`write ${marker}.part`);
  writeFileSynced(path.join(tmp, `${marker}.part`), last[0]![1]);
  hook(`rename ${marker}`);
  fs.renameSync(path.join(tmp, `${marker}.part`), path.join(tmp, marker));
  hook('fsync tmp');
  fsyncPath(tmp);
  if (exists(abs)) {
    hook('rename dir to old');
    fs.rmSync(old, { recursive: true, force: true });
    fs.renameSync(abs, old);
  }
  hook('rename tmp to dir');
  fs.renameSync(tmp, abs);
  hook('fsync parent');
  fsyncPath(path.dirname(abs));
  hook('rm old');
  fs.rmSync(old, { recursive: true, force: true });
}
