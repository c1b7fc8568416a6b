import type { FlowRecord } from '@tidewatch/contracts';
import { buildNetwork, type SimulatedNetwork } from './network.ts';
import { SeededRandom } from './random.ts';

/** Ground truth the simulator knows about every flow it makes. */
export interface SimulatedFlow extends FlowRecord {
  label: number;
  attack: string;
  /** ATT&CK tactic id of the scenario, null for benign traffic. */
  tactic: string | null;
}

export const ATTACK_SCENARIOS = {
  horizontal_scan: { tactic: 'TA0043', technique: 'T1595.001' },
  vertical_scan: { tactic: 'TA0007', technique: 'T1046' },
  ssh_bruteforce: { tactic: 'TA0006', technique: 'T1110.001' },
  rdp_bruteforce: { tactic: 'TA0006', technique: 'T1110.001' },
  c2_beacon: { tactic: 'TA0011', technique: 'T1071.001' },
  slow_exfiltration: { tactic: 'TA0010', technique: 'T1048' },
  dos: { tactic: 'TA0040', technique: 'T1498' },
  reflection: { tactic: 'TA0040', technique: 'T1498.002' },
  internet_scan: { tactic: 'TA0043', technique: 'T1595.001' },
} as const;
export type AttackScenario = keyof typeof ATTACK_SCENARIOS;

export const BENIGN_MIXES = ['dns', 'web', 'mail', 'updates', 'backup', 'iot'] as const;

const TCP_OK = 0x1b; // FIN|SYN|PSH|ACK
const TCP_SYN = 0x02;
const TCP_RST_ACK = 0x14;

export interface SimulatorOptions {
  seed?: number;
  workstations?: number;
  iot?: number;
  /** Which attacks to include (default all). */
  attacks?: AttackScenario[];
  /** Multiplies the benign volume (1 = a quiet office of ~40 hosts). */
  benignScale?: number;
}

/**
 * Generates the flows of a simulated site between two instants, sorted by start time.
 * Deterministic for a given seed and interval, so the same data can be scored offline.
 */
export class TrafficSimulator {
  readonly network: SimulatedNetwork;
  readonly #opts: Required<SimulatorOptions>;

