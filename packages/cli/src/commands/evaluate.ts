import type { Command } from '../command.ts';

// Placeholder until the owning issue lands: says so plainly and fails.
export const command: Command = {
  name: 'evaluate',
  summary: 'not implemented yet',
  usage: 'tidewatch evaluate (not implemented yet)',
  async run() {
    process.stderr.write('tidewatch evaluate: not implemented yet\n');
    return 2;
  },
};
