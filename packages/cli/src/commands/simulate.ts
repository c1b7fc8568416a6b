import type { Command } from '../command.ts';

// Placeholder until the owning issue lands: says so plainly and fails.
export const command: Command = {
  name: 'simulate',
  summary: 'not implemented yet',
  usage: 'tidewatch simulate (not implemented yet)',
  async run() {
    process.stderr.write('tidewatch simulate: not implemented yet\n');
    return 2;
  },
};
