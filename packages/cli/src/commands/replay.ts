import type { Command } from '../command.ts';

// Placeholder until the owning issue lands: says so plainly and fails.
export const command: Command = {
  name: 'replay',
  summary: 'not implemented yet',
  usage: 'tidewatch replay (not implemented yet)',
  async run() {
    process.stderr.write('tidewatch replay: not implemented yet\n');
    return 2;
  },
};
