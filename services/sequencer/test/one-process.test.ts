import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InProcessBus } from '@tidewatch/bus';
import { conversationKey, createCodecs, type FlowRecord, type Sequence } from '@tidewatch/contracts';
import { InMemoryEntityStats, notAConversationFlow } from '@tidewatch/sequencing';
import { needsShared, waitFor } from '@tidewatch/testing';
import { createApp } from '../src/app.ts';
import {
  assertSameSequences,
  expectedOutput,
  inputTotals,
  loadCaptures,
  outputTotals,
  testConfig,
} from './harness.ts';

describe('sequencer in one process (InProcessBus, exact in-memory entity stats)', () => {
  it(
    'turns the labelled captures into sequences plus late flows, every flow exactly once',
    needsShared(),
    async () => {
      const flows = await loadCaptures();
      const config = testConfig('onep', {
        TIDEWATCH_SEQUENCER_IDLE_FLUSH_MS: '300',
        TIDEWATCH_SEQUENCER_TICK_MS: '50',
      });
      const bus = new InProcessBus();
      const codecs = await createCodecs();
      await bus.ensureTopics([{ topic: config.flowsTopic, partitions: config.flowsPartitions }]);
      const producer = await bus.producer();
      await producer.send(config.flowsTopic, [{ key: 'x|y', value: Buffer.from('not avro') }]);
      await producer.send(
        config.flowsTopic,
        flows.map((f) => ({ key: conversationKey(f.src_ip, f.dst_ip), value: codecs.flows.encode(f) })),
      );
      const app = createApp(config, { bus, entityStats: new InMemoryEntityStats() });
      await app.start();

      const sequences = new Map<string, Sequence>();
      const late: FlowRecord[] = [];
      const reader = bus.consumer({
        groupId: 'onep-reader',
        topics: [config.sequencesTopic, config.lateTopic],
      });
      await reader.run(async (messages) => {
        for (const m of messages) {
          if (m.topic === config.lateTopic) late.push(codecs.flows.decode(m.value));
          else {
            const s = codecs.sequences.decode(m.value);
            sequences.set(s.sequence_id, s);
          }
        }
      });
      const expected = expectedOutput(flows, config.flowsPartitions, config.spec);
      await waitFor(
        () => sequences.size >= expected.sequences.length && late.length >= expected.late.length,
        {
          timeoutMs: 60_000,
          what: `${expected.sequences.length} sequences and ${expected.late.length} late flows`,
        },
      );
      await app.stop();
      await reader.stop();
      await bus.close();

      assert.ok(
        expected.late.length > 0,
        'the Zeek captures are out of order beyond the lateness bound somewhere',
      );
      assertSameSequences([...sequences.values()], expected.sequences, assert.deepEqual);
      assert.deepEqual(outputTotals([...sequences.values()], late), inputTotals(flows));
      const counted = (await app.metrics.flowsIn.get()).values;
      // The captures' IPv6 neighbour discovery and MLD records are in no sequence (rule 0).
      const notFlows = flows.filter((f) => notAConversationFlow(f) !== undefined).length;
      assert.ok(notFlows > 0);
      assert.equal(counted.find((v) => v.labels.outcome === 'not_a_flow')?.value, notFlows);
      assert.equal(
        counted.find((v) => v.labels.outcome === 'accepted')?.value,
        flows.length - notFlows - expected.late.length,
      );
      assert.equal(counted.find((v) => v.labels.outcome === 'late')?.value, expected.late.length);
      assert.equal(counted.find((v) => v.labels.outcome === 'invalid')?.value, 1, JSON.stringify(counted));
    },
  );
});

describe('sequencer in one process: a firewall connection is one flow (rule 0b)', () => {
  it("folds an NSEL connection's update and teardown into one flow and counts them", async () => {
    // Cisco ASA NSEL as ls-nf9-cisco-asa-2 sends it: created (nothing counted), update, teardown.
    const t0 = 1_794_999_900_000;
    const nsel = (id: number, event: string, over: Partial<FlowRecord>): FlowRecord => ({
      exporter: '192.0.2.254',
      observation_domain: 0,
      source_format: 'netflow9',
      start_ms: t0 + 1_000 * id,
      end_ms: t0 + 1_000 * id,
      protocol: 6,
      src_ip: '10.3.0.8',
      dst_ip: '203.0.113.7',
      src_port: 42_000 + id,
      dst_port: 443,
      fwd_bytes: 0,
      fwd_pkts: 0,
      bwd_bytes: 0,
      bwd_pkts: 0,
      tcp_flags: 0,
      sampling_rate: 1,
      label: null,
      attack: null,
      extra: { flowId: String(id), firewallEvent: event },
      ...over,
    });
    const flows: FlowRecord[] = [];
    for (let id = 0; id < 5; id++) {
      const counted = { end_ms: t0 + 1_000 * id + 900, fwd_bytes: 100 + id, bwd_bytes: 5_000 + id };
      flows.push(nsel(id, '1', {}), nsel(id, '5', counted), nsel(id, '2', counted));
    }
    const config = testConfig('nsel', {
      TIDEWATCH_SEQUENCER_IDLE_FLUSH_MS: '300',
      TIDEWATCH_SEQUENCER_TICK_MS: '50',
    });
    const bus = new InProcessBus();
    const codecs = await createCodecs();
    await bus.ensureTopics([{ topic: config.flowsTopic, partitions: config.flowsPartitions }]);
    const producer = await bus.producer();
    await producer.send(
      config.flowsTopic,
      flows.map((f) => ({ key: conversationKey(f.src_ip, f.dst_ip), value: codecs.flows.encode(f) })),
    );
    const app = createApp(config, { bus, entityStats: new InMemoryEntityStats() });
    await app.start();
    const sequences: Sequence[] = [];
    const reader = bus.consumer({ groupId: 'nsel-reader', topics: [config.sequencesTopic] });
    await reader.run(async (messages) => {
      for (const m of messages) sequences.push(codecs.sequences.decode(m.value));
    });
    await waitFor(() => sequences.length >= 1, { timeoutMs: 30_000, what: 'the sequence' });
    await app.stop();
    await reader.stop();
    await bus.close();

    assert.equal(sequences.length, 1);
    assert.deepEqual(
      sequences[0]?.flows.map((f) => [f.src_port, f.start_ms, f.end_ms, f.fwd_bytes, f.bwd_bytes]),
      Array.from({ length: 5 }, (_, id) => [
        42_000 + id,
        t0 + 1_000 * id,
        t0 + 1_000 * id + 900,
        100 + id,
        5_000 + id,
      ]),
    );
    const counted = Object.fromEntries(
      (await app.metrics.flowsIn.get()).values.map((v) => [v.labels.outcome, v.value]),
    );
    assert.deepEqual([counted['accepted'], counted['merged'], counted['not_a_flow']], [5, 5, 5]);
  });
});
