import { readFile } from 'node:fs/promises';

/**
 * Datagrams the kernel dropped on our UDP sockets (receive buffer full), read from the `drops`
 * column of /proc/net/udp and /proc/net/udp6 for the given local ports. Summed over every socket
 * bound to the port (SO_REUSEPORT gives several). Returns null where /proc is not available.
 */
export async function udpSocketDrops(ports: number[]): Promise<Map<number, number> | null> {
  const wanted = new Set(ports);
  const out = new Map<number, number>();
  for (const p of ports) out.set(p, 0);
  let found = false;
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    found = true;
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      const drops = cols[cols.length - 1];
      if (!local || drops === undefined || cols.length < 13) continue;
      const port = Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
      if (wanted.has(port)) out.set(port, (out.get(port) ?? 0) + Number(drops));
    }
  }
  return found ? out : null;
}
