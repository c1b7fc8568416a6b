/**
 * Wraps UDP payloads into a classic libpcap file (Ethernet/IPv4/UDP), so simulated exports can be
 * fed to tshark, nfdump's tools or `tidewatch replay` like a real capture.
 */
export function udpPcap(
  datagrams: { payload: Buffer; timestampMs: number }[],
  opts: { srcIp?: string; dstIp?: string; srcPort?: number; dstPort: number },
): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(262144, 16);
  header.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
  const parts: Buffer[] = [header];
  const ip = (s: string) => Buffer.from(s.split('.').map(Number));
  const src = ip(opts.srcIp ?? '127.0.0.1');
  const dst = ip(opts.dstIp ?? '127.0.0.1');
  for (const d of datagrams) {
    const udpLen = 8 + d.payload.length;
    const frame = Buffer.alloc(14 + 20 + udpLen);
    frame.writeUInt16BE(0x0800, 12);
    frame[14] = 0x45;
    frame.writeUInt16BE(20 + udpLen, 16);
    frame[22] = 64;
    frame[23] = 17;
    src.copy(frame, 26);
    dst.copy(frame, 30);
    let sum = 0;
    for (let i = 14; i < 34; i += 2) sum += frame.readUInt16BE(i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    frame.writeUInt16BE(~sum & 0xffff, 24);
    frame.writeUInt16BE(opts.srcPort ?? 40000, 34);
    frame.writeUInt16BE(opts.dstPort, 36);
    frame.writeUInt16BE(udpLen, 38);
    d.payload.copy(frame, 42);
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(Math.floor(d.timestampMs / 1000), 0);
    rec.writeUInt32LE((d.timestampMs % 1000) * 1000, 4);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    parts.push(rec, frame);
  }
  return Buffer.concat(parts);
}
