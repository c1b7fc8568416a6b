import { createHash } from 'node:crypto';

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
  const digest = createHash('sha256')
    .update(`${namespace}|${srcIp}|${dstIp}|${windowStartMs}|${part}`)
    .digest();
  const b = digest.subarray(0, 16);
  b[6] = ((b[6] as number) & 0x0f) | 0x50;
  b[8] = ((b[8] as number) & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
