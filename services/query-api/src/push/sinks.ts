import { randomUUID } from 'node:crypto';
import { RetriableError } from '@tidewatch/bus';
import type { Finding } from '@tidewatch/contracts';
import type { SinkConfig } from '../config.ts';
import { toEcs, toOcsf } from '../exports/formats.ts';

/** A SIEM destination; each runs as its own consumer group on findings.v1. */
export interface FindingSink {
  readonly name: string;
  readonly batchSize: number;
  /** Resolves once the destination durably accepted every finding; throws RetriableError otherwise. */
  send(findings: Finding[]): Promise<void>;
}

async function expectOk(res: Response, what: string): Promise<void> {
  if (res.ok) return;
  const text = (await res.text()).slice(0, 300);
  throw new RetriableError(`${what} answered HTTP ${res.status}: ${text}`);
}

/**
 * Splunk HTTP Event Collector: one request per batch (events concatenated), on a fixed channel so
 * indexer acknowledgement works; when HEC returns an ackId the batch counts only once
 * /services/collector/ack reports it indexed.
 */
export class SplunkHecSink implements FindingSink {
  readonly name = 'splunk';
  readonly batchSize: number;
  readonly channel = randomUUID();

  constructor(
    private readonly cfg: NonNullable<SinkConfig['splunk']>,
    private readonly pollMs = 500,
  ) {
    this.batchSize = cfg.batchSize;
  }

  #headers(): Record<string, string> {
    return {
      authorization: `Splunk ${this.cfg.token}`,
      'x-splunk-request-channel': this.channel,
      'content-type': 'application/json',
    };
  }

  async send(findings: Finding[]): Promise<void> {
    const base = this.cfg.url.replace(/\/$/, '');
    const body = findings
      .map((f) =>
        JSON.stringify({
          time: f.scored_at_ms / 1000,
          host: 'tidewatch',
          source: 'tidewatch',
          sourcetype: 'tidewatch:finding:ocsf',
          ...(this.cfg.index ? { index: this.cfg.index } : {}),
          event: toOcsf(f, null),
        }),
      )
      .join('\n');
    const res = await fetch(`${base}/services/collector/event`, {
      method: 'POST',
      headers: this.#headers(),
      body,
    });
    await expectOk(res, 'Splunk HEC');
    const reply = (await res.json()) as { code?: number; text?: string; ackId?: number };
    if (reply.code !== undefined && reply.code !== 0)
      throw new RetriableError(`Splunk HEC refused the batch: code ${reply.code} ${reply.text ?? ''}`);
    if (reply.ackId === undefined) return;
    const deadline = Date.now() + this.cfg.ackTimeoutMs;
    while (Date.now() < deadline) {
      const ack = await fetch(`${base}/services/collector/ack?channel=${this.channel}`, {
        method: 'POST',
        headers: this.#headers(),
        body: JSON.stringify({ acks: [reply.ackId] }),
      });
      await expectOk(ack, 'Splunk HEC ack');
      const state = (await ack.json()) as { acks?: Record<string, boolean> };
      if (state.acks?.[String(reply.ackId)] === true) return;
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
    throw new RetriableError(
      `Splunk HEC did not acknowledge ackId ${reply.ackId} within ${this.cfg.ackTimeoutMs} ms`,
    );
  }
}

/** Elasticsearch bulk API: `create` by sequence id, so a replayed batch is a no-op (409 is success). */
export class ElasticBulkSink implements FindingSink {
  readonly name = 'elastic';
  readonly batchSize: number;
  constructor(private readonly cfg: NonNullable<SinkConfig['elastic']>) {
    this.batchSize = cfg.batchSize;
  }

  async send(findings: Finding[]): Promise<void> {
    const lines: string[] = [];
    for (const f of findings) {
      lines.push(
        JSON.stringify({ create: { _index: this.cfg.index, _id: f.sequence_id } }),
        JSON.stringify(toEcs(f)),
      );
    }
    const res = await fetch(`${this.cfg.url.replace(/\/$/, '')}/_bulk`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-ndjson',
        ...(this.cfg.apiKey ? { authorization: `ApiKey ${this.cfg.apiKey}` } : {}),
      },
      body: `${lines.join('\n')}\n`,
    });
    await expectOk(res, 'Elasticsearch bulk');
    const reply = (await res.json()) as {
      errors: boolean;
      items: { create?: { status: number; error?: { reason?: string } } }[];
    };
    if (!reply.errors) return;
    const failed = reply.items.filter((i) => i.create && i.create.status >= 300 && i.create.status !== 409);
    if (failed.length)
      throw new RetriableError(
        `Elasticsearch rejected ${failed.length} documents: ${failed[0]?.create?.error?.reason ?? 'unknown'}`,
      );
  }
}

/** Microsoft Sentinel through the Azure Monitor Logs Ingestion API (DCR stream), OAuth client credentials. */
export class SentinelSink implements FindingSink {
  readonly name = 'sentinel';
  readonly batchSize: number;
  #token: { value: string; expiresAt: number } | null = null;
  constructor(private readonly cfg: NonNullable<SinkConfig['sentinel']>) {
    this.batchSize = cfg.batchSize;
  }

  async #accessToken(): Promise<string> {
    if (this.#token && this.#token.expiresAt > Date.now() + 60_000) return this.#token.value;
    const url =
      this.cfg.tokenUrl ?? `https://login.microsoftonline.com/${this.cfg.tenantId}/oauth2/v2.0/token`;
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: this.cfg.clientId,
        client_secret: this.cfg.clientSecret,
        scope: 'https://monitor.azure.com//.default',
        grant_type: 'client_credentials',
      }),
    });
    await expectOk(res, 'Entra ID token endpoint');
    const body = (await res.json()) as { access_token: string; expires_in: number };
    this.#token = { value: body.access_token, expiresAt: Date.now() + body.expires_in * 1000 };
    return body.access_token;
  }

  async send(findings: Finding[]): Promise<void> {
    const rows = findings.map((f) => ({
      TimeGenerated: new Date(f.scored_at_ms).toISOString(),
      SequenceId: f.sequence_id,
      SrcIp: f.src_ip,
      DstIp: f.dst_ip,
      DstPort: f.dst_ports[0] ?? null,
      Connections: f.connections,
      FwdBytes: f.fwd_bytes,
      BwdBytes: f.bwd_bytes,
      Score: f.score,
      Verdict: f.verdict,
      Severity: f.severity,
      Tactic: f.tactics[0]?.id ?? null,
      Technique: f.techniques[0]?.id ?? null,
      ModelVersion: f.model_version,
      Ocsf: toOcsf(f, null),
    }));
    const url = `${this.cfg.endpoint.replace(/\/$/, '')}/dataCollectionRules/${this.cfg.dcrId}/streams/${this.cfg.stream}?api-version=2023-01-01`;
    const res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${await this.#accessToken()}`, 'content-type': 'application/json' },
      body: JSON.stringify(rows),
    });
    await expectOk(res, 'Logs Ingestion API');
  }
}

export function sinksFromConfig(cfg: SinkConfig): FindingSink[] {
  const out: FindingSink[] = [];
  if (cfg.splunk) out.push(new SplunkHecSink(cfg.splunk));
  if (cfg.elastic) out.push(new ElasticBulkSink(cfg.elastic));
  if (cfg.sentinel) out.push(new SentinelSink(cfg.sentinel));
  return out;
}
