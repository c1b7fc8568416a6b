import { hash } from 'node:crypto';

/** Hex digit of the variant nibble: (n & 0x3) | 0x8. */
const VARIANT: Record<string, string> = Object.fromEntries(
  [...'0123456789abcdef'].map((c) => [c, ((Number.parseInt(c, 16) & 0x3) | 0x8).toString(16)]),
);

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
  // byte 6 = (b6 & 0x0f) | 0x50: its high nibble (hex digit 12) becomes 5; byte 8's high nibble
  // (hex digit 16) keeps its low two bits under the 0b10 variant.
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${VARIANT[hex[16] as string]}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
