import type { Command } from '../command.ts';

// Placeholder until the owning issue lands: says so plainly and fails.
export const command: Command = {
  name: 'score',
  summary: 'not implemented yet',
  usage: 'tidewatch score (not implemented yet)',
  async run() {
    process.stderr.write('tidewatch score: not implemented yet\n');
    return 2;
  },
};
