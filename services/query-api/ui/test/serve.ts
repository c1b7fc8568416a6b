// Dev helper: a seeded query-api with the built UI, for looking at the UI by hand.
//   node --import tsx test/serve.ts [capture]   (prints the URL and the admin key)
import { sharedPath } from '@tidewatch/testing';
import { startSeededApi } from './seed.ts';

const capture =
  process.argv[2] ?? sharedPath('testdata/labeled/ctu-malware-capture-botnet-4/conn.log.labeled');
const t0 = performance.now();
const seeded = await startSeededApi(capture);
console.log(
  `${seeded.api.url} key=${seeded.adminKey} sequences=${seeded.scored} malicious=${seeded.malicious} (${Math.round(performance.now() - t0)} ms)`,
);
process.on('SIGTERM', () => void seeded.stop().then(() => process.exit(0)));
process.on('SIGINT', () => void seeded.stop().then(() => process.exit(0)));
