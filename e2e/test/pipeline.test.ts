import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { KafkaBus } from '@tidewatch/bus';
import { createCodecs, type Finding, type Sequence } from '@tidewatch/contracts';
import { readFlowFile } from '@tidewatch/flow-importers';
import { notAConversationFlow } from '@tidewatch/sequencing';
import { readPointLog } from '@tidewatch/vector-store';
import {
  freePort,
  needsServices,
  needsShared,
  REPO_ROOT,
  serviceEndpoints,
  sharedPath,
  uniqueName,
  waitFor,
} from '@tidewatch/testing';
import { Webhook } from 'standardwebhooks';
import { parse as parseYaml } from 'yaml';

/**
 * The whole pipeline as four separate processes, each started through its own main, on the real
 * Kafka and Redis of the harness: a labelled capture imported and flow datagrams replayed →
 * sequences → findings → the query API and a webhook receiver checking Standard Webhooks
 * signatures. The sequencer is SIGKILLed and restarted mid-run. A real Prometheus then scrapes the
 * four services and every metric the dashboards and alert rules query must return data.
 */

const run = promisify(execFile);
const skip = needsServices().skip || needsShared().skip;
const ADMIN_KEY = 'e2e-admin-key-0123456789abcdef';
const LABELLED = sharedPath('testdata/labeled/iot23/CTU-Honeypot-Capture-7-1-labeled.csv');
const FLOWS = (p: string) => sharedPath('testdata/flows', p);
const ALERTS = join(REPO_ROOT, 'deploy/helm/tidewatch/files/alerts.yaml');
const DASHBOARDS = join(REPO_ROOT, 'deploy/helm/tidewatch/files/dashboards');

type ServiceName = 'collector' | 'sequencer' | 'inference' | 'query-api';

interface Running {
  child: ChildProcess;
  log: string[];
}

const running = new Map<ServiceName, Running>();
const others: ChildProcess[] = [];
const cleanups: (() => Promise<void>)[] = [];

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  killGroup(child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

after(async () => {
  await Promise.all([...running.values()].map((r) => stopChild(r.child)));
  await Promise.all(others.map(stopChild));
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function get(url: string, key?: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, key ? { headers: { authorization: `Bearer ${key}` } } : {});
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // plain-text endpoints (/metrics, probes)
  }
  return { status: res.status, body };
}

/** Distinct point ids in an embedded store's log, read without opening it (inference owns it). */
async function storedIds(dir: string): Promise<Set<string>> {
  return new Set((await readPointLog(dir)).upserts);
}

/** A value of one un-labelled or summed series from a /metrics text. */
function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.split(' ').at(-1));
  }
  return sum;
}

/** NetFlow v5 datagram with one TCP record; `sequence` is the header's flow_sequence. */
function netflow5(sequence: number, nowS: number): Buffer {
  const b = Buffer.alloc(24 + 48);
  b.writeUInt16BE(5, 0);
  b.writeUInt16BE(1, 2);
  b.writeUInt32BE(100_000, 4);
  b.writeUInt32BE(nowS, 8);
  b.writeUInt32BE(sequence, 16);
  const r = 24;
  Buffer.from([10, 99, 0, 1]).copy(b, r);
  Buffer.from([10, 99, 0, 2]).copy(b, r + 4);
  b.writeUInt32BE(1, r + 16);
  b.writeUInt32BE(60, r + 20);
  b.writeUInt32BE(99_000, r + 24);
  b.writeUInt32BE(99_500, r + 28);
  b.writeUInt16BE(40_000, r + 32);
  b.writeUInt16BE(443, r + 34);
  b.writeUInt8(0x02, r + 37);
  b.writeUInt8(6, r + 38);
  return b;
}

