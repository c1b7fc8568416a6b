import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { KafkaBus } from '@tidewatch/bus';
import { createCodecs } from '@tidewatch/contracts';
import { readFlowFile } from '@tidewatch/flow-importers';
import { buildSequences } from '@tidewatch/sequencing';
import {
  needsServices,
  needsShared,
  REPO_ROOT,
  serviceEndpoints,
  sharedPath,
  uniqueName,
  waitFor,
} from '@tidewatch/testing';
import { EmbeddedStore, readPointLog } from '@tidewatch/vector-store';

const skip = needsServices().skip || needsShared().skip;
const children: ChildProcess[] = [];
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** Distinct point ids in the store's log, read without opening (the service owns the directory). */
async function storedIds(dir: string): Promise<number> {
  return new Set((await readPointLog(dir)).upserts).size;
}

describe('inference process killed mid-stream (SIGKILL) and restarted', { skip }, () => {
  it('loses nothing and duplicates nothing: one point per sequence', async () => {
    const flows = [];
    for await (const r of readFlowFile(
      sharedPath('testdata/labeled/iot23/CTU-Malware-Capture-21-1-labeled.csv'),
    )) {
      if (r.flow) flows.push(r.flow);
    }
    const seqs = buildSequences(flows);
    const topic = uniqueName('sequences.v1');
    const brokers = serviceEndpoints()?.kafkaBrokers ?? [];
    const bus = new KafkaBus({ brokers, clientId: 'crash-test' });
    cleanups.push(() => bus.close());
    await bus.ensureTopics([{ topic, partitions: 3 }]);
    const codecs = await createCodecs();
    const producer = await bus.producer();
    cleanups.push(() => producer.close());
    await producer.send(
      topic,
      seqs.map((s) => ({ key: s.sequence_id, value: codecs.sequences.encode(s) })),
    );
    const dataDir = await mkdtemp(join(tmpdir(), 'tw-crash-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const storeDir = join(dataDir, 'inference', 'vectors-d64');
    const env = {
      ...process.env,
      KAFKA_BROKERS: brokers.join(','),
      TIDEWATCH_DATA_DIR: dataDir,
      TIDEWATCH_SEQUENCES_TOPIC: topic,
      TIDEWATCH_FINDINGS_TOPIC: uniqueName('findings.v1'),
      TIDEWATCH_INFERENCE_GROUP: uniqueName('inference-crash'),
      TIDEWATCH_INFERENCE_MAX_POLL: '40',
      TIDEWATCH_INFERENCE_BATCH_SIZE: '40',
      TIDEWATCH_INFERENCE_THREADS: '1',
      TIDEWATCH_HTTP_PORT: '0',
      TIDEWATCH_GRPC_PORT: '0',
      LOG_LEVEL: 'warn',
    };
    const start = () => {
      const c = spawn(process.execPath, ['--import', 'tsx', 'services/inference/src/main.ts'], {
        cwd: REPO_ROOT,
        env,
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      children.push(c);
      return c;
    };
    const first = start();
    await waitFor(async () => (await storedIds(storeDir)) >= 100, {
      timeoutMs: 60_000,
      what: 'first points',
    });
    first.kill('SIGKILL');
    await once(first, 'exit');
    const atCrash = await storedIds(storeDir);
    assert.ok(atCrash < seqs.length, `killed mid-stream (${atCrash} of ${seqs.length})`);

    const second = start();
    await waitFor(async () => (await storedIds(storeDir)) === seqs.length, {
      timeoutMs: 120_000,
      what: `${seqs.length} points`,
    });
    second.kill('SIGTERM');
    const [code] = (await once(second, 'exit')) as [number | null];
    assert.equal(code, 0, 'graceful shutdown exits 0');

    const store = new EmbeddedStore({ dir: storeDir, dim: 64 });
    await store.init();
    assert.equal(await store.count(), seqs.length);
    const ids = new Set(seqs.map((s) => s.sequence_id));
    const { items } = await store.list({ limit: seqs.length + 1 });
    assert.equal(items.length, seqs.length);
    assert.ok(items.every((f) => ids.has(f.sequence_id)));
    await store.close();
  });
});
