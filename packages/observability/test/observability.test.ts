import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@tidewatch/testing';
import { createLogger, HealthServer, MetricNameError, metricName, ServiceMetrics } from '../src/index.ts';

describe('metric names', () => {
  it('follow tidewatch_<service>_<what>_<unit>, counters ending in _total', () => {
    assert.equal(
      metricName('collector', 'packets_received', 'packets'),
      'tidewatch_collector_packets_received_packets',
    );
    assert.equal(
      metricName('sequencer', 'flows_in', 'flows', 'counter'),
      'tidewatch_sequencer_flows_in_flows_total',
    );
    assert.throws(() => metricName('Collector', 'x', 'y'), MetricNameError);
    assert.throws(
      () => metricName('collector', 'bad-name', 'bytes'),
      /metric what "bad-name" is not lowercase snake_case/,
    );
    assert.throws(() => metricName('collector', 'drops', 'total'), /counters get _total added/);
  });

  it('refuse unbounded labels such as addresses', () => {
    const metrics = new ServiceMetrics('collector');
    assert.throws(
      () => metrics.counter({ what: 'flows', unit: 'flows', help: 'x', labelNames: ['src_ip'] }),
      /label "src_ip" is unbounded/,
    );
  });

  it('are exposed with their values in the text format', async () => {
    const metrics = new ServiceMetrics('collector', { defaultMetrics: true });
    const dropped = metrics.counter({
      what: 'dropped',
      unit: 'packets',
      help: 'Packets dropped, by reason.',
      labelNames: ['reason'],
    });
    dropped.inc({ reason: 'malformed' }, 3);
    const { body, contentType } = await metrics.exposition();
    assert.match(contentType, /^text\/plain/);
    assert.match(body, /^tidewatch_collector_dropped_packets_total\{reason="malformed"\} 3$/m);
    assert.match(body, /^process_cpu_seconds_total /m);
  });
});

describe('createLogger', () => {
  it('writes JSON lines with the service and component, secrets redacted', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = createLogger({ name: 'inference', level: 'info', destination });
    logger
      .child({ component: 'model' })
      .info({ password: 'p4ss', kafka: { sasl: 'x', brokers: ['a:1'] } }, 'hello');
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(line['service'], 'inference');
    assert.equal(line['component'], 'model');
    assert.equal(line['msg'], 'hello');
    assert.equal(line['password'], '[redacted]');
    assert.deepEqual(line['kafka'], { sasl: '[redacted]', brokers: ['a:1'] });
  });
});

describe('HealthServer', () => {
  it('serves /livez, /readyz (following the ready callback) and /metrics', async () => {
    const metrics = new ServiceMetrics('query_api');
    metrics.gauge({ what: 'open_cases', unit: 'cases', help: 'Open cases.' }).set(4);
    let ready = false;
    const server = new HealthServer({
      port: 0,
      host: '127.0.0.1',
      registry: metrics.registry,
      ready: () => ready,
    });
    const port = await server.start();
    try {
      const get = (path: string) => fetch(`http://127.0.0.1:${port}${path}`);
      assert.equal((await get('/livez')).status, 200);
      const notReady = await get('/readyz');
      assert.equal(notReady.status, 503);
      assert.deepEqual(await notReady.json(), { status: 'not ready' });
      ready = true;
      assert.equal((await get('/readyz')).status, 200);
      const scraped = await (await get('/metrics')).text();
      assert.match(scraped, /^tidewatch_query_api_open_cases_cases 4$/m);
      assert.equal((await get('/nope')).status, 404);
    } finally {
      await server.stop();
    }
  });
});

describe('runMain', () => {
  const program = fileURLToPath(new URL('./fixtures/toy-service.ts', import.meta.url));

  function start(env: Record<string, string>) {
    const child = spawn(process.execPath, ['--import', 'tsx', program], {
      env: { PATH: process.env['PATH'] ?? '', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = { stdout: '', stderr: '' };
    child.stdout!.on('data', (d) => {
      out.stdout += String(d);
    });
    child.stderr!.on('data', (d) => {
      out.stderr += String(d);
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, out, exited };
  }

  const logLines = (stdout: string) =>
    stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  async function healthPort(out: { stdout: string }): Promise<number> {
    return waitFor(() => logLines(out.stdout).find((l) => l['component'] === 'health')?.['port'] as number, {
      what: 'the health server',
      timeoutMs: 20_000,
    });
  }

  const kill = (child: ChildProcess) => {
    if (child.exitCode === null) child.kill('SIGKILL');
  };

  it('exits 1 naming the variable when the configuration is bad', async () => {
    const { out, exited } = start({ TOY_HEALTH_PORT: 'abc' });
    assert.equal(await exited, 1);
    assert.match(
      out.stderr,
      /toy: configuration error:\nTOY_HEALTH_PORT: expected an integer 0-65535, got "abc"/,
    );
  });

  it('logs the masked config, becomes ready, and on SIGTERM stops the app and exits 0', async () => {
    const { child, out, exited } = start({ TOY_TOKEN: 'sekrit' });
    try {
      const port = await healthPort(out);
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, {
        what: 'ready',
      });
      assert.match(
        await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(),
        /^tidewatch_toy_ticks_events_total \d+/m,
      );
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      const messages = logLines(out.stdout);
      const configLine = messages.find((l) => l['msg'] === 'effective configuration');
      // maskConfig ran, and the logger's own redaction of `token` sits on top of it.
      assert.deepEqual(configLine?.['config'], { port: 0, hang: false, token: '[redacted]' });
      assert.ok(!out.stdout.includes('sekrit'));
      const order = messages
        .map((l) => l['msg'])
        .filter((m) => ['started', 'shutting down', 'app stopped', 'stopped'].includes(m as string));
      // Lines come through more than one pino stream, so stdout order may interleave: check that
      // all four were logged and that their timestamps run in the shutdown order.
      assert.deepEqual([...order].sort(), ['app stopped', 'shutting down', 'started', 'stopped']);
      const at = (msg: string) => Number(messages.find((l) => l['msg'] === msg)?.['time']);
      assert.ok(at('started') <= at('shutting down'));
      assert.ok(at('shutting down') <= at('app stopped') && at('app stopped') <= at('stopped'));
    } finally {
      kill(child);
    }
  });

  it('exits 1 when stop() does not finish before the deadline', async () => {
    const { child, out, exited } = start({ TOY_STOP_HANGS: '1' });
    try {
      await healthPort(out);
      await waitFor(() => logLines(out.stdout).some((l) => l['msg'] === 'started'), { what: 'started' });
      child.kill('SIGINT');
      assert.equal(await exited, 1);
      assert.ok(logLines(out.stdout).some((l) => l['msg'] === 'shutdown deadline passed; exiting'));
    } finally {
      kill(child);
    }
  });
});
