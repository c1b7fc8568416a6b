import type { SeededRandom } from './random.ts';

/** The simulated site: internal clients, servers and IoT devices, plus the outside world. */
export interface SimulatedNetwork {
  workstations: string[];
  iot: string[];
  dnsServer: string;
  mailServer: string;
  backupServer: string;
  webServer: string;
  fileServer: string;
  externalWeb: string[];
  updateServers: string[];
  iotCloud: string[];
  attackers: string[];
  c2Servers: string[];
  dropServers: string[];
}

export function buildNetwork(
  rng: SeededRandom,
  opts: { workstations?: number; iot?: number } = {},
): SimulatedNetwork {
  const range = (prefix: string, from: number, count: number) =>
    Array.from({ length: count }, (_, i) => `${prefix}.${from + i}`);
  const external = (count: number, first: number) =>
    Array.from({ length: count }, () => `${first}.${rng.int(1, 254)}.${rng.int(0, 254)}.${rng.int(1, 254)}`);
  return {
    workstations: range('10.20.1', 10, opts.workstations ?? 40),
    iot: range('10.20.9', 20, opts.iot ?? 12),
    dnsServer: '10.20.0.53',
    mailServer: '10.20.0.25',
    backupServer: '10.20.0.80',
    webServer: '10.20.0.10',
    fileServer: '10.20.0.45',
    externalWeb: external(60, 93),
    updateServers: external(4, 13),
    iotCloud: external(3, 52),
    attackers: external(3, 185),
    c2Servers: external(2, 45),
    dropServers: external(1, 104),
  };
}
