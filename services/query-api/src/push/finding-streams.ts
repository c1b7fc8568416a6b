import type { BusConsumer, BusMessage, BatchContext, MessageBus } from '@tidewatch/bus';
import type { ContractCodecs, Finding, Sequence } from '@tidewatch/contracts';
import { type OverviewAggregates, trafficOfSequence } from '../overview-aggregates.ts';
import type { EvidenceStore } from '../stores/domain.ts';
import type { FindingSink } from './sinks.ts';
import type { WebhookDispatcher } from './webhooks.ts';

export interface FindingStreamsOptions {
  bus: MessageBus;
  codecs: ContractCodecs;
  namespace: string;
  evidence: EvidenceStore;
  aggregates: OverviewAggregates;
  webhooks: WebhookDispatcher;
  sinks: FindingSink[];
  topics?: { sequences: string; findings: string };
}

async function decodeAll<T>(
  messages: BusMessage[],
  ctx: BatchContext,
  decode: (b: Buffer) => Promise<T>,
): Promise<T[]> {
  const out: T[] = [];
  for (const m of messages) {
    try {
      out.push(await decode(m.value));
    } catch (e) {
      await ctx.deadLetter(m, e);
    }
  }
  return out;
}

/**
 * The query API's consumer groups, each independent so one slow destination never holds back
 * another (nor detection, which does not wait on any of them):
 *   <ns>-query-api-evidence  sequences.v1 → EvidenceStore (the flows behind each finding)
 *   <ns>-query-api-findings  findings.v1  → overview aggregates + webhook deliveries
 *   <ns>-query-api-sink-<n>  findings.v1  → one per configured SIEM sink
 */
export class FindingStreams {
  readonly #consumers: BusConsumer[] = [];

  constructor(private readonly opts: FindingStreamsOptions) {}

  get topics(): { sequences: string; findings: string } {
    return this.opts.topics ?? { sequences: 'sequences.v1', findings: 'findings.v1' };
  }

  async start(): Promise<void> {
    const { bus, codecs, namespace } = this.opts;
    const { sequences, findings } = this.topics;
    await bus.ensureTopics([{ topic: sequences }, { topic: findings }]);
    const decodeFinding = (b: Buffer) => codecs.findings.decodeAsync(b);
    const decodeSequence = (b: Buffer) => codecs.sequences.decodeAsync(b);

    const evidence = bus.consumer({ groupId: `${namespace}-query-api-evidence`, topics: [sequences] });
    await evidence.run(async (messages, ctx) => {
      const seqs = await decodeAll<Sequence>(messages, ctx, decodeSequence);
      for (const s of seqs) this.opts.aggregates.addSequence(trafficOfSequence(s));
      await Promise.all(
        seqs.map((s) =>
          this.opts.evidence.put({
            sequence_id: s.sequence_id,
            src_ip: s.src_ip,
            dst_ip: s.dst_ip,
            window_start_ms: s.window_start_ms,
            window_end_ms: s.window_end_ms,
            flows: s.flows,
          }),
        ),
      );
    });
    this.#consumers.push(evidence);

    const main = bus.consumer({ groupId: `${namespace}-query-api-findings`, topics: [findings] });
    await main.run(async (messages, ctx) => {
      for (const f of await decodeAll<Finding>(messages, ctx, decodeFinding)) {
        this.opts.aggregates.addFinding(f);
        await this.opts.webhooks.onFinding(f);
      }
    });
    this.#consumers.push(main);

    for (const sink of this.opts.sinks) {
      const c = bus.consumer({ groupId: `${namespace}-query-api-sink-${sink.name}`, topics: [findings] });
      await c.run(async (messages, ctx) => {
        const all = await decodeAll<Finding>(messages, ctx, decodeFinding);
        for (let i = 0; i < all.length; i += sink.batchSize)
          await sink.send(all.slice(i, i + sink.batchSize));
      });
      this.#consumers.push(c);
    }
  }

  async stop(): Promise<void> {
    for (const c of this.#consumers.reverse()) await c.stop();
    this.#consumers.length = 0;
  }
}