  constructor(opts: SimulatorOptions = {}) {
    this.#opts = {
      seed: opts.seed ?? 1,
      workstations: opts.workstations ?? 40,
      iot: opts.iot ?? 12,
      attacks: opts.attacks ?? (Object.keys(ATTACK_SCENARIOS) as AttackScenario[]),
      benignScale: opts.benignScale ?? 1,
    };
    this.network = buildNetwork(new SeededRandom(this.#opts.seed), this.#opts);
  }

  generate(fromMs: number, toMs: number): SimulatedFlow[] {
    const rng = new SeededRandom((this.#opts.seed * 2654435761) ^ Math.floor(fromMs / 1000));
    const out: SimulatedFlow[] = [];
    const emit = new FlowEmitter(out);
    const span = toMs - fromMs;
    const scale = this.#opts.benignScale * (span / 300_000);
    const net = this.network;

    for (const ws of net.workstations) {
      const n = (k: number) => Math.max(0, Math.round(rng.logNormal(k * scale, 0.4)));
      for (let i = n(8); i > 0; i--) {
        const t = fromMs + rng.next() * span;
        emit.udp(
          t,
          ws,
          net.dnsServer,
          rng.int(32768, 60999),
          53,
          rng.int(60, 90),
          rng.int(90, 300),
          5 + rng.next() * 40,
          'dns',
        );
      }
      for (let i = n(12); i > 0; i--) {
        const t = fromMs + rng.next() * span;
        const dst = rng.pick(net.externalWeb);
        const port = rng.chance(0.9) ? 443 : 80;
        emit.tcp(
          t,
          ws,
          dst,
          rng.int(32768, 60999),
          port,
          rng.logNormal(1500, 0.8),
          rng.logNormal(40_000, 1.5),
          rng.logNormal(2000, 1.2),
          'web',
          rng,
        );
      }
      for (let i = n(1.5); i > 0; i--) {
        const t = fromMs + rng.next() * span;
        emit.tcp(
          t,
          ws,
          net.mailServer,
          rng.int(32768, 60999),
          rng.pick([587, 993]),
          rng.logNormal(3000, 1),
          rng.logNormal(12_000, 1.2),
          rng.logNormal(800, 1),
          'mail',
          rng,
        );
      }
      for (let i = n(3); i > 0; i--) {
        const t = fromMs + rng.next() * span;
        emit.tcp(
          t,
          ws,
          net.fileServer,
          rng.int(49152, 65535),
          445,
          rng.logNormal(4000, 1),
          rng.logNormal(30_000, 1.4),
          rng.logNormal(500, 1),
          'smb',
          rng,
        );
      }
      if (rng.chance(0.04 * scale)) {
        const t = fromMs + rng.next() * span;
        emit.tcp(
          t,
          ws,
          rng.pick(net.updateServers),
          rng.int(32768, 60999),
          443,
          20_000,
          rng.logNormal(40_000_000, 0.7),
          60_000,
          'updates',
          rng,
        );
      }
    }
    // Nightly-style backup: one large upload per window from the file server (benign look-alike of exfiltration).
    if (rng.chance(Math.min(1, 0.3 * scale))) {
      const t = fromMs + rng.next() * span * 0.5;
      emit.tcp(
        t,
        net.fileServer,
        net.backupServer,
        rng.int(32768, 60999),
        22,
        rng.logNormal(200_000_000, 0.5),
        400_000,
        120_000,
        'backup',
        rng,
      );
    }
    // Chatty IoT: periodic small check-ins to its cloud (benign look-alike of beaconing).
    for (const dev of net.iot) {
      const cloud = net.iotCloud[dev.length % net.iotCloud.length] as string;
      const period = 30_000 + (Number(dev.split('.')[3]) % 5) * 15_000;
      for (let t = fromMs + ((Number(dev.split('.')[3]) * 997) % period); t < toMs; t += period) {
        emit.tcp(
          t,
          dev,
          cloud,
          rng.int(32768, 60999),
          8883,
          rng.int(300, 500),
          rng.int(200, 400),
          200 + rng.next() * 300,
          'iot',
          rng,
        );
      }
    }

    for (const attack of this.#opts.attacks) this.#attack(attack, fromMs, toMs, rng, emit);
    out.sort((a, b) => a.start_ms - b.start_ms || a.end_ms - b.end_ms);
    return out;
  }

  #attack(kind: AttackScenario, fromMs: number, toMs: number, rng: SeededRandom, emit: FlowEmitter): void {
    const net = this.network;
    const span = toMs - fromMs;
    const { tactic } = ATTACK_SCENARIOS[kind];
    const victim = rng.pick(net.workstations);
    const start = fromMs + rng.next() * span * 0.5;
    const mal = { attack: kind, tactic };
    switch (kind) {
      case 'horizontal_scan': {
        const attacker = net.attackers[0] as string;
        for (let i = 0; i < 120; i++) {
          const dst = `10.20.1.${(i % 250) + 1}`;
          emit.probe(
            start + i * 40 + rng.next() * 20,
            attacker,
            dst,
            rng.int(40000, 65000),
            445,
            rng.chance(0.2),
            mal,
          );
        }
        break;
      }
      case 'vertical_scan': {
        const attacker = rng.pick(net.workstations);
        const target = net.fileServer;
        for (let port = 1; port <= 200; port++) {
          emit.probe(
            start + port * 15 + rng.next() * 10,
            attacker,
            target,
            rng.int(40000, 65000),
            port,
            rng.chance(0.9),
            mal,
          );
        }
        break;
      }
      case 'ssh_bruteforce':
      case 'rdp_bruteforce': {
        const attacker = net.attackers[1] as string;
        const port = kind === 'ssh_bruteforce' ? 22 : 3389;
        const target = kind === 'ssh_bruteforce' ? net.backupServer : victim;
        for (let i = 0; i < 60; i++) {
          const t = start + i * 2500 + rng.next() * 800;
          emit.tcp(
            t,
            attacker,
            target,
            rng.int(40000, 65000),
            port,
            rng.int(1800, 2300),
            rng.int(2500, 3200),
            1500 + rng.next() * 1000,
            kind,
            rng,
            mal,
          );
        }
        break;
      }
      case 'c2_beacon': {
        const c2 = net.c2Servers[0] as string;
        const period = 60_000;
        for (let t = fromMs + rng.next() * period; t < toMs; t += period * (0.85 + rng.next() * 0.3)) {
          emit.tcp(
            t,
            victim,
            c2,
            rng.int(32768, 60999),
            443,
            rng.int(600, 900),
            rng.int(300, 1200),
            300 + rng.next() * 200,
            kind,
            rng,
            mal,
          );
        }
        break;
      }
      case 'slow_exfiltration': {
        const drop = net.dropServers[0] as string;
        for (let i = 0; i < 4; i++) {
          const t = start + i * (span / 10);
          emit.tcp(
            t,
            victim,
            drop,
            rng.int(32768, 60999),
            443,
            rng.logNormal(60_000_000, 0.3),
            rng.int(20_000, 40_000),
            50_000 + rng.next() * 30_000,
            kind,
            rng,
            mal,
          );
        }
        break;
      }
      case 'dos': {
        const target = net.webServer;
        const attacker = net.attackers[2] as string;
        for (let i = 0; i < 400; i++) {
          emit.probe(start + i * 5, attacker, target, rng.int(1024, 65535), 80, false, mal, 1);
        }
        break;
      }
      case 'reflection': {
        // Spoofed requests make 400 open NTP / DNS / memcached / SSDP servers answer the web server:
        // each reflector sends a few large UDP replies it was never asked for, nothing goes back.
        const target = net.webServer;
        const ports = [123, 53, 11211, 1900];
        for (let i = 0; i < 400; i++) {
          const reflector = `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}`;
          const pkts = rng.int(1, 8);
          emit.unanswered(
            start + i * 50 + rng.next() * 40,
            17,
            reflector,
            target,
            ports[i % ports.length] as number,
            rng.int(1024, 65535),
            pkts * rng.int(400, 1400),
            pkts,
            mal,
          );
        }
        break;
      }
      case 'internet_scan': {
        // Internet scanning: 40 scanners (one campaign's sources, within a minute) each try one
        // commonly attacked service on the web server once; the firewall drops every probe. Each
        // scanner initiates its own one-flow sequence, so only the web server's view shows it.
        const target = net.webServer;
        const ports = [23, 22, 445, 3389, 8080, 5900, 1433, 6379, 2323, 37215];
        for (let i = 0; i < 40; i++) {
          emit.probe(
            start + i * 1500 + rng.next() * 1000,
            `203.0.113.${i + 1}`,
            target,
            rng.int(1024, 65535),
            ports[i % ports.length] as number,
            false,
            mal,
          );
        }
        break;
      }
    }
  }
}

interface Truth {
  attack: string;
  tactic: string | null;
}

/** Turns scenario parameters into FlowRecords with consistent packets, flags and timing. */
class FlowEmitter {
  constructor(private readonly out: SimulatedFlow[]) {}

  tcp(
    startMs: number,
    src: string,
    dst: string,
    sport: number,
    dport: number,
    fwdBytes: number,
    bwdBytes: number,
    durMs: number,
    benignKind: string,
    rng: SeededRandom,
    truth?: Truth,
  ): void {
    const fwd = Math.max(120, Math.round(fwdBytes));
    const bwd = Math.max(80, Math.round(bwdBytes));
    this.#push(
      startMs,
      durMs,
      6,
      src,
      dst,
      sport,
      dport,
      fwd,
      Math.max(3, Math.ceil(fwd / (600 + rng.int(0, 800)))),
      bwd,
      Math.max(2, Math.ceil(bwd / 1400)),
      TCP_OK,
      truth ?? { attack: benignKind, tactic: null },
    );
  }

  udp(
    startMs: number,
    src: string,
    dst: string,
    sport: number,
    dport: number,
    fwdBytes: number,
    bwdBytes: number,
    durMs: number,
    benignKind: string,
  ): void {
    this.#push(startMs, durMs, 17, src, dst, sport, dport, fwdBytes, 1, bwdBytes, 1, 0, {
      attack: benignKind,
      tactic: null,
    });
  }

