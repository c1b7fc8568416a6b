import type { Command } from '../command.ts';

// Placeholder until the owning issue lands: says so plainly and fails.
export const command: Command = {
  name: 'run',
  summary: 'not implemented yet',
  usage: 'tidewatch run (not implemented yet)',
  async run() {
    process.stderr.write('tidewatch run: not implemented yet\n');
    return 2;
  },
};
