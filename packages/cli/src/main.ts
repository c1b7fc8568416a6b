#!/usr/bin/env node
import { UsageError } from './command.ts';
import { COMMANDS } from './registry.ts';

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `Usage: tidewatch <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun 'tidewatch <command> --help' for a command's options.\n`;
}

// `tidewatch decode ... | head` closes stdout early: that is a normal end, not a crash.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help());
    return name ? 0 : 2;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`tidewatch: unknown command '${name}'\n\n${help()}`);
    return 2;
  }
  const { command } = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.usage.trimEnd()}\n`);
    return 0;
  }
  return command.run(rest);
}

/** Errors that say what was wrong with the user's input or setup: their message is the whole story. */
const INPUT_ERRORS: ReadonlySet<string> = new Set(['FileFormatError', 'ConfigError', 'AttackCatalogueError']);
const FILE_ERROR_CODES: ReadonlySet<string> = new Set(['ENOENT', 'EACCES', 'EISDIR', 'ENOTDIR', 'EPERM']);

function isInputError(err: unknown): err is Error {
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  return INPUT_ERRORS.has(err.name) || (typeof code === 'string' && FILE_ERROR_CODES.has(code));
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`tidewatch: ${err.message}\n`);
      process.exitCode = 2;
    } else if (isInputError(err) && !process.env['TIDEWATCH_DEBUG']) {
      // No stack trace for a bad file or setting (TIDEWATCH_DEBUG=1 shows it).
      process.stderr.write(`tidewatch: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`tidewatch: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
