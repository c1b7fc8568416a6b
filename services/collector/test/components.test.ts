import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { type BusProducer, InProcessBus, type OutgoingMessage } from '@tidewatch/bus';
import { createCodecs, type FlowRecord } from '@tidewatch/contracts';
import { freePort, waitFor } from '@tidewatch/testing';
import {
  collectorConfigFromEnv,
  createApp,
  DEFAULT_CONFIG,
  ExporterAllowList,
  FlowPublisher,
} from '../src/index.ts';
import { udpSocketDrops } from '../src/socket-drops.ts';

function flow(i: number): FlowRecord {
  return {
    exporter: '192.0.2.1',
    observation_domain: 0,
    source_format: 'netflow9',
    start_ms: 1_700_000_000_000 + i,
    end_ms: 1_700_000_000_500 + i,
    protocol: 6,
    src_ip: `10.0.0.${i % 250}`,
    dst_ip: '192.168.1.1',
    src_port: 1024 + i,
    dst_port: 443,
    fwd_bytes: 100,
    fwd_pkts: 1,
    bwd_bytes: 0,
    bwd_pkts: 0,
    tcp_flags: 2,
    sampling_rate: 1,
  };
}

/** A producer that holds every send until released, and can be told to fail. */
class GatedProducer implements BusProducer {
  sent: OutgoingMessage[][] = [];
  failures = 0;
  #release: (() => void)[] = [];
  gated = true;
  async send(_topic: string, messages: OutgoingMessage[]): Promise<void> {
    if (this.gated) await new Promise<void>((r) => this.#release.push(r));
    if (this.failures > 0) {
      this.failures--;
      throw new Error('broker unavailable');
    }
    this.sent.push(messages);
  }
  open(): void {
    this.gated = false;
    for (const r of this.#release.splice(0)) r();
  }
  async close(): Promise<void> {}
}

describe('FlowPublisher', () => {
  it('batches by size, keys by conversation, encodes Avro with the Confluent header', async () => {
    const codecs = await createCodecs();
    const producer = new GatedProducer();
    producer.gated = false;
    const p = new FlowPublisher(codecs.flows, producer, { batchSize: 10, lingerMs: 1000 });
    assert.equal(p.offer(Array.from({ length: 25 }, (_, i) => flow(i))), 0);
    await p.flush();
    assert.deepEqual(
      producer.sent.map((b) => b.length),
      [10, 10, 5],
    );
    const first = producer.sent[0]![0]!;
    assert.equal(first.key, '10.0.0.0|192.168.1.1');
    assert.equal(first.value[0], 0);
    assert.deepEqual(
      { ...codecs.flows.decode(first.value) },
      {
        ...flow(0),
        in_if: null,
        out_if: null,
        src_as: null,
        dst_as: null,
        vlan: null,
        icmp_type: null,
        icmp_code: null,
        label: null,
        attack: null,
        extra: {},
      },
    );
    assert.equal(p.stats.published, 25);
  });

  it('is bounded: offer() refuses what does not fit and counts it; write() waits for room', async () => {
    const codecs = await createCodecs();
    const producer = new GatedProducer();
    const p = new FlowPublisher(codecs.flows, producer, { batchSize: 5, lingerMs: 1, capacity: 10 });
    assert.equal(p.offer(Array.from({ length: 8 }, (_, i) => flow(i))), 0);
    assert.equal(p.offer(Array.from({ length: 3 }, (_, i) => flow(i))), 3, 'no room for 3 more');
    assert.equal(p.stats.refused, 3);
    await p.write(flow(98));
    await p.write(flow(99));
    assert.equal(p.pending, 10);
    let written = false;
    const pending = p.write(flow(100)).then(() => {
      written = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(written, false, 'write() waits while full');
    producer.open();
    await pending;
    await p.flush();
    assert.equal(p.stats.published, 11);
    assert.equal(producer.sent.flat().length, 11);
  });

  it('retries a failed produce until it succeeds: nothing accepted is lost', async () => {
    const codecs = await createCodecs();
    const producer = new GatedProducer();
    producer.gated = false;
    producer.failures = 2;
    const errors: number[] = [];
    const p = new FlowPublisher(
      codecs.flows,
      producer,
      { batchSize: 4, lingerMs: 1, retryDelayMs: 1 },
      { onProduceError: (_e, n) => errors.push(n) },
    );
    p.offer(Array.from({ length: 4 }, (_, i) => flow(i)));
    await p.flush();
    assert.deepEqual(errors, [4, 4]);
    assert.equal(p.stats.produceErrors, 2);
    assert.equal(producer.sent.flat().length, 4);
  });

  it('counts flows the schema refuses instead of throwing', async () => {
    const codecs = await createCodecs();
    const producer = new GatedProducer();
    producer.gated = false;
    const p = new FlowPublisher(codecs.flows, producer, { lingerMs: 1 });
    const bad = { ...flow(1), src_port: 1.5 } as FlowRecord;
    assert.equal(p.offer([flow(0), bad]), 0);
    await p.flush();
    assert.equal(p.stats.encodeErrors, 1);
    assert.equal(p.stats.published, 1);
  });
});

describe('ExporterAllowList', () => {
  it('matches IPv4 and IPv6 CIDRs, v4-mapped sources, and refuses bad entries by name', () => {
    const allow = new ExporterAllowList(['10.1.0.0/16', '192.0.2.7', '2001:db8::/32', '::1']);
    assert.equal(allow.allows('10.1.200.3'), true);
    assert.equal(allow.allows('10.2.0.1'), false);
    assert.equal(allow.allows('192.0.2.7'), true);
    assert.equal(allow.allows('192.0.2.8'), false);
    assert.equal(allow.allows('::ffff:10.1.0.9'), true);
    assert.equal(allow.allows('2001:db8:1::5'), true);
    assert.equal(allow.allows('2001:db9::5'), false);
    assert.equal(allow.allows('::1'), true);
    assert.equal(new ExporterAllowList(['10.0.0.0/9']).allows('10.127.255.255'), true);
    assert.equal(new ExporterAllowList(['10.0.0.0/9']).allows('10.128.0.0'), false);
    assert.equal(new ExporterAllowList([]).allows('203.0.113.1'), true);
    assert.throws(
      () => new ExporterAllowList(['10.0.0.0/33']),
      /'10\.0\.0\.0\/33' has a bad prefix length \(0-32\)/,
    );
    assert.throws(() => new ExporterAllowList(['router1']), /'router1' is not an IP address or CIDR/);
  });

  it('matches an address by its value, whatever zone id it carries', () => {
    const allow = new ExporterAllowList(['2001:db8::a', '::ffff:c000:200/120']);
    assert.equal(allow.allows('2001:db8::a%x:y'), true);
    assert.equal(allow.allows('2001:db8::a:0'), false);
    assert.equal(allow.allows('::ffff:192.0.2.9%eth0'), true);
  });
});

describe('collector configuration', () => {
  it('reads the DESIGN.md names; 0 disables a listener; bad values name the variable', () => {
    const c = collectorConfigFromEnv({
      TIDEWATCH_NETFLOW_PORT: '9995',
      TIDEWATCH_IPFIX_PORT: '0',
      KAFKA_BROKERS: 'a:9092, b:9092',
      TIDEWATCH_EXPORTER_ALLOW: '10.0.0.0/8,192.0.2.1',
      TIDEWATCH_COLLECTOR_SOCKETS: '4',
      TIDEWATCH_COLLECTOR_WORKERS: '2',
    });
    assert.equal(c.decodeWorkers, 2);
    assert.equal(collectorConfigFromEnv({}).decodeWorkers, 0);
    assert.equal(c.netflowPort, 9995);
    assert.equal(c.ipfixPort, null);
    assert.equal(c.sflowPort, 6343);
    assert.deepEqual(c.kafkaBrokers, ['a:9092', 'b:9092']);
    assert.deepEqual(c.allowedExporters, ['10.0.0.0/8', '192.0.2.1']);
    assert.equal(c.socketsPerPort, 4);
    assert.throws(
      () => collectorConfigFromEnv({ TIDEWATCH_SFLOW_PORT: '70000' }),
      /^ConfigError: TIDEWATCH_SFLOW_PORT: expected an integer 0-65535, got "70000"$/,
    );
    assert.throws(
      () => collectorConfigFromEnv({ TIDEWATCH_EXPORTER_ALLOW: 'x' }),
      /^ConfigError: TIDEWATCH_EXPORTER_ALLOW: /,
    );
  });

  it('maps the publisher knobs and switches; empty values keep the defaults', () => {
    const c = collectorConfigFromEnv({
      TIDEWATCH_COLLECTOR_BATCH: '500',
      TIDEWATCH_COLLECTOR_LINGER_MS: '0',
      TIDEWATCH_COLLECTOR_QUEUE: '20000',
      TIDEWATCH_COLLECTOR_PRODUCERS: '3',
      TIDEWATCH_FLOWS_TOPIC: 'flows.test',
      TIDEWATCH_COLLECTOR_IPFIX_TCP: 'false',
      TIDEWATCH_COLLECTOR_HOST: ' 127.0.0.1 ',
      TIDEWATCH_HTTP_PORT: '0',
      TIDEWATCH_COLLECTOR_RCVBUF: '',
    });
    assert.deepEqual(c.publisher, {
      batchSize: 500,
      lingerMs: 0,
      capacity: 20_000,
      concurrency: 3,
      topic: 'flows.test',
    });
    assert.equal(c.ipfixTcp, false);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.httpPort, 0);
    assert.equal(c.recvBufferBytes, DEFAULT_CONFIG.recvBufferBytes);
    assert.deepEqual(collectorConfigFromEnv({}).publisher, {});
    assert.throws(
      () => collectorConfigFromEnv({ TIDEWATCH_COLLECTOR_QUEUE: '999' }),
      /^ConfigError: TIDEWATCH_COLLECTOR_QUEUE: expected an integer 1000-10000000, got "999"$/,
    );
  });
});

describe('collector app', () => {
  it('drops datagrams from exporters outside the allow-list, counts them, survives garbage', async () => {
    const bus = new InProcessBus();
    const app = createApp(
      {
        ...DEFAULT_CONFIG,
        netflowPort: 0,
        ipfixPort: 0,
        sflowPort: null,
        host: '127.0.0.1',
        httpPort: 0,
        allowedExporters: ['192.0.2.0/24'],
      },
      { bus },
    );
    await app.start();
    try {
      const { createSocket } = await import('node:dgram');
      const s = createSocket('udp4');
      for (let i = 0; i < 5; i++) s.send(Buffer.from([0, 5, 0, 1, 2, 3]), app.ports.netflow!, '127.0.0.1');
      await waitFor(() => app.metrics.counters.notAllowed === 5, { what: '5 refused datagrams' });
      s.close();
      assert.equal(app.decoder.stats.datagrams, 0);
      const text = await (await fetch(`http://127.0.0.1:${app.ports.http}/metrics`)).text();
      assert.match(text, /tidewatch_collector_rejected_datagrams_total\{reason="not_allowed"\} 5/);
      assert.equal((await fetch(`http://127.0.0.1:${app.ports.http}/livez`)).status, 200);
    } finally {
      await app.stop();
      await bus.close();
    }
  });

  it('a start that fails (a port in use) says why and releases every port it had bound', async () => {
    const { createSocket } = await import('node:dgram');
    const taken = createSocket('udp4');
    const takenPort = await freePort('udp');
    await new Promise<void>((r) => taken.bind(takenPort, '127.0.0.1', () => r()));
    const netflowPort = await freePort('udp');
    const bus = new InProcessBus();
    const app = createApp(
      {
        ...DEFAULT_CONFIG,
        netflowPort,
        ipfixPort: null,
        sflowPort: takenPort,
        host: '127.0.0.1',
        httpPort: null,
      },
      { bus },
    );
    try {
      await assert.rejects(app.start(), /EADDRINUSE/);
      // the netflow listener bound before sFlow failed is closed again: its port binds exclusively
      const probe = createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        probe.once('error', reject);
        probe.bind({ port: netflowPort, address: '127.0.0.1', exclusive: true }, () => resolve());
      });
      probe.close();
    } finally {
      taken.close();
      await bus.close();
    }
  });

  it('IPFIX over TCP: shares the port-0 pick with UDP; a stream that breaks message framing is closed and counted', async () => {
    const bus = new InProcessBus();
    const app = createApp(
      {
        ...DEFAULT_CONFIG,
        netflowPort: null,
        ipfixPort: 0,
        sflowPort: null,
        host: '127.0.0.1',
        httpPort: null,
      },
      { bus },
    );
    await app.start();
    try {
      assert.ok(app.ports.ipfix && app.ports.ipfix > 0);
      assert.equal(app.ports.ipfixTcp, app.ports.ipfix);
      const sock = connect(app.ports.ipfixTcp!, '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      const closed = new Promise((r) => sock.once('close', r));
      // version 9 is not IPFIX: the stream cannot be trusted past this point
      sock.write(Buffer.from([0, 9, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
      await closed;
      assert.equal(app.metrics.counters.tcpFramingErrors, 1);
    } finally {
      await app.stop();
      await bus.close();
    }
  });
});

describe('socket drops', () => {
  it('reads /proc/net/udp for our ports (zero for a quiet socket)', async () => {
    const { createSocket } = await import('node:dgram');
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const port = s.address().port;
    const drops = await udpSocketDrops([port]);
    s.close();
    assert.ok(drops, '/proc/net/udp is readable on Linux');
    assert.equal(drops.get(port), 0);
  });
});

/** One NetFlow v9 datagram: a template (256: src, dst, ports, proto, bytes, pkts) and its records. */
function v9Datagram(seq: number, sources: string[]): Buffer {
  const fields: [number, number][] = [
    [8, 4],
    [12, 4],
    [7, 2],
    [11, 2],
    [4, 1],
    [1, 4],
    [2, 4],
  ];
  const tpl = Buffer.alloc(8 + fields.length * 4);
  tpl.writeUInt16BE(0, 0);
  tpl.writeUInt16BE(tpl.length, 2);
  tpl.writeUInt16BE(256, 4);
  tpl.writeUInt16BE(fields.length, 6);
  fields.forEach(([id, len], i) => {
    tpl.writeUInt16BE(id, 8 + i * 4);
    tpl.writeUInt16BE(len, 10 + i * 4);
  });
  const data = Buffer.alloc(4 + sources.length * 21);
  data.writeUInt16BE(256, 0);
  data.writeUInt16BE(data.length, 2);
  sources.forEach((src, k) => {
    const o = 4 + k * 21;
    src.split('.').forEach((x, j) => {
      data[o + j] = Number(x);
    });
    data.writeUInt32BE(0xc0a80101, o + 4);
    data.writeUInt16BE(40000 + k, o + 8);
    data.writeUInt16BE(443, o + 10);
    data[o + 12] = 6;
    data.writeUInt32BE(1000 + k, o + 13);
    data.writeUInt32BE(3, o + 17);
  });
  const h = Buffer.alloc(20);
  h.writeUInt16BE(9, 0);
  h.writeUInt16BE(1 + sources.length, 2);
  h.writeUInt32BE(1_000_000, 4);
  h.writeUInt32BE(1_700_000_000, 8);
  h.writeUInt32BE(seq, 12);
  h.writeUInt32BE(7, 16);
  return Buffer.concat([h, tpl, data]);
}

describe('collector app with decode workers', () => {
  it('several exporters through 2 workers: every flow published once, stats and allow-list merged', async () => {
    const bus = new InProcessBus();
    const topic = `flows.workers.${Date.now()}`;
    const app = createApp(
      {
        ...DEFAULT_CONFIG,
        netflowPort: 0,
        ipfixPort: null,
        sflowPort: null,
        host: '127.0.0.1',
        httpPort: 0,
        decodeWorkers: 2,
        allowedExporters: ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'],
        publisher: { topic, lingerMs: 5 },
      },
      { bus },
    );
    await app.start();
    const { createSocket } = await import('node:dgram');
    const socks = [];
    try {
      for (let e = 1; e <= 5; e++) {
        const s = createSocket('udp4');
        await new Promise<void>((r) => s.bind(0, `127.0.0.${e}`, () => r()));
        socks.push(s);
        const sources = [1, 2, 3].map((k) => `10.0.${e}.${k}`);
        await new Promise((r) => s.send(v9Datagram(0, sources), app.ports.netflow!, '127.0.0.1', r));
      }
      await waitFor(() => app.publisher.stats.published === 12, { what: '12 flows published' });
      const { flows } = await createCodecs();
      const got: { key: string; exporter: string; src: string }[] = [];
      const consumer = bus.consumer({ groupId: 'workers-test', topics: [topic], fromBeginning: true });
      await consumer.run(async (batch) => {
        for (const m of batch) {
          const f = flows.decode(m.value);
          got.push({ key: String(m.key), exporter: f.exporter, src: f.src_ip });
        }
      });
      await waitFor(() => got.length >= 12, { what: '12 flows consumed' });
      await consumer.stop();
      assert.equal(got.length, 12);
      const expected = [1, 2, 3, 4].flatMap((e) =>
        [1, 2, 3].map((k) => ({
          key: `10.0.${e}.${k}|192.168.1.1`,
          exporter: `127.0.0.${e}`,
          src: `10.0.${e}.${k}`,
        })),
      );
      const order = (a: { key: string }, b: { key: string }) => a.key.localeCompare(b.key);
      assert.deepEqual(got.sort(order), expected.sort(order));
      // worker stats arrive every second
      await waitFor(() => app.metrics.counters.notAllowed === 1, { what: 'the 5th exporter refused' });
      await waitFor(
        async () => {
          const text = await (await fetch(`http://127.0.0.1:${app.ports.http}/metrics`)).text();
          return [1, 2, 3, 4].every((e) =>
            text.includes(
              `tidewatch_collector_datagrams_total{exporter="127.0.0.${e}",protocol="netflow9"} 1`,
            ),
          );
        },
        { what: 'per-exporter datagram counts from the workers' },
      );
    } finally {
      for (const s of socks) s.close();
      await app.stop();
      await bus.close();
    }
  });
});
