// The contract types alone (no Avro, no Node APIs), for code that runs in a browser.
export * from './finding.ts';
export * from './flow.ts';
export * from './sequence.ts';