/** Metric names a PromQL expression reads (tidewatch_* and `up`). */
function metricNames(expr: string): string[] {
  const names = new Set(expr.match(/\btidewatch_[a-z0-9_]+/g) ?? []);
  if (/\bup\{/.test(expr)) names.add('up');
  return [...names];
}

describe('whole pipeline as separate processes on Kafka and Redis', { skip }, () => {
  const ns = uniqueName('e2e').replace(/-/g, '_');
  const topics = {
    flows: `${ns}.flows.v1`,
    sequences: `${ns}.sequences.v1`,
    findings: `${ns}.findings.v1`,
  };
  const ports = {} as Record<'collector' | 'sequencer' | 'inference' | 'queryApi' | 'grpc', number> & {
    netflow: number;
    ipfix: number;
    sflow: number;
  };
  let dir = '';
  let vectorsDir = '';
  const endpoints = serviceEndpoints();
  const sequences = new Map<string, Sequence>();
  const findingIds = new Set<string>();
  const delivered = new Map<string, Finding>();
  const webhookIds = new Set<string>();
  const badSignatures: string[] = [];
  let secret = '';
  let receiver: Server;

  function envFor(svc: ServiceName): NodeJS.ProcessEnv {
    const common = {
      ...process.env,
      KAFKA_BROKERS: endpoints?.kafkaBrokers.join(',') ?? '',
      REDIS_URL: endpoints?.redisUrl ?? '',
      TIDEWATCH_NAMESPACE: ns,
      TIDEWATCH_ADMIN_KEY: ADMIN_KEY,
      TIDEWATCH_FLOWS_TOPIC: topics.flows,
      TIDEWATCH_SEQUENCES_TOPIC: topics.sequences,
      TIDEWATCH_FINDINGS_TOPIC: topics.findings,
      LOG_LEVEL: 'warn',
    };
    switch (svc) {
      case 'collector':
        return {
          ...common,
          TIDEWATCH_HTTP_PORT: String(ports.collector),
          TIDEWATCH_NETFLOW_PORT: String(ports.netflow),
          TIDEWATCH_IPFIX_PORT: String(ports.ipfix),
          TIDEWATCH_SFLOW_PORT: String(ports.sflow),
          TIDEWATCH_COLLECTOR_HOST: '127.0.0.1',
          TIDEWATCH_COLLECTOR_LINGER_MS: '20',
        };
      case 'sequencer':
        return {
          ...common,
          TIDEWATCH_HTTP_PORT: String(ports.sequencer),
          TIDEWATCH_SEQUENCER_GROUP: `${ns}-sequencer`,
          TIDEWATCH_SEQUENCER_REDIS_PREFIX: `${ns}:seq`,
          TIDEWATCH_FLOWS_PARTITIONS: '2',
          TIDEWATCH_SEQUENCES_PARTITIONS: '2',
          // One-minute windows with a day of lateness: the capture's rows arrive out of order by
          // minutes and none may be late; the idle flush closes every window seconds after input stops.
          TIDEWATCH_SEQUENCER_WINDOW_MS: '60000',
          TIDEWATCH_SEQUENCER_ALLOWED_LATENESS_MS: '86400000',
          TIDEWATCH_SEQUENCER_BIFLOW_TOLERANCE_MS: '5000',
          TIDEWATCH_SEQUENCER_PAIR_BUCKET_MS: '3600000',
          TIDEWATCH_SEQUENCER_IDLE_FLUSH_MS: '3000',
          TIDEWATCH_SEQUENCER_TICK_MS: '250',
          TIDEWATCH_SEQUENCER_SESSION_TIMEOUT_MS: '10000',
        };
      case 'inference':
        return {
          ...common,
          TIDEWATCH_HTTP_PORT: String(ports.inference),
          TIDEWATCH_GRPC_PORT: String(ports.grpc),
          TIDEWATCH_INFERENCE_GROUP: `${ns}-inference`,
          TIDEWATCH_DATA_DIR: join(dir, 'inference-data'),
          // Every sequence becomes a finding, so every one is delivered and countable.
          TIDEWATCH_INFERENCE_FLAG_THRESHOLD: '0',
          TIDEWATCH_INFERENCE_THREADS: '1',
        };
      case 'query-api':
        return {
          ...common,
          TIDEWATCH_HTTP_PORT: String(ports.queryApi),
          TIDEWATCH_HTTP_HOST: '127.0.0.1',
          TIDEWATCH_DATA_DIR: join(dir, 'query-api-data'),
          TIDEWATCH_WEBHOOKS_DLQ_TOPIC: `${ns}.webhooks.v1.dlq`,
          TIDEWATCH_WEBHOOK_RETRY_MS: '200',
        };
    }
  }

  async function start(svc: ServiceName): Promise<void> {
    const log: string[] = [];
    const child = spawn(process.execPath, ['--import', 'tsx', `services/${svc}/src/main.ts`], {
      cwd: REPO_ROOT,
      env: envFor(svc),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer) => {
      log.push(chunk.toString());
      if (log.length > 200) log.shift();
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    running.set(svc, { child, log });
  }

  function httpPort(svc: ServiceName): number {
    return svc === 'query-api' ? ports.queryApi : ports[svc];
  }

  async function ready(svc: ServiceName): Promise<void> {
    await waitFor(
      async () => {
        const r = running.get(svc);
        if (r && (r.child.exitCode !== null || r.child.signalCode !== null))
          throw new Error(`${svc} exited (${r.child.exitCode ?? r.child.signalCode}): ${r.log.join('')}`);
        return (await fetch(`http://127.0.0.1:${httpPort(svc)}/readyz`).catch(() => null))?.ok;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: `${svc} ready` },
    );
  }

  async function scrape(svc: ServiceName): Promise<string> {
    return String((await get(`http://127.0.0.1:${httpPort(svc)}/metrics`)).body);
  }

  async function tidewatch(...args: string[]): Promise<string> {
    const { stdout, stderr } = await run('pnpm', ['--silent', 'tidewatch', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, KAFKA_BROKERS: endpoints?.kafkaBrokers.join(',') ?? '' },
      maxBuffer: 16 << 20,
    });
    return stdout + stderr;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tw-e2e-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    for (const k of ['collector', 'sequencer', 'inference', 'queryApi', 'grpc'] as const)
      ports[k] = await freePort('tcp');
    for (const k of ['netflow', 'ipfix', 'sflow'] as const) ports[k] = await freePort('udp');
    // The query API reads the inference's embedded vector store (production shares Qdrant).
    vectorsDir = join(dir, 'inference-data', 'inference', 'vectors-d64');
    await mkdir(vectorsDir, { recursive: true });
    await mkdir(join(dir, 'query-api-data'), { recursive: true });
    await symlink(vectorsDir, join(dir, 'query-api-data', 'vectors'));

    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        try {
          const event = new Webhook(secret).verify(body, req.headers as Record<string, string>) as {
            type: string;
            data: Finding;
          };
          webhookIds.add(String(req.headers['webhook-id']));
          if (event.type === 'finding.created') delivered.set(event.data.sequence_id, event.data);
          res.writeHead(204).end();
        } catch (error) {
          badSignatures.push(String(error));
          res.writeHead(400).end();
        }
      });
    });
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    cleanups.push(() => new Promise((r) => receiver.close(() => r())));

    const codecs = await createCodecs();
    const bus = new KafkaBus({ brokers: endpoints?.kafkaBrokers ?? [], clientId: `${ns}-observer` });
    cleanups.push(() => bus.close());
    await bus.ensureTopics([
      { topic: topics.flows, partitions: 2 },
      { topic: topics.sequences, partitions: 2 },
      { topic: topics.findings, partitions: 2 },
    ]);
    const seqConsumer = bus.consumer({ groupId: `${ns}-observer-seq`, topics: [topics.sequences] });
    await seqConsumer.run(async (messages) => {
      for (const m of messages) {
        const s = (await codecs.sequences.decodeAsync(m.value)) as Sequence;
        sequences.set(s.sequence_id, s);
      }
    });
    const findingConsumer = bus.consumer({ groupId: `${ns}-observer-find`, topics: [topics.findings] });
    await findingConsumer.run(async (messages) => {
      for (const m of messages)
        findingIds.add(((await codecs.findings.decodeAsync(m.value)) as Finding).sequence_id);
    });
    cleanups.push(async () => {
      await seqConsumer.stop();
      await findingConsumer.stop();
    });

    await Promise.all((['collector', 'sequencer', 'inference', 'query-api'] as const).map(start));
    await Promise.all((['collector', 'sequencer', 'inference', 'query-api'] as const).map(ready));
  });

  it('imported flows come out once each, survive a sequencer SIGKILL, and arrive as signed findings', async () => {
    const api = `http://127.0.0.1:${ports.queryApi}`;
    const res = await fetch(`${api}/v1/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
        event_types: ['finding.created'],
      }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    secret = ((await res.json()) as { secret: string }).secret;
    assert.match(secret, /^whsec_/);

    const expected = new Map<string, number>();
    let expectedTotal = 0;
    let imported = 0;
    for await (const r of readFlowFile(LABELLED)) {
      if (!r.flow) continue;
      imported++;
      // IPv6 neighbour discovery and MLD are in no sequence (sequencing rule 0).
      if (notAConversationFlow(r.flow) !== undefined) continue;
      const k = `${r.flow.src_ip}>${r.flow.dst_ip}`;
      expected.set(k, (expected.get(k) ?? 0) + 1);
      expectedTotal++;
    }
    assert.ok(expectedTotal > 50, `only ${expectedTotal} flows read from the capture`);

    const out = await tidewatch('import', '--format', 'zeek-csv', '--topic', topics.flows, LABELLED);
    assert.match(out, new RegExp(`imported ${imported} flows`));

    // Kill the sequencer while it holds the capture's open windows (nothing flushed yet: the idle
    // flush needs 3 s without input), then restart it: its state lives in Redis and Kafka offsets.
    const seq = running.get('sequencer');
    assert.ok(seq);
    await waitFor(
      async () => metricSum(await scrape('sequencer'), 'tidewatch_sequencer_flows_in_total') > 0,
      {
        timeoutMs: 30_000,
        intervalMs: 100,
        what: 'sequencer consumed flows',
      },
    );
    const killed = once(seq.child, 'exit');
    killGroup(seq.child, 'SIGKILL');
    await killed;
    await start('sequencer');
    await ready('sequencer');

    const flowsIn = () => [...sequences.values()].reduce((n, s) => n + s.flows.length, 0);
    await waitFor(() => flowsIn() >= expectedTotal, {
      timeoutMs: 90_000,
      intervalMs: 250,
      what: `sequences holding ${expectedTotal} flows`,
    });
    const got = new Map<string, number>();
    for (const s of sequences.values()) {
      const k = `${s.src_ip}>${s.dst_ip}`;
      got.set(k, (got.get(k) ?? 0) + s.flows.length);
    }
    assert.deepEqual(
      [...got.entries()].sort(),
      [...expected.entries()].sort(),
      'per-conversation flow counts of the distinct sequences equal the input',
    );
    // The windows were closed by the restarted process (from the state the killed one left).
    assert.ok(metricSum(await scrape('sequencer'), 'tidewatch_sequencer_sequences_out_total') > 0);

    // One stored point per distinct sequence id; one signed delivery per finding.
    const ids = [...sequences.keys()].sort();
    // Generous: on a loaded 2-core CI box this wait once ran out at 60 s (1dc85cd, passed on rerun);
    // what is asserted is that every sequence arrives, not how fast.
    await waitFor(async () => (await storedIds(vectorsDir)).size >= ids.length, {
      timeoutMs: 150_000,
      what: 'a stored point per sequence',
    });
    assert.deepEqual([...(await storedIds(vectorsDir))].sort(), ids);
    await waitFor(() => findingIds.size >= ids.length && delivered.size >= findingIds.size, {
      timeoutMs: 60_000,
      what: 'findings delivered to the webhook',
    });
    assert.deepEqual([...findingIds].sort(), ids, 'a finding per sequence (flag threshold 0)');
    assert.deepEqual([...delivered.keys()].sort(), ids, 'every finding delivered');
    assert.equal(webhookIds.size, ids.length, 'one webhook message id per finding');
    assert.deepEqual(badSignatures, []);
    const deliveredCount = async () =>
      metricSum(await scrape('query-api'), 'tidewatch_query_api_webhook_attempts_total{outcome="delivered"}');
    await waitFor(async () => (await deliveredCount()) >= ids.length, { what: 'delivery metric' });
    assert.equal(await deliveredCount(), ids.length, 'one delivered attempt per finding');

    // Through the API: the aggregates (findings consumer) and, after a restart that reloads the
    // shared store, each finding by id.
    const overview = await get(`${api}/v1/overview`, ADMIN_KEY);
    assert.equal(overview.status, 200, JSON.stringify(overview.body));
    const qa = running.get('query-api');
    assert.ok(qa);
    await stopChild(qa.child);
    await start('query-api');
    await ready('query-api');
    for (const id of ids.slice(0, 5)) {
      const f = await get(`${api}/v1/findings/${id}`, ADMIN_KEY);
      assert.equal(f.status, 200, JSON.stringify(f.body));
      assert.equal((f.body as { sequence_id: string }).sequence_id, id);
    }
    const unauthorised = await get(`${api}/v1/findings`, 'not-a-key');
    assert.equal(unauthorised.status, 401);
  });

  it('replayed flow datagrams reach the collector: decoded, gaps and bad datagrams counted', async () => {
    const nf = `udp://127.0.0.1:${ports.netflow}`;
    await tidewatch('replay', FLOWS('ak-nf5/nfv5.pcap'), '--to', nf);
    await tidewatch(
      'replay',
      FLOWS('ak-nf9-juniper-mx960-data-before-template/data+templates.pcap'),
      '--to',
      nf,
    );
    await tidewatch(
      'replay',
      FLOWS('ak-sflow-basic/data-1140.pcap'),
      '--to',
      `udp://127.0.0.1:${ports.sflow}`,
    );
    await tidewatch(
      'replay',
      FLOWS('ak-ipfix-ipfixprobe-biflow-rfc5103/ipfixprobe-templates.pcap'),
      FLOWS('ak-ipfix-ipfixprobe-biflow-rfc5103/ipfixprobe-data.pcap'),
      '--to',
      `udp://127.0.0.1:${ports.ipfix}`,
    );
    // One exporter skipping 99 flows of its sequence, and a datagram that is no flow export.
    const sock = createSocket('udp4');
    const nowS = Math.floor(Date.now() / 1000);
    for (const b of [netflow5(1000, nowS), netflow5(1100, nowS), Buffer.from('not a flow export')]) {
      await new Promise<void>((r, j) => sock.send(b, ports.netflow, '127.0.0.1', (e) => (e ? j(e) : r())));
    }
    sock.close();
    const text = await waitFor(
      async () => {
        const t = await scrape('collector');
        return metricSum(t, 'tidewatch_collector_sequence_lost_total') > 0 &&
          metricSum(t, 'tidewatch_collector_decode_errors_total') > 0
          ? t
          : null;
      },
      { timeoutMs: 30_000, what: 'collector counted the gap and the bad datagram' },
    );
    assert.ok(metricSum(text, 'tidewatch_collector_records_total') > 0);
    assert.ok(metricSum(text, 'tidewatch_collector_published_records_total') > 0);
  });

  it('a real Prometheus scraping the services has data for every dashboard and alert metric', async () => {
    const promPort = await freePort('tcp');
    const config = join(dir, 'prometheus.yml');
    const targets = (['collector', 'sequencer', 'inference', 'query-api'] as const)
      .map((s) => `      - targets: ["127.0.0.1:${httpPort(s)}"]\n        labels: { service: ${s} }`)
      .join('\n');
    await writeFile(
      config,
      `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [${JSON.stringify(ALERTS)}]\nscrape_configs:\n  - job_name: tidewatch\n    static_configs:\n${targets}\n`,
    );
    const prom = spawn(
      'prometheus',
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
      ],
      { detached: true, stdio: 'ignore' },
    );
    others.push(prom);
    const query = async (q: string) => {
      const r = await get(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = r.body as { status: string; data: { result: { value: [number, string] }[] } };
      assert.equal(body.status, 'success', JSON.stringify(r.body));
      return body.data.result;
    };
    // Two scrapes of every target, all up.
    await waitFor(
      async () => {
        const r = await query('count_over_time(up{job="tidewatch"}[1m]) >= 2').catch(() => []);
        return r.length === 4;
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'two scrapes of the four services' },
    );
    assert.deepEqual(
      (await query('up{job="tidewatch"}')).map((s) => s.value[1]),
      ['1', '1', '1', '1'],
    );

    const rules = parseYaml(await readFile(ALERTS, 'utf8')) as {
      groups: { rules: { expr: string }[] }[];
    };
    const names = new Set<string>();
    for (const g of rules.groups) for (const r of g.rules) for (const n of metricNames(r.expr)) names.add(n);
    const dashboard = JSON.parse(await readFile(join(DASHBOARDS, 'overview.json'), 'utf8')) as {
      panels: { targets?: { expr: string }[] }[];
    };
    for (const p of dashboard.panels)
      for (const t of p.targets ?? []) for (const n of metricNames(t.expr)) names.add(n);
    assert.ok(names.size > 30, `only ${names.size} metric names found`);
    const missing: string[] = [];
    for (const name of [...names].sort()) {
      if ((await query(`count({__name__="${name}"})`)).length === 0) missing.push(name);
    }
    assert.deepEqual(missing, [], 'metrics queried by the dashboards/alerts with no data');

    const check = await run('promtool', ['check', 'rules', ALERTS]);
    assert.match(check.stdout, /SUCCESS: \d+ rules found/);
  });
});
