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
    const s = buf.utf8Slice(start, end);
    if (s.length === len) this.#slots[slot] = s;
    return s;
  }
}

/** Node's Buffer has utf8Slice (what toString('utf8') ends in, without its argument handling). */
export type Utf8Buffer = Buffer & { utf8Slice(start: number, end: number): string };
