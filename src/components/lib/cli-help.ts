/**
 * Build-time (Node only): the CLI's real `--help` texts, by running `node bin/diffusion.mjs
 * [<cmd>] --help` once per command (in parallel, memoised per build), so the CLI docs quote
 * exactly what the installed CLI prints.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from './weights-info.ts';

const run = promisify(execFile);
export const CLI_COMMANDS = ['', 'train', 'sample', 'import', 'export', 'data', 'info'] as const;
let cache: Promise<Map<string, string>> | null = null;

async function helpOf(cmd: string): Promise<string> {
  const root = projectRoot();
  const args = [path.join(root, 'bin', 'diffusion.mjs'), ...(cmd ? [cmd] : []), '--help'];
  const { stdout } = await run(process.execPath, args, { cwd: root, timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });
  return stdout.replace(/\s+$/, '');
}

export function cliHelp(cmd: string): Promise<string> {
  cache ??= Promise.all(CLI_COMMANDS.map(async (c) => [c, await helpOf(c)] as const)).then((e) => new Map(e));
  return cache.then((m) => {
    const text = m.get(cmd);
    if (text === undefined) throw new Error(`CliHelp: unknown command '${cmd}'`);
    return text;
  });
}
