import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { DIM, type Harness, type Json, makeFinding, makeFlows, seqId, startHarness, T0 } from './harness.ts';

const SEEDED = 40;

function parse(result: unknown): Json {
  const r = result as { isError?: boolean; content: { type: string; text: string }[] };
  assert.equal(r.isError ?? false, false, r.content[0]?.text);
  return JSON.parse(r.content[0]?.text ?? 'null');
}

async function httpClient(h: Harness, key: string | null): Promise<Client> {
  const client = new Client({ name: 'test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${h.url}/mcp`), {
    requestInit: { headers: key ? { authorization: `Bearer ${key}` } : {} },
  });
  await client.connect(transport);
  return client;
}

describe('MCP server', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ seed: SEEDED });
    const f = makeFinding(3);
    await h.api.services.stores.evidence.put({
      sequence_id: f.sequence_id,
      src_ip: f.src_ip,
      dst_ip: f.dst_ip,
      window_start_ms: f.window_start_ms,
      window_end_ms: f.window_end_ms,
      flows: makeFlows(3, 4),
    });
  });
  after(async () => h?.close());

  it('lists the tools with read-only annotations on the read tools (Streamable HTTP)', async () => {
    const client = await httpClient(h, h.keys.read);
    try {
      const { tools } = await client.listTools();
      const byName = new Map(tools.map((t) => [t.name, t]));
      const read = [
        'list_findings',
        'get_finding',
        'nearest_neighbors',
        'technique_rollup',
        'get_evidence',
        'search_evidence',
        'list_cases',
        'get_case',
        'export_navigator_layer',
      ];
      const write = ['create_case', 'update_case'];
      assert.deepEqual([...byName.keys()].sort(), [...read, ...write].sort());
      for (const n of read) assert.equal(byName.get(n)?.annotations?.readOnlyHint, true, n);
      for (const n of write) assert.equal(byName.get(n)?.annotations?.readOnlyHint, false, n);
    } finally {
      await client.close();
    }
  });

  it('answers the read tools', async () => {
    const client = await httpClient(h, h.keys.read);
    try {
      const list = parse(
        await client.callTool({ name: 'list_findings', arguments: { verdict: 'malicious', limit: 100 } }),
      );
      assert.equal(
        list.items.length,
        Array.from({ length: SEEDED }, (_, n) => n).filter((n) => n % 3 === 0).length,
      );
      const one = parse(await client.callTool({ name: 'get_finding', arguments: { id: seqId(3) } }));
      assert.equal(one.src_ip, '10.0.0.4');
      const nn = parse(
        await client.callTool({ name: 'nearest_neighbors', arguments: { id: seqId(4), k: 3 } }),
      );
      assert.equal(nn.length, 3);
      assert.ok(nn.every((x: { similarity: number }) => x.similarity > 0.99));
      const roll = parse(
        await client.callTool({ name: 'technique_rollup', arguments: { from: String(T0) } }),
      );
      assert.equal(roll.techniques.length, 4);
      const ev = parse(await client.callTool({ name: 'get_evidence', arguments: { id: seqId(3) } }));
      assert.equal(ev.flows.length, 4);
      const search = parse(
        await client.callTool({ name: 'search_evidence', arguments: { port: 53, protocol: 6 } }),
      );
      assert.equal(search.flows.length, 4);
      assert.equal(search.flows[0].sequence_id, seqId(3));
      const layer = parse(
        await client.callTool({ name: 'export_navigator_layer', arguments: { from: String(T0) } }),
      );
      assert.equal(layer.versions.layer, '4.5');
      const missing = (await client.callTool({ name: 'get_finding', arguments: { id: seqId(9999) } })) as {
        isError: boolean;
        content: { text: string }[];
      };
      assert.equal(missing.isError, true);
      assert.equal(missing.content[0]?.text, `finding ${seqId(9999)} not found`);
    } finally {
      await client.close();
    }
  });

  it('refuses write tools to a read key and runs them for a write key', async () => {
    const reader = await httpClient(h, h.keys.read);
    try {
      const refused = (await reader.callTool({ name: 'create_case', arguments: { title: 'nope' } })) as {
        isError: boolean;
        content: { text: string }[];
      };
      assert.equal(refused.isError, true);
      assert.equal(refused.content[0]?.text, 'this tool needs a key with the write scope');
    } finally {
      await reader.close();
    }
    const writer = await httpClient(h, h.keys.write);
    try {
      const c = parse(
        await writer.callTool({
          name: 'create_case',
          arguments: { title: 'From the assistant', finding_ids: [seqId(0)] },
        }),
      );
      const u = parse(
        await writer.callTool({
          name: 'update_case',
          arguments: { id: c.id, status: 'in_progress', note: 'looking', add_findings: [seqId(3)] },
        }),
      );
      assert.equal(u.status, 'in_progress');
      assert.deepEqual(u.finding_ids, [seqId(0), seqId(3)]);
      const got = parse(await writer.callTool({ name: 'get_case', arguments: { id: c.id } }));
      assert.equal(got.notes[0].text, 'looking');
      const all = parse(await writer.callTool({ name: 'list_cases', arguments: { status: 'in_progress' } }));
      assert.ok(all.some((x: { id: string }) => x.id === c.id));
    } finally {
      await writer.close();
    }
  });

  it('needs a key to connect over HTTP', async () => {
    await assert.rejects(httpClient(h, null), /401|Unauthorized|missing API key/i);
    const r = await fetch(`${h.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(r.status, 401);
  });

  it('serves the same tools over stdio', async () => {
    const root = fileURLToPath(new URL('../../..', import.meta.url));
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ['--import', 'tsx', join(root, 'services/query-api/src/mcp/stdio.ts')],
      cwd: root,
      env: {
        ...(process.env as Record<string, string>),
        TIDEWATCH_DATA_DIR: h.dataDir,
        TIDEWATCH_EMBEDDING_DIM: String(DIM),
        TIDEWATCH_API_KEY: h.keys.read,
        REDIS_URL: '',
        TIDEWATCH_ADMIN_KEY: '',
      },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'stdio-test', version: '1.0.0' });
    await client.connect(transport);
    try {
      const one = parse(await client.callTool({ name: 'get_finding', arguments: { id: seqId(6) } }));
      assert.equal(one.sequence_id, seqId(6));
      const refused = (await client.callTool({
        name: 'update_case',
        arguments: { id: seqId(1), note: 'x' },
      })) as { isError: boolean };
      assert.equal(refused.isError, true);
    } finally {
      await client.close();
    }
  });
});
