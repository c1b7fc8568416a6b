import { hash } from 'node:crypto';

type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };

/** Lower-case hex digits of each byte value: codes 2b and 2b+1. */
const HEX_CODES = new Uint8Array(512);
for (let b = 0; b < 256; b++) {
  const hex = b.toString(16).padStart(2, '0');
  HEX_CODES[2 * b] = hex.charCodeAt(0);
  HEX_CODES[2 * b + 1] = hex.charCodeAt(1);
}

/**
 * The hash input is written here (no template string, no window start formatted per call) and
 * hashed through a view of exactly its length, made once per length.
 */
const INPUT_BYTES = 512;
const input = Buffer.alloc(INPUT_BYTES);
const inputViews: Buffer[] = [];
for (let n = 0; n <= INPUT_BYTES; n++) inputViews.push(input.subarray(0, n));
/** sequenceId assembles the UUID here and reads it back as one flat string. */
const uuid = Buffer.alloc(36) as Latin1Buffer;
let lastWindowStart = Number.NaN;
let lastWindowStartText = '';
/** The namespace last written at the start of `input` (it stays there between calls). */
let lastNamespace: string | undefined;
let namespaceEnd = -1;

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
  writeSequenceId(namespace, srcIp, dstIp, windowStartMs, part, uuid, 0);
  return uuid.latin1Slice(0, 36);
}

/** The bytes of the id (always 36 ASCII bytes), written to `out[pos, pos + 36)`. */
export function writeSequenceId(
  namespace: string,
  srcIp: string,
  dstIp: string,
  windowStartMs: number,
  part: number,
  out: Uint8Array,
  pos: number,
): void {
  if (windowStartMs !== lastWindowStart) {
    lastWindowStart = windowStartMs;
    lastWindowStartText = String(windowStartMs);
  }
  const partText = part < 10 && part >= 0 ? '' : String(part);
  let n = -1;
  if (
    namespace.length + srcIp.length + dstIp.length + lastWindowStartText.length + partText.length + 5 <=
    INPUT_BYTES
  ) {
    if (namespace !== lastNamespace) {
      lastNamespace = namespace;
      namespaceEnd = putAscii(namespace, 0);
      if (namespaceEnd >= 0) input[namespaceEnd++] = 0x7c; // |
    }
    n = namespaceEnd;
    n = putAscii(srcIp, n);
    if (n >= 0) input[n++] = 0x7c;
    n = putAscii(dstIp, n);
    if (n >= 0) input[n++] = 0x7c;
    n = putAscii(lastWindowStartText, n);
    if (n >= 0) {
      input[n++] = 0x7c;
      if (partText === '') input[n++] = 0x30 + part;
      else n = putAscii(partText, n);
    }
  }
  // The digest as one char per byte ('binary' is latin1); a non-ASCII (or very long) input is hashed as UTF-8 text.
  const digest =
    n >= 0
      ? hash('sha256', inputViews[n] as Buffer, 'binary')
      : hash('sha256', `${namespace}|${srcIp}|${dstIp}|${windowStartMs}|${part}`, 'binary');
  let o = pos;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) out[o++] = 0x2d; // -
    let b = digest.charCodeAt(i);
    if (i === 6)
      b = (b & 0x0f) | 0x50; // version 5
    else if (i === 8) b = (b & 0x3f) | 0x80; // variant 0b10
    out[o++] = HEX_CODES[2 * b] as number;
    out[o++] = HEX_CODES[2 * b + 1] as number;
  }
}

/** Writes ASCII text at `pos`; -1 when `pos` is -1 or the text is not ASCII. */
function putAscii(text: string, pos: number): number {
  if (pos < 0) return -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) return -1;
    input[pos++] = c;
  }
  return pos;
}
