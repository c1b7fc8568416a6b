import { hash } from 'node:crypto';

/** ASCII code of the variant hex digit for each hex digit's code: (n & 0x3) | 0x8. */
const VARIANT = new Uint8Array(128);
for (const c of '0123456789abcdef') {
  VARIANT[c.charCodeAt(0)] = ((Number.parseInt(c, 16) & 0x3) | 0x8).toString(16).charCodeAt(0);
}

type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };

/** The UUID is assembled here: one flat string (the encoder and the Kafka key read it char by char). */
const uuid = Buffer.from('00000000-0000-5000-0000-000000000000', 'latin1') as Latin1Buffer;

/**
 * Deterministic sequence id (rule 5): a UUID (version 5 layout) from
 * sha256(`${namespace}|${src_ip}|${dst_ip}|${window_start_ms}|${part}`).
 */
export function sequenceId(
  namespace: string,
  srcIp: string,
  dstIp: string,
  windowStartMs: number,
  part: number,
): string {
  const hex = hash('sha256', `${namespace}|${srcIp}|${dstIp}|${windowStartMs}|${part}`, 'hex');
  // Hex digits 0-31 into the 8-4-4-4-12 layout; digit 12 (byte 6's high nibble) becomes the
  // version 5, digit 16 (byte 8's high nibble) keeps its low two bits under the 0b10 variant.
  for (let i = 0; i < 8; i++) uuid[i] = hex.charCodeAt(i);
  for (let i = 8; i < 12; i++) uuid[i + 1] = hex.charCodeAt(i);
  for (let i = 13; i < 16; i++) uuid[i + 2] = hex.charCodeAt(i);
  uuid[19] = VARIANT[hex.charCodeAt(16)] as number;
  for (let i = 17; i < 20; i++) uuid[i + 3] = hex.charCodeAt(i);
  for (let i = 20; i < 32; i++) uuid[i + 4] = hex.charCodeAt(i);
  return uuid.latin1Slice(0, 36);
}
