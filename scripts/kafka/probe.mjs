// Readiness probe used by scripts/services.sh: a real kafkajs metadata request against the broker.
// Resolves kafkajs from packages/bus (the workspace's only Kafka client).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(fileURLToPath(new URL('../../packages/bus/package.json', import.meta.url)));
const { Kafka, logLevel } = require('kafkajs');

const brokers = (process.argv[2] ?? '').split(',').filter(Boolean);
const kafka = new Kafka({
  clientId: 'tidewatch-probe',
  brokers,
  logLevel: logLevel.NOTHING,
  retry: { retries: 0 },
});
const admin = kafka.admin();
const deadline = Date.now() + 60_000;
let lastError;
while (Date.now() < deadline) {
  try {
    await admin.connect();
    await admin.listTopics();
    await admin.disconnect();
    process.exit(0);
  } catch (e) {
    lastError = e;
    await admin.disconnect().catch(() => {});
    await new Promise((r) => setTimeout(r, 500));
  }
}
console.error(`kafka probe: ${brokers.join(',')} did not answer metadata requests: ${lastError}`);
process.exit(1);
