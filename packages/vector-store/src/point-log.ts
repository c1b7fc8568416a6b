import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { logLines } from './log-lines.ts';
import { ByteReader, type ByteWriter, StringTable } from './payload-codec.ts';

/**
 * The EmbeddedStore's log file (format 2): an 8-byte header, then frames of
 * `[u32 body length][u32 crc32 of the body][body]` (little-endian). A body starts with its kind:
 *  - STRINGS: `varint first code, varint count, count × (varint length, UTF-8)`: string-table
 *    entries, written ahead of the first record that refers to them;
 *  - UPSERT: `varint n, n × (id value, dim × float32 unit vector, u32 length, payload record)`
 *    (payload-codec values; one frame per upsert call);
 *  - JSON: UTF-8 JSON of a payload patch `{"p":[ids, patch]}` or delete `{"d":[ids]}`.
 * A frame cut short by a crash, or one whose checksum fails, ends what is replayed (the store
 * then rewrites the log). Format 1 (JSON lines, `{"u":[id, base64 vector, payload]}` ...) is
 * still read; a store opened on one rewrites it as format 2 once.
 */
export const LOG_FILE = 'points.log';
export const LOG_MAGIC = Buffer.from('TWVSLOG2', 'latin1');
export const FRAME_STRINGS = 1;
export const FRAME_UPSERT = 2;
export const FRAME_JSON = 3;
const HEADER = 8;

/**
 * Appends `buffers` in order to a file opened for appending, with one writev per call (a short
 * write continues from where it stopped). FileHandle.appendFile goes through writeFile's chunked
 * path: ~4x the main-thread CPU per call of a plain write, and it needs one concatenated buffer.
 */
export async function appendAll(fh: FileHandle, buffers: Uint8Array[]): Promise<void> {
  let rest = buffers.filter((b) => b.length > 0);
  while (rest.length > 0) {
    let { bytesWritten } = await fh.writev(rest);
    let i = 0;
    while (i < rest.length && bytesWritten >= (rest[i] as Uint8Array).length)
      bytesWritten -= (rest[i++] as Uint8Array).length;
    rest = rest.slice(i);
    if (rest.length > 0 && bytesWritten > 0) rest[0] = (rest[0] as Uint8Array).subarray(bytesWritten);
  }
}

/** Starts a frame at the writer's position (header filled in by endFrame); returns its start. */
export function beginFrame(w: ByteWriter, kind: number): number {
  const start = w.pos;
  w.ensure(HEADER + 1);
  w.pos += HEADER;
  w.u8(kind);
  return start;
}

export function endFrame(w: ByteWriter, start: number): void {
  const body = w.buf.subarray(start + HEADER, w.pos);
  w.u32At(start, body.length);
  w.u32At(start + 4, crc32(body));
}

export function stringsFrame(w: ByteWriter, table: StringTable, from: number): void {
  const start = beginFrame(w, FRAME_STRINGS);
  w.varint(from);
  w.varint(table.size - from);
  for (let c = from; c < table.size; c++) w.utf8(table.values[c] as string);
  endFrame(w, start);
}

export function readStrings(r: ByteReader, table: StringTable): void {
  const first = r.varint();
  const count = r.varint();
  for (let i = 0; i < count; i++) table.define(first + i, r.utf8());
}

export type LogFormat = 'binary' | 'json' | 'none';

/** The first bytes of the log: format 2, format 1 (JSON lines), or no/empty file. */
export async function logFormat(path: string): Promise<LogFormat> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'r');
  } catch {
    return 'none';
  }
  try {
    const head = Buffer.alloc(HEADER);
    const { bytesRead } = await fh.read(head, 0, HEADER, 0);
    if (bytesRead === 0) return 'none';
    return bytesRead === HEADER && head.equals(LOG_MAGIC) ? 'binary' : 'json';
  } finally {
    await fh.close();
  }
}

/**
 * Calls `onFrame(body)` for every intact frame of a format-2 log (`body` is valid during the call
 * only). Returns whether the log ends in a torn or corrupt frame (replay stops there).
 */
export async function readFrames(
  path: string,
  onFrame: (body: Buffer) => void,
  chunkBytes = 1 << 24,
): Promise<{ torn: boolean }> {
  const fh = await open(path, 'r');
  try {
    let buf = Buffer.allocUnsafe(chunkBytes);
    let have = 0; // bytes in buf
    let at = 0; // next frame's offset in buf
    let fileAt = LOG_MAGIC.length;
    let eof = false;
    for (;;) {
      // Fill the buffer behind what is unread.
      if (!eof) {
        if (at > 0) {
          buf.copy(buf, 0, at, have);
          have -= at;
          at = 0;
        }
        while (have < buf.length) {
          const { bytesRead } = await fh.read(buf, have, buf.length - have, fileAt);
          if (bytesRead === 0) {
            eof = true;
            break;
          }
          have += bytesRead;
          fileAt += bytesRead;
        }
      }
      for (;;) {
        if (have - at < HEADER) break;
        const len = buf.readUInt32LE(at);
        if (have - at < HEADER + len) {
          if (HEADER + len > buf.length && !eof) {
            const bigger = Buffer.allocUnsafe(HEADER + len);
            buf.copy(bigger, 0, at, have);
            have -= at;
            at = 0;
            buf = bigger;
          }
          break;
        }
        const body = buf.subarray(at + HEADER, at + HEADER + len);
        if (len === 0 || crc32(body) !== buf.readUInt32LE(at + 4)) return { torn: true };
        onFrame(body);
        at += HEADER + len;
      }
      if (eof) return { torn: at < have };
    }
  } finally {
    await fh.close();
  }
}

/**
 * What a store's log holds, read without opening the store (tests, and tools beside a running
 * service): the ids of every upsert record in log order (repeats included), the patch and delete
 * records, the format, and whether it ends in a torn record.
 */
export async function readPointLog(
  dir: string,
): Promise<{ format: LogFormat; upserts: string[]; others: number; torn: boolean }> {
  const path = join(dir, LOG_FILE);
  const format = await logFormat(path);
  const upserts: string[] = [];
  let others = 0;
  if (format === 'none') return { format, upserts, others, torn: false };
  if (format === 'json') {
    let torn = false;
    for await (const line of logLines(path)) {
      if (!line) continue;
      try {
        const rec = JSON.parse(line) as { u?: [string] };
        if (rec.u) upserts.push(rec.u[0]);
        else others++;
      } catch {
        torn = true;
      }
    }
    return { format, upserts, others, torn };
  }
  const table = new StringTable();
  const { torn } = await readFrames(path, (body) => {
    const r = new ByteReader(body, 1);
    const kind = body[0];
    if (kind === FRAME_STRINGS) readStrings(r, table);
    else if (kind === FRAME_UPSERT) {
      const n = r.varint();
      for (let i = 0; i < n; i++) {
        upserts.push(r.value(table) as string);
        const vecBytes = r.u32();
        r.pos += vecBytes;
        const len = r.u32();
        r.pos += len;
      }
    } else others++;
  });
  return { format, upserts, others, torn };
}
