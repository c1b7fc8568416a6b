import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  headers: IncomingMessage['headers'];
  url: string;
  body: string;
}

/** A real HTTP server whose answer per request is decided by `respond`. */
export async function startReceiver(
  respond: (
    req: Received,
  ) => { status: number; body?: unknown } | Promise<{ status: number; body?: unknown }>,
): Promise<{ url: string; requests: Received[]; server: Server; close(): Promise<void> }> {
  const requests: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const r: Received = {
        headers: req.headers,
        url: req.url ?? '/',
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(r);
      const out = await respond(r);
      res.writeHead(out.status, { 'content-type': 'application/json' });
      res.end(out.body === undefined ? '' : JSON.stringify(out.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    server,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/**
 * A Splunk HTTP Event Collector stand-in with indexer acknowledgement: it checks the token and the
 * channel header, parses the concatenated JSON events, answers {text, code: 0, ackId}, and reports
 * an ack as indexed on the second poll (so the sink must poll).
 */
export async function startHecReceiver(token: string) {
  const batches: { channel: string; events: Record<string, unknown>[] }[] = [];
  const errors: string[] = [];
  const polls = new Map<number, number>();
  let nextAck = 0;
  const rx = await startReceiver((r) => {
    if (r.headers.authorization !== `Splunk ${token}`) {
      errors.push(`bad authorization ${r.headers.authorization}`);
      return { status: 401, body: { text: 'Invalid token', code: 4 } };
    }
    const channel = r.headers['x-splunk-request-channel'];
    if (typeof channel !== 'string' || !/^[0-9a-f-]{36}$/.test(channel)) {
      errors.push('missing channel');
      return { status: 400, body: { text: 'Data channel is missing', code: 10 } };
    }
    if (r.url === '/services/collector/event') {
      const events: Record<string, unknown>[] = [];
      // HEC batches are JSON objects back to back; ours are newline-separated.
      for (const line of r.body.split('\n')) events.push(JSON.parse(line) as Record<string, unknown>);
      batches.push({ channel, events });
      return { status: 200, body: { text: 'Success', code: 0, ackId: nextAck++ } };
    }
    if (r.url.startsWith('/services/collector/ack')) {
      const { acks } = JSON.parse(r.body) as { acks: number[] };
      const out: Record<string, boolean> = {};
      for (const a of acks) {
        const n = (polls.get(a) ?? 0) + 1;
        polls.set(a, n);
        out[String(a)] = n >= 2;
      }
      return { status: 200, body: { acks: out } };
    }
    return { status: 404, body: { text: 'not found', code: 404 } };
  });
  return { ...rx, batches, errors, polls };
}
