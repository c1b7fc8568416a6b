/**
 * Synthetic but well-formed NetFlow v5, NetFlow v9 and IPFIX export datagrams for the decode
 * benchmark: typical field sets (nfdump/softflowd-like), 30 records per datagram, templates
 * repeated every `templateEvery` datagrams as exporters do, sequence numbers as the RFCs count.
 */
export type BenchProtocol = 'v5' | 'v9' | 'ipfix';

export const RECORDS_PER_DATAGRAM = 30;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

interface FlowValues {
  src: number;
  dst: number;
  sport: number;
  dport: number;
  proto: number;
  flags: number;
  bytes: number;
  pkts: number;
}

function flow(next: () => number): FlowValues {
  const r = next();
  return {
    src: (0x0a000000 | (next() & 0xffff)) >>> 0,
    dst: (0xc0a80000 | (next() & 0x3ff)) >>> 0,
    sport: 1024 + (next() % 60000),
    dport: [53, 80, 443, 22, 25, 123][r % 6] as number,
    proto: r % 5 === 0 ? 17 : 6,
    flags: 0x1b,
    bytes: 40 + (next() % 150000),
    pkts: 1 + (next() % 100),
  };
}

const V9_FIELDS: [number, number][] = [
  [8, 4],
  [12, 4],
  [7, 2],
  [11, 2],
  [4, 1],
  [6, 1],
  [5, 1],
  [1, 4],
  [2, 4],
  [22, 4],
  [21, 4],
  [10, 2],
  [14, 2],
  [16, 2],
  [17, 2],
  [9, 1],
  [13, 1],
  [15, 4],
];
const IPFIX_FIELDS: [number, number][] = [
  [8, 4],
  [12, 4],
  [7, 2],
  [11, 2],
  [4, 1],
  [6, 1],
  [5, 1],
  [1, 8],
  [2, 8],
  [152, 8],
  [153, 8],
  [10, 4],
  [14, 4],
  [16, 4],
  [17, 4],
];

function recordLength(fields: [number, number][]): number {
  return fields.reduce((n, [, l]) => n + l, 0);
}

function writeField(b: Buffer, o: number, id: number, len: number, f: FlowValues, t: number): void {
  let v = 0;
  switch (id) {
    case 8:
      v = f.src;
      break;
    case 12:
      v = f.dst;
      break;
    case 7:
      v = f.sport;
      break;
    case 11:
      v = f.dport;
      break;
    case 4:
      v = f.proto;
      break;
    case 6:
      v = f.flags;
      break;
    case 1:
      v = f.bytes;
      break;
    case 2:
      v = f.pkts;
      break;
    case 22:
      v = t - 5000;
      break;
    case 21:
      v = t;
      break;
    case 152:
      v = t - 5000;
      break;
    case 153:
      v = t;
      break;
    case 10:
      v = 3;
      break;
    case 14:
      v = 7;
      break;
    case 16:
      v = 64512;
      break;
    case 17:
      v = 15169;
      break;
    case 9:
    case 13:
      v = 24;
      break;
    case 15:
      v = 0x0a000001;
      break;
  }
  if (len === 8) b.writeBigUInt64BE(BigInt(v), o);
  else b.writeUIntBE(len === 4 ? v >>> 0 : v % 2 ** (len * 8), o, len);
}

function templateSet(setId: number, fields: [number, number][]): Buffer {
  const b = Buffer.alloc(8 + fields.length * 4);
  b.writeUInt16BE(setId, 0);
  b.writeUInt16BE(b.length, 2);
  b.writeUInt16BE(256, 4);
  b.writeUInt16BE(fields.length, 6);
  fields.forEach(([id, len], i) => {
    b.writeUInt16BE(id, 8 + i * 4);
    b.writeUInt16BE(len, 10 + i * 4);
  });
  return b;
}

export function generateDatagrams(
  protocol: BenchProtocol,
  count: number,
  templateEvery = 20,
  seed = 42,
): Buffer[] {
  const next = rng(seed);
  const out: Buffer[] = [];
  const baseSecs = 1_700_000_000;
  let seq = 0;
  for (let i = 0; i < count; i++) {
    const uptime = 100_000_000 + i * 10;
    if (protocol === 'v5') {
      const b = Buffer.alloc(24 + 48 * RECORDS_PER_DATAGRAM);
      b.writeUInt16BE(5, 0);
      b.writeUInt16BE(RECORDS_PER_DATAGRAM, 2);
      b.writeUInt32BE(uptime, 4);
      b.writeUInt32BE(baseSecs + Math.floor(i / 100), 8);
      b.writeUInt32BE(seq, 16);
      seq += RECORDS_PER_DATAGRAM;
      for (let k = 0; k < RECORDS_PER_DATAGRAM; k++) {
        const f = flow(next);
        const o = 24 + k * 48;
        b.writeUInt32BE(f.src, o);
        b.writeUInt32BE(f.dst, o + 4);
        b.writeUInt32BE(0x0a000001, o + 8);
        b.writeUInt16BE(3, o + 12);
        b.writeUInt16BE(7, o + 14);
        b.writeUInt32BE(f.pkts, o + 16);
        b.writeUInt32BE(f.bytes, o + 20);
        b.writeUInt32BE(uptime - 5000, o + 24);
        b.writeUInt32BE(uptime - 10, o + 28);
        b.writeUInt16BE(f.sport, o + 32);
        b.writeUInt16BE(f.dport, o + 34);
        b[o + 37] = f.flags;
        b[o + 38] = f.proto;
        b.writeUInt16BE(64512, o + 40);
        b.writeUInt16BE(15169, o + 42);
        b[o + 44] = 24;
        b[o + 45] = 24;
      }
      out.push(b);
      continue;
    }
    const ipfix = protocol === 'ipfix';
    const fields = ipfix ? IPFIX_FIELDS : V9_FIELDS;
    const recLen = recordLength(fields);
    const parts: Buffer[] = [];
    if (i % templateEvery === 0) parts.push(templateSet(ipfix ? 2 : 0, fields));
    const data = Buffer.alloc(4 + recLen * RECORDS_PER_DATAGRAM);
    data.writeUInt16BE(256, 0);
    data.writeUInt16BE(data.length, 2);
    const t = ipfix ? (baseSecs + Math.floor(i / 100)) * 1000 : uptime - 10;
    for (let k = 0; k < RECORDS_PER_DATAGRAM; k++) {
      const f = flow(next);
      let o = 4 + k * recLen;
      for (const [id, len] of fields) {
        writeField(data, o, id, len, f, t);
        o += len;
      }
    }
    parts.push(data);
    const body = Buffer.concat(parts);
    const h = Buffer.alloc(ipfix ? 16 : 20);
    if (ipfix) {
      h.writeUInt16BE(10, 0);
      h.writeUInt16BE(16 + body.length, 2);
      h.writeUInt32BE(baseSecs + Math.floor(i / 100), 4);
      h.writeUInt32BE(seq, 8);
      h.writeUInt32BE(1, 12);
      seq += RECORDS_PER_DATAGRAM;
    } else {
      h.writeUInt16BE(9, 0);
      h.writeUInt16BE(parts.length === 2 ? RECORDS_PER_DATAGRAM + 1 : RECORDS_PER_DATAGRAM, 2);
      h.writeUInt32BE(uptime, 4);
      h.writeUInt32BE(baseSecs + Math.floor(i / 100), 8);
      h.writeUInt32BE(seq, 12);
      h.writeUInt32BE(1, 16);
      seq += 1;
    }
    out.push(Buffer.concat([h, body]));
  }
  return out;
}
