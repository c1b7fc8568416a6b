import type { Command } from '../command.ts';

// Placeholder until the owning issue lands: says so plainly and fails.
export const command: Command = {
  name: 'decode',
  summary: 'not implemented yet',
  usage: 'tidewatch decode (not implemented yet)',
  async run() {
    process.stderr.write('tidewatch decode: not implemented yet\n');
    return 2;
  },
};
