/** Thin wrapper over node:util parseArgs: user-facing errors and typed number options. */
import { parseArgs } from 'node:util';
import { UserError } from './command.ts';

type Spec = Record<string, { type: 'string' | 'boolean'; short?: string; default?: string | boolean }>;

/**
 * `--n -1` would read as two options ("argument is ambiguous"): a value-taking option followed by
 * something shaped like a negative number is joined (`--n=-1`), so the range check can say what is wrong.
 */
function joinNegativeValues(args: string[], spec: Spec): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = args[i + 1];
    const long = a.startsWith('--') && !a.includes('=') ? a.slice(2) : null;
    const short = !long && /^-[A-Za-z]$/.test(a) ? Object.keys(spec).find((k) => spec[k]!.short === a.slice(1)) : undefined;
    const name = long ?? short;
    if (name && Object.hasOwn(spec, name) && spec[name]!.type === 'string' && next !== undefined && /^-(\d|\.\d|Infinity|NaN)/.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

export function parse<S extends Spec>(args: string[], spec: S, usage: string) {
  try {
    return parseArgs({ args: joinNegativeValues(args, spec), options: spec, allowPositionals: true, strict: true });
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
