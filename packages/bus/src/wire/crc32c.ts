/** CRC-32C (Castagnoli, reflected polynomial 0x82f63b78): the checksum of Kafka record batches v2. */
const POLY = 0x82f63b78;

/** Sixteen 256-entry tables for slice-by-16: table k maps a byte k positions before the end. */
const TABLES: Int32Array = (() => {
  const t = new Int32Array(16 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < 16; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
})();

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** CRC-32C of data[start, end) as an unsigned 32-bit integer. */
export function crc32c(data: Uint8Array, start = 0, end = data.length): number {
  const t = TABLES;
  let crc = ~0;
  let i = start;
  if (LITTLE_ENDIAN && end - start >= 64) {
    // Aligned 32-bit loads (one per four bytes) instead of four byte loads, sixteen bytes a step.
    while (((data.byteOffset + i) & 3) !== 0) crc = t[(crc ^ data[i++]!) & 0xff]! ^ (crc >>> 8);
    const words = ((end - i) >>> 4) << 2;
    const u32 = new Uint32Array(data.buffer, data.byteOffset + i, words);
    for (let w = 0; w < words; w += 4) {
      const a = crc ^ u32[w]!;
      const b = u32[w + 1]!;
      const c = u32[w + 2]!;
      const d = u32[w + 3]!;
      crc =
        t[3840 + (a & 0xff)]! ^
        t[3584 + ((a >>> 8) & 0xff)]! ^
        t[3328 + ((a >>> 16) & 0xff)]! ^
        t[3072 + (a >>> 24)]! ^
        t[2816 + (b & 0xff)]! ^
        t[2560 + ((b >>> 8) & 0xff)]! ^
        t[2304 + ((b >>> 16) & 0xff)]! ^
        t[2048 + (b >>> 24)]! ^
        t[1792 + (c & 0xff)]! ^
        t[1536 + ((c >>> 8) & 0xff)]! ^
        t[1280 + ((c >>> 16) & 0xff)]! ^
        t[1024 + (c >>> 24)]! ^
        t[768 + (d & 0xff)]! ^
        t[512 + ((d >>> 8) & 0xff)]! ^
        t[256 + ((d >>> 16) & 0xff)]! ^
        t[d >>> 24]!;
    }
    i += words * 4;
  }
  const fast = end - ((end - i) & 7);
  while (i < fast) {
    const a = crc ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    crc =
      t[1792 + (a & 0xff)]! ^
      t[1536 + ((a >>> 8) & 0xff)]! ^
      t[1280 + ((a >>> 16) & 0xff)]! ^
      t[1024 + (a >>> 24)]! ^
      t[768 + data[i + 4]!]! ^
      t[512 + data[i + 5]!]! ^
      t[256 + data[i + 6]!]! ^
      t[data[i + 7]!]!;
    i += 8;
  }
  while (i < end) crc = t[(crc ^ data[i++]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
