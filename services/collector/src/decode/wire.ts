/** Big-endian readers over a Uint8Array; callers check bounds once per record, not per read. */
export function u8(b: Uint8Array, o: number): number {
  return b[o] as number;
}

export function u16(b: Uint8Array, o: number): number {
  return ((b[o] as number) << 8) | (b[o + 1] as number);
}

export function u32(b: Uint8Array, o: number): number {
  return (
    (b[o] as number) * 0x1000000 +
    (((b[o + 1] as number) << 16) | ((b[o + 2] as number) << 8) | (b[o + 3] as number))
  );
}

/** Unsigned integer of 1..8 bytes (RFC 7011 reduced-size encoding); above 2^53 loses precision. */
export function uint(b: Uint8Array, o: number, len: number): number {
  switch (len) {
    case 1:
      return b[o] as number;
    case 2:
      return u16(b, o);
    case 4:
      return u32(b, o);
    case 8:
      return u32(b, o) * 0x100000000 + u32(b, o + 4);
    default: {
      let v = 0;
      for (let i = 0; i < len && i < 8; i++) v = v * 256 + (b[o + i] as number);
      return v;
    }
  }
}

/** Exact unsigned value as decimal text (64-bit counters in `extra` must not lose digits). */
export function uintText(b: Uint8Array, o: number, len: number): string {
  if (len <= 6) return String(uint(b, o, len));
  let v = 0n;
  for (let i = 0; i < len; i++) v = (v << 8n) | BigInt(b[o + i] as number);
  return v.toString();
}

export function signedText(b: Uint8Array, o: number, len: number): string {
  if (len === 0) return '0';
  let v = 0n;
  for (let i = 0; i < len; i++) v = (v << 8n) | BigInt(b[o + i] as number);
  return BigInt.asIntN(len * 8, v).toString();
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function hex(b: Uint8Array, o: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += HEX[b[o + i] as number];
  return s;
}

export function mac(b: Uint8Array, o: number): string {
  return `${HEX[b[o] as number]}:${HEX[b[o + 1] as number]}:${HEX[b[o + 2] as number]}:${HEX[b[o + 3] as number]}:${HEX[b[o + 4] as number]}:${HEX[b[o + 5] as number]}`;
}

const DEC: string[] = Array.from({ length: 256 }, (_, i) => String(i));

const V4_SLOTS = 1 << 16;
// every slot starts as 0.0.0.0, whose hash is slot 0, so an empty slot never answers for another key
const v4Keys = new Int32Array(V4_SLOTS);
const v4Text: string[] = new Array<string>(V4_SLOTS).fill('0.0.0.0');
// "a.b." and "c.d" by 16-bit half, filled as met: a miss costs one concatenation, no formatting
const v4High: string[] = new Array<string>(65536).fill('');
const v4Low: string[] = new Array<string>(65536).fill('');

/**
 * Dotted quad. Flow exports repeat the same hosts constantly, so a direct-mapped cache (fixed
 * size, no eviction bookkeeping) returns most addresses without building a string; a miss joins
 * the cached texts of its two 16-bit halves.
 */
export function ipv4(b: Uint8Array, o: number): string {
  const hi16 = ((b[o] as number) << 8) | (b[o + 1] as number);
  const lo16 = ((b[o + 2] as number) << 8) | (b[o + 3] as number);
  const key = (hi16 << 16) | lo16;
  const slot = (Math.imul(key, 0x9e3779b1) >>> 16) & (V4_SLOTS - 1);
  if (v4Keys[slot] === key) return v4Text[slot] as string;
  let high = v4High[hi16] as string;
  if (high.length === 0) {
    high = `${DEC[b[o] as number]}.${DEC[b[o + 1] as number]}.`;
    v4High[hi16] = high;
  }
  let low = v4Low[lo16] as string;
  if (low.length === 0) {
    low = `${DEC[b[o + 2] as number]}.${DEC[b[o + 3] as number]}`;
    v4Low[lo16] = low;
  }
  const text = high + low;
  v4Keys[slot] = key;
  v4Text[slot] = text;
  return text;
}

/** RFC 5952 text form: lowercase, longest run (≥2) of zero groups compressed, v4-mapped dotted. */
export function ipv6(b: Uint8Array, o: number): string {
  const g: number[] = new Array(8);
  for (let i = 0; i < 8; i++) g[i] = u16(b, o + i * 2);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff)
    return `::ffff:${b[o + 12]}.${b[o + 13]}.${b[o + 14]}.${b[o + 15]}`;
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const part = (from: number, to: number) =>
    g
      .slice(from, to)
      .map((x) => (x as number).toString(16))
      .join(':');
  if (bestStart < 0) return part(0, 8);
  return `${part(0, bestStart)}::${part(bestStart + bestLen, 8)}`;
}

export function utf8(b: Uint8Array, o: number, len: number): string {
  let end = o + len;
  while (end > o && b[end - 1] === 0) end--; // vendors NUL-pad fixed-length strings
  return Buffer.from(b.buffer, b.byteOffset + o, end - o).toString('utf8');
}

/** NTP timestamp (seconds since 1900 + 2^-32 fractions) to epoch milliseconds. */
export function ntpToMs(b: Uint8Array, o: number): number {
  const sec = u32(b, o);
  const frac = u32(b, o + 4);
  return (sec - 2208988800) * 1000 + Math.floor((frac * 1000) / 0x100000000);
}
