import { parseArgs } from 'node:util';
import type { Command } from '../command.ts';
import { LiveDemoFeed, writeDemoHistory } from '../standalone/demo-feed.ts';
import { createStandalone } from '../standalone/pipeline.ts';

const usage = `Usage: tidewatch run [--demo] [--data-dir DIR]

Runs collector, sequencer, inference and the query API (with the web UI) in one process: an
in-process bus instead of Kafka, the embedded store instead of Qdrant and Redis, state under the
data directory (default ./data, kept across restarts).
  --demo       feed an hour of simulated history (benign mix plus scans, brute force, beaconing,
               exfiltration, DoS) and live simulated NetFlow v9 to the collector's UDP port
  --data-dir   same as TIDEWATCH_DATA_DIR
Environment: TIDEWATCH_HTTP_PORT (8080), TIDEWATCH_DATA_DIR, TIDEWATCH_ADMIN_KEY(_FILE),
TIDEWATCH_NETFLOW_PORT (2055), TIDEWATCH_IPFIX_PORT (4739), TIDEWATCH_SFLOW_PORT (6343); 0 disables
a listener.`;

export const command: Command = {
  name: 'run',
  summary: 'run the whole pipeline in one process (add --demo for simulated traffic)',
  usage,
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: { demo: { type: 'boolean', default: false }, 'data-dir': { type: 'string' } },
    });
    const env = { ...process.env };
    if (values['data-dir']) env['TIDEWATCH_DATA_DIR'] = values['data-dir'];
    const app = await createStandalone({ env });
    await app.start();
    const { ports } = app;
    const say = (line: string) => process.stdout.write(`${line}\n`);
    say(`Tidewatch is running (one-process mode, data in ${app.dataDir})`);
    say(`  UI and API:  ${app.apiUrl.replace('0.0.0.0', 'localhost')}/`);
    say(
      `  API key:     ${app.adminKey.key}${app.adminKey.created ? ' (new; saved in ' + app.adminKey.source + ')' : ` (from ${app.adminKey.source})`}`,
    );
    say(
      `  Flows:       NetFlow ${ports.netflow ?? 'off'}/udp, IPFIX ${ports.ipfix ?? 'off'}/udp+tcp, sFlow ${ports.sflow ?? 'off'}/udp`,
    );
    say(
      `  Try:         curl -H 'Authorization: Bearer ${app.adminKey.key}' ${app.apiUrl.replace('0.0.0.0', 'localhost')}/v1/overview`,
    );

    let feed: LiveDemoFeed | undefined;
    if (values.demo) {
      const history = writeDemoHistory(app.dataDir, Date.now());
      const totals = await app.importFiles([history.file], 'tempo');
      say(
        `  Demo:        imported ${totals.imported} simulated flows (${history.malicious} malicious) from ${history.file}`,
      );
      if (ports.netflow) {
        feed = new LiveDemoFeed(ports.netflow);
        feed.start();
        say(`               live simulated NetFlow v9 → udp://127.0.0.1:${ports.netflow} every 10 s`);
      }
    }
    say('READY');

    await new Promise<void>((resolve) => {
      const shutdown = () => resolve();
      process.once('SIGINT', shutdown);
      process.once('SIGTERM', shutdown);
    });
    feed?.stop();
    await app.stop();
    return 0;
  },
};
