import type { OutgoingMessage } from '@tidewatch/bus';
import { conversationKey, WIRE_MAGIC } from '@tidewatch/contracts';
import { uptimeToEpoch } from './decode/flow-record.ts';
import { NF5_HEADER, NF5_RECORD, netflow5Header, SMALL } from './decode/netflow5.ts';
import type { SequenceTracker } from './decode/sequence-tracker.ts';
import type { DecoderStats } from './decode/stats.ts';
import { ipv4, u32 } from './decode/wire.ts';
import { type FlowAvroWriter, writeAscii, writeLong } from './flow-avro-writer.ts';

/** Where the direct path writes: message values go into `writer`'s slabs, messages onto `messages`. */
export interface DirectOutput {
  writer: FlowAvroWriter;
  messages: OutgoingMessage[];
}

/**
 * Avro text of a short ASCII constant: zig-zag length (one byte below 64), then the bytes. (Not
 * through writeAscii, whose stores should only ever see Buffers.)
 */
function avroText(s: string): Uint8Array {
  const t = new Uint8Array(1 + s.length);
  t[0] = s.length << 1;
  for (let i = 0; i < s.length; i++) t[1 + i] = s.charCodeAt(i);
  return t;
}

const FORMAT = avroText('netflow5');
const NEXT_HOP = avroText('ipNextHopIPv4Address');
const TOS = avroText('ipClassOfService');
const SRC_MASK = avroText('sourceIPv4PrefixLength');
const DST_MASK = avroText('destinationIPv4PrefixLength');
const ENGINE_TYPE = avroText('engineType');
const ENGINE_ID = avroText('engineId');
const DECIMAL = SMALL.map(avroText);
/** Bytes one record takes at most besides its exporter's text (every text at its longest). */
const RECORD_MAX = 400;

function put(b: Uint8Array, p: number, t: Uint8Array): number {
  for (let i = 0; i < t.length; i++) b[p + i] = t[i] as number;
  return p + t.length;
}

/**
 * NetFlow v5 straight to `flows.v1` messages: each 48-byte record is written as Avro from the
 * datagram, with no FlowRecord in between. The bytes, keys and counters are exactly those of
 * decodeNetflow5 + FlowAvroWriter (the header is counted by the same function; every field is
 * written in the schema's order with the values decodeNetflow5 gives it; checked against that
 * path on vendor samples and mutated datagrams in the tests). Returns false, having counted
 * nothing, where it does not apply (an exporter name that is not short ASCII, a codec not yet
 * registered): the caller then takes the object path.
 */
export function encodeNetflow5(
  b: Buffer,
  exporter: string,
  receivedAtMs: number,
  stats: DecoderStats,
  seq: SequenceTracker,
  extras: boolean,
  out: DirectOutput,
): boolean {
  const writer = out.writer;
  const id = writer.schemaId;
  const exLen = exporter.length;
  if (id < 0 || exLen >= 0x40) return false;
  for (let i = 0; i < exLen; i++) if (exporter.charCodeAt(i) > 0x7f) return false;
  const h = netflow5Header(b, exporter, receivedAtMs, stats, seq);
  if (h === null) return true;
  const n = h.records;
  const exportMs = h.exportMs;
  const sysUptime = h.sysUptime;
  const rate = h.samplingRate;
  const engineType = DECIMAL[h.engineType] as Uint8Array;
  const engineId = DECIMAL[h.engineId] as Uint8Array;
  let p = writer.reserve(n * (RECORD_MAX + exLen));
  const s = writer.slab;
  const messages = out.messages;
  for (let i = 0, o = NF5_HEADER; i < n; i++, o += NF5_RECORD) {
    const start = p;
    s[p] = WIRE_MAGIC;
    s[p + 1] = id >>> 24;
    s[p + 2] = id >>> 16;
    s[p + 3] = id >>> 8;
    s[p + 4] = id;
    p += 5;
    s[p++] = exLen << 1;
    for (let k = 0; k < exLen; k++) s[p++] = exporter.charCodeAt(k);
    s[p++] = 0; // observation_domain 0
    p = put(s, p, FORMAT);
    p = writeLong(s, p, uptimeToEpoch(exportMs, sysUptime, u32(b, o + 24)));
    p = writeLong(s, p, uptimeToEpoch(exportMs, sysUptime, u32(b, o + 28)));
    const protocol = b[o + 38] as number;
    p = writeLong(s, p, protocol);
    const src = ipv4(b, o);
    const dst = ipv4(b, o + 4);
    p = writeAscii(s, p, src);
    p = writeAscii(s, p, dst);
    const dstPort = ((b[o + 34] as number) << 8) | (b[o + 35] as number);
    p = writeLong(s, p, ((b[o + 32] as number) << 8) | (b[o + 33] as number));
    p = writeLong(s, p, dstPort);
    p = writeLong(s, p, u32(b, o + 20)); // fwd_bytes
    p = writeLong(s, p, u32(b, o + 16)); // fwd_pkts
    s[p++] = 0; // bwd_bytes 0
    s[p++] = 0; // bwd_pkts 0
    p = writeLong(s, p, b[o + 37] as number); // tcp_flags
    p = writeLong(s, p, rate);
    // in_if, out_if, src_as, dst_as: branch "long" of their unions
    s[p++] = 2;
    p = writeLong(s, p, ((b[o + 12] as number) << 8) | (b[o + 13] as number));
    s[p++] = 2;
    p = writeLong(s, p, ((b[o + 14] as number) << 8) | (b[o + 15] as number));
    s[p++] = 2;
    p = writeLong(s, p, ((b[o + 40] as number) << 8) | (b[o + 41] as number));
    s[p++] = 2;
    p = writeLong(s, p, ((b[o + 42] as number) << 8) | (b[o + 43] as number));
    s[p++] = 0; // vlan: null
    if (protocol === 1 || protocol === 58) {
      // ICMP type/code ride in the destination port as type*256+code
      s[p++] = 2;
      p = writeLong(s, p, dstPort >> 8);
      s[p++] = 2;
      p = writeLong(s, p, dstPort & 0xff);
    } else {
      s[p++] = 0;
      s[p++] = 0;
    }
    s[p++] = 0; // label: null
    s[p++] = 0; // attack: null
    if (extras) {
      s[p++] = 6 << 1; // one block of six entries, in decodeNetflow5's order
      p = put(s, p, NEXT_HOP);
      p = writeAscii(s, p, ipv4(b, o + 8));
      p = put(s, p, TOS);
      p = put(s, p, DECIMAL[b[o + 39] as number] as Uint8Array);
      p = put(s, p, SRC_MASK);
      p = put(s, p, DECIMAL[b[o + 44] as number] as Uint8Array);
      p = put(s, p, DST_MASK);
      p = put(s, p, DECIMAL[b[o + 45] as number] as Uint8Array);
      p = put(s, p, ENGINE_TYPE);
      p = put(s, p, engineType);
      p = put(s, p, ENGINE_ID);
      p = put(s, p, engineId);
    }
    s[p++] = 0; // end of the map
    messages.push({ key: conversationKey(src, dst), value: writer.message(start, p) });
  }
  return true;
}
