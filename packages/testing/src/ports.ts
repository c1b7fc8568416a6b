import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const handedOut = new Set<number>();

/**
 * A loopback port free right now for a service the test starts later, taken below the kernel's
 * ephemeral range (usually 32768-60999). Asking the kernel for port 0 and closing it hands out an
 * ephemeral port, and any outgoing connection (a Kafka client, a fetch) can take that port before
 * the service binds it: CI saw exactly that as EADDRINUSE. scripts/services.sh picks its ports the
 * same way. Ports already handed out in this process are never handed out again.
 */
export async function freePort(kind: 'tcp' | 'udp'): Promise<number> {
  const low = 20000;
  const high = ephemeralLow() - 1;
  for (let tries = 0; tries < 200; tries++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (handedOut.has(port)) continue;
    if (await canBind(kind, port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free ${kind} loopback port between ${low} and ${high}`);
}

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 21000) return low;
  } catch {
    // not Linux: the IANA dynamic range starts at 49152, and 32768 is below it
  }
  return 32768;
}

function canBind(kind: 'tcp' | 'udp', port: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (kind === 'udp') {
      const s = createSocket('udp4');
      s.once('error', () => {
        s.close();
        resolve(false);
      });
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
      return;
    }
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}
