import type { Command } from '../command.ts';

// Placeholder until the owning issue lands: says so plainly and fails.
export const command: Command = {
  name: 'finetune',
  summary: 'not implemented yet',
  usage: 'tidewatch finetune (not implemented yet)',
  async run() {
    process.stderr.write('tidewatch finetune: not implemented yet\n');
    return 2;
  },
};
