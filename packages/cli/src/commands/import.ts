import type { Command } from '../command.ts';

// Placeholder until the owning issue lands: says so plainly and fails.
export const command: Command = {
  name: 'import',
  summary: 'not implemented yet',
  usage: 'tidewatch import (not implemented yet)',
  async run() {
    process.stderr.write('tidewatch import: not implemented yet\n');
    return 2;
  },
};
