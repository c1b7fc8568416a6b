import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asciiString, type Utf8Buffer } from '../src/ascii-interner.ts';
import { PartitionSequencer, sequencingSpec } from '../src/index.ts';
import { flow } from './helpers.ts';

const spec = sequencingSpec();
const W = spec.window_ms;

describe('sealed window hand-off', () => {
  it('asciiString reads any slice as utf8Slice does (ASCII, non-ASCII, every length to 40)', () => {
    const texts: string[] = [];
    for (let n = 0; n <= 40; n++) {
      const ascii = Array.from({ length: n }, (_, i) => String.fromCharCode(0x21 + ((i * 7 + n) % 94))).join(
        '',
      );
      texts.push(ascii);
      // A non-ASCII char at each position: the ASCII path must not take it as Latin-1.
      for (let at = 0; at < n; at++) texts.push(`${ascii.slice(0, at)}é${ascii.slice(at + 1)}`);
      if (n > 0) texts.push(`${ascii.slice(0, n - 1)}\u{1F600}`);
    }
    texts.push('192.168.100.200', '10.0.0.1', '2001:db8::1', 'fe80::1ff:fe23:4567:890a');
    for (const text of texts) {
      const bytes = Buffer.concat([Buffer.from('xx'), Buffer.from(text), Buffer.from('yy')]) as Utf8Buffer;
      const end = bytes.length - 2;
      assert.equal(asciiString(bytes, 2, end), bytes.utf8Slice(2, end), JSON.stringify(text));
    }
  });

  it('hands out the windows of every group sealed in one call, in window order, and takes each once', () => {
    const seq = new PartitionSequencer(spec);
    const A = '10.0.0.1';
    const B = '10.0.1.1';
    let offset = 0;
    const push = (start: number, src: string) => seq.push(flow({ start_ms: start, src_ip: src }), offset++);
    // Window 1: A twice, then B.
    for (const [start, src] of [
      [W + 5, A],
      [W + 9, A],
      [W + 11, B],
    ] as const)
      push(start, src);
    assert.equal(seq.seal().length, 0);
    // Windows 2 (B, then A) and 3 (A twice, then B), all within the lateness bound.
    for (const [start, src] of [
      [2 * W + 5, B],
      [2 * W + 9, A],
      [3 * W + 5, A],
      [3 * W + 9, A],
      [3 * W + 20, B],
    ] as const)
      push(start, src);
    // The watermark passes the ends of windows 1 and 2 at once: both groups seal in one call.
    push(3 * W + spec.allowed_lateness_ms + 1, '10.9.9.9');
    const sealed = seq.seal();
    const describe = (ws: readonly { src_ip: string; window_start_ms: number; flowCount: number }[]) =>
      ws.map((w) => `${w.window_start_ms / W}:${w.src_ip}:${w.flowCount}`);
    assert.deepEqual(describe(sealed), [`1:${A}:2`, `1:${B}:1`, `2:${B}:1`, `2:${A}:1`]);
    // Only window 1 may be emitted yet: window 2 stays for a later take.
    const first = seq.takeEmittable(2 * W);
    assert.deepEqual(describe(first), [`1:${A}:2`, `1:${B}:1`]);
    assert.equal(first[0], sealed[0]);
    assert.equal(seq.openWindows, 5);
    // Window 3 seals alone; windows 2 and 3 are taken together, each window once.
    seq.idleFlush();
    const third = seq.seal();
    assert.deepEqual(describe(third), [`3:${A}:2`, `3:${B}:1`, '3:10.9.9.9:1']);
    const rest = seq.takeEmittable();
    assert.deepEqual(describe(rest), [...describe(sealed.slice(2)), ...describe(third)]);
    assert.equal(rest[0], sealed[2]);
    assert.equal(seq.openWindows, 0);
    assert.deepEqual(seq.takeEmittable(), []);
    assert.equal(seq.seal().length, 0);
  });
});
