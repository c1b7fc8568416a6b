import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import { InProcessBus, KafkaBus } from '@tidewatch/bus';
import { createCodecs, type FlowRecord } from '@tidewatch/contracts';
import { needsShared, REPO_ROOT, sharedPath, uniqueName, waitFor } from '@tidewatch/testing';
import { newCaptureStats, readCapture } from '../src/capture/index.ts';
import { decodeFlowFiles } from '../src/capture/flow-files.ts';
import { createApp, DEFAULT_CONFIG } from '../src/index.ts';

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'tw-cli-'));
after(() => rmSync(work, { recursive: true, force: true }));

async function tidewatch(args: string[], env: NodeJS.ProcessEnv = {}) {
  const base = { ...process.env };
  delete base['KAFKA_BROKERS'];
  delete base['TIDEWATCH_DATA_DIR'];
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'packages/cli/src/main.ts'), ...args],
      { env: { ...base, ...env }, cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024 },
    );
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const CTU = () => sharedPath('testdata', 'labeled', 'ctu50_normal-40_day1', 'conn.log.labeled');

async function readTopic(
  bus: InProcessBus | KafkaBus,
  topic: string,
  expected: number,
): Promise<FlowRecord[]> {
  const codecs = await createCodecs();
  const flows: FlowRecord[] = [];
  const consumer = bus.consumer({ groupId: uniqueName('cli-test'), topics: [topic], fromBeginning: true });
  await consumer.run(async (messages) => {
    for (const m of messages) flows.push(await codecs.flows.decodeAsync(m.value));
  });
  await waitFor(() => flows.length >= expected, { timeoutMs: 30_000, what: `${expected} flows on ${topic}` });
  await consumer.stop();
  return flows;
}

describe('tidewatch import', needsShared(), () => {
  it('says where flows could go when there is no Kafka and no data dir', async () => {
    const r = await tidewatch(['import', CTU()]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /nowhere to import to: set KAFKA_BROKERS .* --data-dir \/ TIDEWATCH_DATA_DIR .* --dry-run/,
    );
  });

  it('--dry-run reads, checks and summarises (rows read = imported + rejected), refusing unknown formats', async () => {
    const r = await tidewatch(['import', '--dry-run', '--format', 'zeek', CTU()]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /conn\.log\.labeled \[zeek\]: rows read 5663 = imported 5663 \+ rejected 0\n/);
    const bad = await tidewatch(['import', '--format', 'netflow', CTU()]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown format 'netflow'/);
  });

  it('--data-dir publishes every row to flows.v1 of the one-process pipeline', async () => {
    const dataDir = join(work, 'data');
    const file = sharedPath('testdata', 'labeled', 'iot23', 'CTU-Honeypot-Capture-7-1-labeled.csv');
    const r = await tidewatch(['import', '--data-dir', dataDir, file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /\[zeek-csv\]: rows read 130 = imported 130 \+ rejected 0/);
    const bus = new InProcessBus({ dir: join(dataDir, 'bus') });
    const flows = await readTopic(bus, 'flows.v1', 130);
    await bus.close();
    assert.equal(flows.length, 130);
    assert.ok(flows.every((f) => f.source_format === 'zeek_conn' && f.label === 0));
  });

  it('publishes to Kafka when KAFKA_BROKERS is set', {
    skip: process.env['KAFKA_BROKERS'] ? false : 'no KAFKA_BROKERS',
  }, async () => {
    const topic = uniqueName('flows.v1.import');
    const brokers = process.env['KAFKA_BROKERS']!;
    const file = sharedPath('testdata', 'labeled', 'cic-ids2017_improved_cns2022', 'Heartbleed_11.csv');
    const r = await tidewatch(['import', '--topic', topic, file], { KAFKA_BROKERS: brokers });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /rows read 11 = imported 11 \+ rejected 0/);
    const bus = new KafkaBus({ brokers: brokers.split(','), clientId: 'cli-test' });
    try {
      const flows = await readTopic(bus, topic, 11);
      assert.equal(flows.length, 11);
      assert.ok(flows.every((f) => f.attack === 'Heartbleed' && f.label === 1));
    } finally {
      await bus.close();
    }
  });
});

describe('tidewatch replay', needsShared(), () => {
  const capture = () =>
    sharedPath('testdata', 'flows', 'pm-nf9-cisco-asr9k-two-source-ids', 'traffic-00.pcap');

  it('sends the capture flow datagrams byte for byte, in order', async () => {
    const expected = readCapture(readFileSync(capture()), newCaptureStats()).map((d) => d.payload);
    assert.ok(expected.length > 1);
    const receiver = createSocket('udp4');
    const got: Buffer[] = [];
    receiver.on('message', (m) => got.push(m));
    await new Promise<void>((r) => receiver.bind(0, '127.0.0.1', () => r()));
    const port = receiver.address().port;
    const r = await tidewatch(['replay', capture(), '--to', `udp://127.0.0.1:${port}`, '--rate', '5000']);
    assert.equal(r.code, 0, r.stderr);
    await waitFor(() => got.length >= expected.length, { what: 'replayed datagrams' });
    receiver.close();
    assert.equal(got.length, expected.length);
    for (const [i, g] of got.entries()) assert.ok(g.equals(expected[i]!), `datagram ${i} differs`);
    assert.match(r.stderr, new RegExp(`sent ${expected.length} datagrams`));
  });

  it('feeds a running collector exactly the records `decode` reads from the file', async () => {
    let decoded = 0;
    await decodeFlowFiles([capture()], () => {
      decoded++;
    });
    assert.ok(decoded > 0);
    const bus = new InProcessBus();
    const topic = uniqueName('flows.v1.replay');
    const app = createApp(
      {
        ...DEFAULT_CONFIG,
        netflowPort: 0,
        ipfixPort: null,
        sflowPort: null,
        host: '127.0.0.1',
        httpPort: null,
        publisher: { topic, lingerMs: 5 },
      },
      { bus },
    );
    await app.start();
    try {
      const r = await tidewatch(['replay', capture(), '--to', `udp://127.0.0.1:${app.ports.netflow}`]);
      assert.equal(r.code, 0, r.stderr);
      const flows = await readTopic(bus, topic, decoded);
      assert.equal(flows.length, decoded);
      assert.equal(app.publisher.stats.refused, 0);
    } finally {
      await app.stop();
      await bus.close();
    }
  });
});
