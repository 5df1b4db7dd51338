/** Thin wrapper over node:util parseArgs: user-facing errors and typed number options. */
import { parseArgs } from 'node:util';
import { UserError } from './command.ts';

type Spec = Record<string, { type: 'string' | 'boolean'; short?: string; default?: string | boolean }>;

export function parse<S extends Spec>(args: string[], spec: S, usage: string) {
  try {
    return parseArgs({ args, options: spec, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UserError(`${(e as Error).message}\n\n${usage}`);
  }
}

export function num(v: string | boolean | undefined, name: string, opts: { int?: boolean; min?: number; max?: number } = {}): number {
  const n = Number(v);
  if (v === undefined || typeof v === 'boolean' || v === '' || !Number.isFinite(n)) throw new UserError(`--${name} needs a number, got '${String(v)}'`);
  if (opts.int && !Number.isInteger(n)) throw new UserError(`--${name} must be a whole number, got ${n}`);
  if (opts.min !== undefined && n < opts.min) throw new UserError(`--${name} must be at least ${opts.min}, got ${n}`);
  if (opts.max !== undefined && n > opts.max) throw new UserError(`--${name} must be at most ${opts.max}, got ${n}`);
  return n;
}
