/**
 * Build-time (Node only): the CLI's real `--help` texts, captured by running
 * `node bin/diffusion.mjs [<cmd>] --help`, so the CLI docs quote exactly what the CLI prints.
 * Each run costs a couple of seconds (tsx compiles the CLI), so the texts are cached in
 * node_modules/.cache/ under a hash of the CLI's source files; any change to them re-captures.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from './weights-info.ts';

const run = promisify(execFile);
export const CLI_COMMANDS = ['', 'train', 'sample', 'import', 'export', 'data', 'info'] as const;
let memo: Promise<Record<string, string>> | null = null;

function sourceHash(root: string): string {
  const h = createHash('sha256');
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|mjs|js)$/.test(e.name)) h.update(p).update(fs.readFileSync(p));
    }
  };
  walk(path.join(root, 'src', 'cli'));
  h.update(fs.readFileSync(path.join(root, 'bin', 'diffusion.mjs')));
  return h.digest('hex').slice(0, 20);
}

async function capture(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  // Two at a time: enough to overlap start-up, gentle on a small machine.
  const queue = [...CLI_COMMANDS];
  const worker = async () => {
    for (let cmd = queue.shift(); cmd !== undefined; cmd = queue.shift()) {
      const args = [path.join(root, 'bin', 'diffusion.mjs'), ...(cmd ? [cmd] : []), '--help'];
      const { stdout } = await run(process.execPath, args, { cwd: root, timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } });
      out[cmd] = stdout.replace(/\s+$/, '');
    }
  };
  await Promise.all([worker(), worker()]);
  return out;
}

async function load(): Promise<Record<string, string>> {
  const root = projectRoot();
  const key = sourceHash(root);
  const cacheFile = path.join(root, 'node_modules', '.cache', 'diffusion-cli-help.json');
  try {
    const cached = JSON.parse(fs.readFileSync(cacheFile, 'utf8')) as { key: string; help: Record<string, string> };
    if (cached.key === key && CLI_COMMANDS.every((c) => typeof cached.help[c] === 'string')) return cached.help;
  } catch {
    /* no cache yet */
  }
  const help = await capture(root);
  try {
    fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
    fs.writeFileSync(cacheFile, JSON.stringify({ key, help }));
  } catch {
    /* read-only node_modules: fine, just slower next time */
  }
  return help;
}

export async function cliHelp(cmd: string): Promise<string> {
  memo ??= load();
  const text = (await memo)[cmd];
  if (text === undefined) throw new Error(`CliHelp: unknown command '${cmd}' (known: ${CLI_COMMANDS.join(', ')})`);
  return text;
}
