/** `diffusion <command>`: one entry, subcommands with their own --help. */
import { UserError, type Command } from './command.ts';
import dataCommand from './commands/data.ts';
import { infoCommand } from './commands/info.ts';
import { sampleCommand } from './commands/sample.ts';
import { importCommand, exportCommand } from './commands/convert.ts';
import { trainCommand } from './commands/train.ts';
import { benchCommand } from './commands/bench.ts';
import { classifierTrainCommand } from './commands/classifier-train.ts';
import { evalCommand } from './commands/eval.ts';

const COMMANDS: Command[] = [trainCommand, sampleCommand, importCommand, exportCommand, dataCommand, infoCommand, evalCommand, classifierTrainCommand, benchCommand];

function help(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'Usage: diffusion <command> [options]   (diffusion <command> --help for details)',
    '',
    'SimpleUNet diffusion on CIFAR-10, in TensorFlow.js (the same code the web page runs).',
    '',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name ? 0 : 1;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    console.error(`Unknown command '${name}'.\n\n${help()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(cmd.usage);
    return 0;
  }
  return cmd.run(rest);
}

// `diffusion info | head` closes the pipe early: that is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

// --debug (anywhere) or DIFFUSION_DEBUG=1 prints stack traces; otherwise every failure is one
// `error:` message (a file's problem names the file).
const argv = process.argv.slice(2);
const debug = argv.includes('--debug') || process.env.DIFFUSION_DEBUG === '1';
main(argv.filter((a) => a !== '--debug')).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => {
    if (debug) console.error(e);
    else if (e instanceof UserError) console.error(`error: ${e.message}`);
    else if (e instanceof RangeError && /call stack|Invalid (string|array) length|allocation failed/i.test(e.message)) {
      console.error(`error: ${e.message}: the input is too large or too deeply nested (run with --debug for the stack trace)`);
    } else {
      console.error(`error: ${e instanceof Error ? e.message : String(e)} (an unexpected ${e instanceof Error ? e.name : 'failure'}; run with --debug for the stack trace)`);
    }
    process.exitCode = 1;
  },
);
