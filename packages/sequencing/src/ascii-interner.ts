/**
 * A direct-mapped cache of short ASCII strings keyed by their bytes: decoding the same address
 * again returns the same string without allocating (and strings that are one object hash once).
 * A hit requires every byte to equal the cached string's char code, so it is never wrong; other
 * strings (long or non-ASCII) are decoded as UTF-8 every time.
 */
export class AsciiInterner {
  readonly #slots: (string | undefined)[];
  readonly #mask: number;

  constructor(
    slots: number,
    private readonly maxLength: number,
  ) {
    const size = 2 ** Math.ceil(Math.log2(slots));
    this.#slots = new Array<string | undefined>(size).fill(undefined);
    this.#mask = size - 1;
  }

  decode(buf: Utf8Buffer, start: number, end: number): string {
    const len = end - start;
    if (len === 0) return '';
    if (len > this.maxLength) return buf.utf8Slice(start, end);
    let h = 0x811c9dc5;
    for (let i = start; i < end; i++) h = Math.imul(h ^ (buf[i] as number), 0x01000193);
    const slot = (h ^ (h >>> 15)) & this.#mask;
    const cached = this.#slots[slot];
    if (cached !== undefined && cached.length === len) {
      let i = 0;
      while (i < len && cached.charCodeAt(i) === buf[start + i]) i++;
      if (i === len) return cached;
    }
    const s = asciiString(buf, start, end);
    if (s.length === len) this.#slots[slot] = s;
    return s;
  }
}

/**
 * `buf.utf8Slice(start, end)`, built in JS for ASCII of 7-15 bytes (an IPv4 address): one
 * `String.fromCharCode` of the bytes is a flat string without a call out to C++ (~2x faster than
 * `utf8Slice` for these lengths). Anything else is decoded by `utf8Slice`.
 */
export function asciiString(buf: Utf8Buffer, start: number, end: number): string {
  const len = end - start;
  if (len < 7 || len > 15) return buf.utf8Slice(start, end);
  let high = 0;
  for (let i = start; i < end; i++) high |= buf[i] as number;
  if (high >= 0x80) return buf.utf8Slice(start, end);
  const b = buf;
  const a = start;
  const c = String.fromCharCode;
  // biome-ignore format: one case per length
  switch (len) {
    case 7: return c(b[a] as number, b[a + 1] as number, b[a + 2] as number, b[a + 3] as number, b[a + 4] as number, b[a + 5] as number, b[a + 6] as number);
    case 8: return c(b[a] as number, b[a + 1] as number, b[a + 2] as number, b[a + 3] as number, b[a + 4] as number, b[a + 5] as number, b[a + 6] as number, b[a + 7] as number);
    case 9: return c(b[a] as number, b[a + 1] as number, b[a + 2] as number, b[a + 3] as number, b[a + 4] as number, b[a + 5] as number, b[a + 6] as number, b[a + 7] as number, b[a + 8] as number);
    case 10: return c(b[a] as number, b[a + 1] as number, b[a + 2] as number, b[a + 3] as number, b[a + 4] as number, b[a + 5] as number, b[a + 6] as number, b[a + 7] as number, b[a + 8] as number, b[a + 9] as number);
    case 11: return c(b[a] as number, b[a + 1] as number, b[a + 2] as number, b[a + 3] as number, b[a + 4] as number, b[a + 5] as number, b[a + 6] as number, b[a + 7] as number, b[a + 8] as number, b[a + 9] as number, b[a + 10] as number);
    case 12: return c(b[a] as number, b[a + 1] as number, b[a + 2] as number, b[a + 3] as number, b[a + 4] as number, b[a + 5] as number, b[a + 6] as number, b[a + 7] as number, b[a + 8] as number, b[a + 9] as number, b[a + 10] as number, b[a + 11] as number);
    case 13: return c(b[a] as number, b[a + 1] as number, b[a + 2] as number, b[a + 3] as number, b[a + 4] as number, b[a + 5] as number, b[a + 6] as number, b[a + 7] as number, b[a + 8] as number, b[a + 9] as number, b[a + 10] as number, b[a + 11] as number, b[a + 12] as number);
    case 14: return c(b[a] as number, b[a + 1] as number, b[a + 2] as number, b[a + 3] as number, b[a + 4] as number, b[a + 5] as number, b[a + 6] as number, b[a + 7] as number, b[a + 8] as number, b[a + 9] as number, b[a + 10] as number, b[a + 11] as number, b[a + 12] as number, b[a + 13] as number);
    default: return c(b[a] as number, b[a + 1] as number, b[a + 2] as number, b[a + 3] as number, b[a + 4] as number, b[a + 5] as number, b[a + 6] as number, b[a + 7] as number, b[a + 8] as number, b[a + 9] as number, b[a + 10] as number, b[a + 11] as number, b[a + 12] as number, b[a + 13] as number, b[a + 14] as number);
  }
}

/** Node's Buffer has utf8Slice (what toString('utf8') ends in, without its argument handling). */
export type Utf8Buffer = Buffer & { utf8Slice(start: number, end: number): string };
