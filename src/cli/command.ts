/** The shape every CLI subcommand has; src/cli/main.ts dispatches on `name`. */
export interface Command {
  name: string;
  /** One line for `diffusion --help`. */
  summary: string;
  /** Full text for `diffusion <name> --help`. */
  usage: string;
  /** Runs with the arguments after the subcommand name; resolves to the exit code. */
  run(args: string[]): Promise<number>;
}

/** An error whose message is meant for the user as is (no stack trace). */
export class UserError extends Error {
  override name = 'UserError';
}