  /** Datagrams one way that nothing answers (a reflector's unsolicited replies). */
  unanswered(
    startMs: number,
    protocol: number,
    src: string,
    dst: string,
    sport: number,
    dport: number,
    bytes: number,
    pkts: number,
    truth: Truth,
  ): void {
    this.#push(startMs, 0, protocol, src, dst, sport, dport, bytes, pkts, 0, 0, 0, truth);
  }

  /** A connection attempt: SYN with no answer, or refused with RST. */
  probe(
    startMs: number,
    src: string,
    dst: string,
    sport: number,
    dport: number,
    refused: boolean,
    truth: Truth,
    pkts = 1,
  ): void {
    this.#push(
      startMs,
      0,
      6,
      src,
      dst,
      sport,
      dport,
      44 * pkts,
      pkts,
      refused ? 40 : 0,
      refused ? 1 : 0,
      refused ? TCP_SYN | TCP_RST_ACK : TCP_SYN,
      truth,
    );
  }

  #push(
    startMs: number,
    durMs: number,
    protocol: number,
    src: string,
    dst: string,
    sport: number,
    dport: number,
    fwdBytes: number,
    fwdPkts: number,
    bwdBytes: number,
    bwdPkts: number,
    flags: number,
    truth: Truth,
  ): void {
    const start = Math.floor(startMs);
    this.out.push({
      exporter: '127.0.0.1',
      observation_domain: 0,
      source_format: 'simulator',
      start_ms: start,
      end_ms: start + Math.max(0, Math.round(durMs)),
      protocol,
      src_ip: src,
      dst_ip: dst,
      src_port: sport,
      dst_port: dport,
      fwd_bytes: Math.round(fwdBytes),
      fwd_pkts: fwdPkts,
      bwd_bytes: Math.round(bwdBytes),
      bwd_pkts: bwdPkts,
      tcp_flags: flags,
      sampling_rate: 1,
      label: truth.tactic ? 1 : 0,
      attack: truth.attack,
      tactic: truth.tactic,
    });
  }
}
