import type { Command } from '../command.ts';

// Placeholder until the owning issue lands: says so plainly and fails.
export const command: Command = {
  name: 'train',
  summary: 'not implemented yet',
  usage: 'tidewatch train (not implemented yet)',
  async run() {
    process.stderr.write('tidewatch train: not implemented yet\n');
    return 2;
  },
};
