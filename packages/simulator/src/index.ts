export * from './export-encoder.ts';
export * from './random.ts';
export * from './scenarios.ts';
export * from './tempo-csv.ts';
export type { SimulatedNetwork } from './network.ts';
export * from './pcap-writer.ts';
