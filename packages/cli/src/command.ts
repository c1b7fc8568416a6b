/** A `tidewatch` sub-command. Each lives in its own module under commands/ and is listed in registry.ts. */
export interface Command {
  name: string;
  /** One line for `tidewatch --help`. */
  summary: string;
  /** Full usage text for `tidewatch <name> --help`. */
  usage: string;
  /** Resolves to the process exit code. */
  run(argv: string[]): Promise<number>;
}

/** A user error: printed without a stack trace, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
