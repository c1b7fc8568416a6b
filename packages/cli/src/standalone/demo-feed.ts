import { createSocket } from 'node:dgram';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExportEncoder, TEMPO_CSV_HEADER, TrafficSimulator, tempoCsvRow } from '@tidewatch/simulator';

export const DEMO_SEED = 42;
export const DEMO_HISTORY_MS = 60 * 60_000;
const WINDOW_MS = 300_000;

/**
 * Writes an hour of simulated history (ending at a window boundary before now, so later live
 * traffic never shares a window with it) as Tempo CSV. The file is what the demo imports, and
 * what `tidewatch score` can re-score offline to check the pipeline's findings.
 */
export function writeDemoHistory(
  dataDir: string,
  nowMs: number,
): { file: string; flows: number; malicious: number } {
  const end = Math.floor(nowMs / WINDOW_MS) * WINDOW_MS - WINDOW_MS;
  const flows = new TrafficSimulator({ seed: DEMO_SEED }).generate(end - DEMO_HISTORY_MS, end);
  const dir = join(dataDir, 'demo');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `history-${new Date(end).toISOString().replace(/[:.]/g, '-')}.csv`);
  writeFileSync(file, `${TEMPO_CSV_HEADER}\n${flows.map(tempoCsvRow).join('\n')}\n`);
  return { file, flows: flows.length, malicious: flows.filter((f) => f.label === 1).length };
}

/**
 * Live traffic: every `intervalMs`, the last interval's simulated flows are exported as NetFlow v9
 * to the collector's own UDP port, exactly as a router would send them.
 */
export class LiveDemoFeed {
  readonly #socket = createSocket('udp4');
  readonly #simulator = new TrafficSimulator({ seed: DEMO_SEED + 1 });
  readonly #encoder = new ExportEncoder({ protocol: 'netflow9' });
  #timer: NodeJS.Timeout | undefined;
  #last = Date.now();
  sent = 0;

  constructor(
    private readonly port: number,
    private readonly intervalMs = 10_000,
  ) {}

  start(): void {
    this.#timer = setInterval(() => this.#tick(), this.intervalMs);
    this.#timer.unref();
  }

  #tick(): void {
    const now = Date.now();
    const flows = this.#simulator.generate(this.#last, now);
    this.#last = now;
    for (const datagram of this.#encoder.encode(flows, now))
      this.#socket.send(datagram, this.port, '127.0.0.1');
    this.sent += flows.length;
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#socket.close();
  }
}
