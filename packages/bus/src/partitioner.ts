const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** Kafka's murmur2 (the Java client's `Utils.murmur2`), as a signed 32-bit integer. */
export function murmur2(data: Uint8Array, start = 0, end = data.length): number {
  const length = end - start;
  let h = (SEED ^ length) | 0;
  const whole = start + (length & ~3);
  for (let i = start; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }
  const rest = end - whole;
  if (rest === 3) h ^= data[whole + 2]! << 16;
  if (rest >= 2) h ^= data[whole + 1]! << 8;
  if (rest >= 1) {
    h ^= data[whole]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** What murmur2Ascii returns for a string with a character outside ASCII (not an int32). */
export const NOT_ASCII = 2 ** 32;

/**
 * murmur2 of an ASCII string's bytes, read once from its char codes (no encoding call), which are
 * also written to out[0, text.length) when out is given: the same value as
 * murmur2(Buffer.from(text)), or NOT_ASCII when a character is not ASCII (then its UTF-8 bytes
 * must be hashed; out holds garbage).
 */
export function murmur2Ascii(text: string, out?: Uint8Array): number {
  const length = text.length;
  let h = (SEED ^ length) | 0;
  let any = 0;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    const c0 = text.charCodeAt(i);
    const c1 = text.charCodeAt(i + 1);
    const c2 = text.charCodeAt(i + 2);
    const c3 = text.charCodeAt(i + 3);
    any |= c0 | c1 | c2 | c3;
    if (out !== undefined) {
      out[i] = c0;
      out[i + 1] = c1;
      out[i + 2] = c2;
      out[i + 3] = c3;
    }
    let k = c0 | (c1 << 8) | (c2 << 16) | (c3 << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }
  const rest = length - whole;
  if (rest === 3) {
    const c = text.charCodeAt(whole + 2);
    any |= c;
    if (out !== undefined) out[whole + 2] = c;
    h ^= c << 16;
  }
  if (rest >= 2) {
    const c = text.charCodeAt(whole + 1);
    any |= c;
    if (out !== undefined) out[whole + 1] = c;
    h ^= c << 8;
  }
  if (rest >= 1) {
    const c = text.charCodeAt(whole);
    any |= c;
    if (out !== undefined) out[whole] = c;
    h ^= c;
    h = Math.imul(h, M);
  }
  if (any >= 0x80) return NOT_ASCII;
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition Kafka's default partitioner picks for a key (the same in both buses). */
export function partitionForKey(key: Buffer | string, partitions: number): number {
  let hash = typeof key === 'string' ? murmur2Ascii(key) : murmur2(key);
  if (hash === NOT_ASCII) hash = murmur2(Buffer.from(key));
  return (hash & 0x7fffffff) % partitions;
}
