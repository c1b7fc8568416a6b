import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ExportEncoder } from '@tidewatch/simulator';
import { freePort, REPO_ROOT, waitFor } from '@tidewatch/testing';

const run = promisify(execFile);

interface Running {
  child: ChildProcess;
  output: string[];
  stopped: Promise<number | null>;
}

/** Starts `pnpm tidewatch run` as a user would, in its own process group, and waits for READY. */
async function startTidewatch(args: string[], env: NodeJS.ProcessEnv): Promise<Running> {
  const child = spawn('pnpm', ['tidewatch', 'run', ...args], {
    cwd: REPO_ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  let buffered = '';
  child.stdout?.on('data', (d: Buffer) => {
    buffered += d.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    output.push(...lines.filter((l) => !l.startsWith('{')));
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const stopped = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await Promise.race([
    waitFor(() => output.includes('READY'), { timeoutMs: 180_000, what: 'tidewatch run to print READY' }),
    stopped.then((code) => {
      throw new Error(`tidewatch run exited early with ${code}: ${stderr.slice(-2000)}`);
    }),
  ]);
  return { child, output, stopped };
}

async function stopTidewatch(r: Running): Promise<void> {
  if (r.child.exitCode !== null || r.child.signalCode !== null) return;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-(r.child.pid as number), sig);
    } catch {
      // the process group is already gone
    }
  };
  signal('SIGTERM');
  const code = await Promise.race([
    r.stopped,
    new Promise((res) => setTimeout(() => res('timeout'), 60_000).unref()),
  ]);
  if (code === 'timeout') signal('SIGKILL');
}

interface ApiFinding {
  sequence_id: string;
  score: number;
  verdict: string;
  src_ip: string;
  connections: number;
}

describe('one-process mode: pnpm tidewatch run', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tw-run-'));
  const running: Running[] = [];
  after(async () => {
    for (const r of running) await stopTidewatch(r);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('finds the demo attacks with the same values as offline scoring, counts UDP exports, and keeps its data across a restart', {
    timeout: 900_000,
  }, async () => {
    const ports = {
      http: await freePort('tcp'),
      netflow: await freePort('udp'),
      ipfix: await freePort('udp'),
      sflow: await freePort('udp'),
    };
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      TIDEWATCH_DATA_DIR: dataDir,
      TIDEWATCH_HTTP_PORT: String(ports.http),
      TIDEWATCH_NETFLOW_PORT: String(ports.netflow),
      TIDEWATCH_IPFIX_PORT: String(ports.ipfix),
      TIDEWATCH_SFLOW_PORT: String(ports.sflow),
      TIDEWATCH_ADMIN_KEY: '',
    };
    const first = await startTidewatch(['--demo'], env);
    running.push(first);
    const api = `http://127.0.0.1:${ports.http}`;
    const key = /API key:\s+(\S+)/.exec(first.output.join('\n'))?.[1];
    const history = /from (\S+\.csv)/.exec(first.output.join('\n'))?.[1];
    assert.ok(
      key && history,
      `startup banner names the API key and the demo file:\n${first.output.join('\n')}`,
    );
    const get = async (path: string, auth = true) => {
      const res = await fetch(`${api}${path}`, auth ? { headers: { authorization: `Bearer ${key}` } } : {});
      return { status: res.status, body: (await res.json().catch(() => null)) as unknown };
    };

    assert.equal((await get('/v1/overview', false)).status, 401, 'the API needs a key');
    assert.equal((await get('/livez', false)).status, 200);

    // Offline scoring of the very file the demo imported: the pipeline must agree on every sequence.
    const { stdout } = await run('pnpm', ['tidewatch', 'score', '--format', 'tempo', history], {
      cwd: REPO_ROOT,
      maxBuffer: 256 * 1024 * 1024,
    });
    const offline = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as ApiFinding);
    const malicious = offline.filter((f) => f.verdict === 'malicious');
    assert.ok(
      offline.length > 1000 && malicious.length > 0,
      `offline: ${offline.length} sequences, ${malicious.length} malicious`,
    );
    const sample = [...malicious, ...offline.filter((_, i) => i % 25 === 0)];
    for (const expected of sample) {
      const found = await waitFor(
        async () => {
          const r = await get(`/v1/findings/${expected.sequence_id}`);
          return r.status === 200 ? (r.body as ApiFinding) : null;
        },
        { timeoutMs: 240_000, intervalMs: 500, what: `finding ${expected.sequence_id} in the API` },
      );
      assert.equal(found.verdict, expected.verdict, expected.sequence_id);
      assert.ok(
        Math.abs(found.score - expected.score) < 1e-5,
        `${expected.sequence_id}: API ${found.score} vs offline ${expected.score}`,
      );
      assert.equal(found.connections, expected.connections);
    }

    const storedBefore = ((await get('/v1/overview')).body as { total_sequences: number }).total_sequences;
    await stopTidewatch(first);

    // Restart on the same data directory: the key, the stored findings and the aggregates survive.
    const second = await startTidewatch([], env);
    running.push(second);
    assert.match(
      second.output.join('\n'),
      new RegExp(`API key:\\s+${key}`),
      'the restarted instance keeps its admin key',
    );
    const kept = await get(`/v1/findings/${malicious[0]?.sequence_id}`);
    assert.equal(kept.status, 200, 'stored findings survive the restart');
    const overview = (await get('/v1/overview')).body as { total_sequences: number };
    assert.ok(overview.total_sequences >= storedBefore, `${overview.total_sequences} >= ${storedBefore}`);
    await stopTidewatch(second);

    // Real NetFlow v9 datagrams to the UDP port are counted and sequenced. A fresh instance with
    // short windows, so the probe's window closes in seconds rather than the default five minutes.
    const third = await startTidewatch([], {
      ...env,
      TIDEWATCH_DATA_DIR: join(dataDir, 'short-windows'),
      TIDEWATCH_SEQUENCER_WINDOW_MS: '10000',
      TIDEWATCH_SEQUENCER_ALLOWED_LATENESS_MS: '5000',
      TIDEWATCH_SEQUENCER_IDLE_FLUSH_MS: '2000',
      TIDEWATCH_SEQUENCER_BIFLOW_TOLERANCE_MS: '500',
      TIDEWATCH_SEQUENCER_PAIR_BUCKET_MS: '3600000',
    });
    running.push(third);
    const thirdKey = /API key:\s+(\S+)/.exec(third.output.join('\n'))?.[1];
    const metric = async (name: string) => {
      const text = await (await fetch(`${api}/metrics`)).text();
      return text
        .split('\n')
        .filter((l) => l.startsWith(name))
        .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
    };
    const before = await metric('tidewatch_collector_records_total');
    const now = Date.now();
    const probe = Array.from({ length: 30 }, (_, i) => ({
      exporter: '127.0.0.1',
      observation_domain: 0,
      source_format: 'netflow9' as const,
      start_ms: now - 2000 + i,
      end_ms: now - 1000 + i,
      protocol: 6,
      src_ip: '198.51.100.7',
      dst_ip: '203.0.113.9',
      src_port: 40000 + i,
      dst_port: 22,
      fwd_bytes: 2100,
      fwd_pkts: 12,
      bwd_bytes: 0,
      bwd_pkts: 0,
      tcp_flags: 0x1b,
      sampling_rate: 1,
    }));
    const socket = createSocket('udp4');
    for (const d of new ExportEncoder({ protocol: 'netflow9', observationDomain: 77 }).encode(probe, now)) {
      await new Promise<void>((r, j) => socket.send(d, ports.netflow, '127.0.0.1', (e) => (e ? j(e) : r())));
    }
    socket.close();
    await waitFor(async () => (await metric('tidewatch_collector_records_total')) >= before + 30, {
      timeoutMs: 90_000,
      what: 'the collector to count the probe records',
    });
    const probeFindings = await waitFor(
      async () => {
        const res = await fetch(`${api}/v1/findings?src_ip=198.51.100.7`, {
          headers: { authorization: `Bearer ${thirdKey}` },
        });
        const r = { body: (await res.json()) as unknown };
        const items = (r.body as { items?: ApiFinding[] }).items ?? [];
        return items.length > 0 ? items : null;
      },
      { timeoutMs: 120_000, intervalMs: 1000, what: 'the UDP probe flows to be sequenced and scored' },
    );
    assert.equal(
      probeFindings.reduce((n, f) => n + f.connections, 0),
      30,
      'every probe flow is in exactly one sequence',
    );
  });
});
