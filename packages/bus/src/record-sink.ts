import type { OutgoingMessage, RecordSink } from './bus.ts';

/**
 * A RecordSink that gathers the records as OutgoingMessages (views of one buffer per call) for a
 * producer without a native sendRecords: the fallback InProcessBus and kafkajs use before send().
 */
export class CollectingRecordSink implements RecordSink {
  buf: Buffer;
  readonly messages: OutgoingMessage[] = [];
  #pos = 0;
  #keyStart = -1;
  #valueStart = 0;
  #valueLimit = 0;

  constructor(initialSize = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  begin(key: Uint8Array, keyStart: number, keyEnd: number, maxValueBytes: number): number {
    if (this.#keyStart >= 0) throw new Error('RecordSink.begin: the record begun before was not ended');
    checkRecord(keyStart, keyEnd, key.length, maxValueBytes);
    const keyLength = keyEnd - keyStart;
    const need = this.#pos + keyLength + maxValueBytes;
    if (need > this.buf.length) {
      // Messages cut so far keep views of the old buffer, which nothing writes to again.
      this.buf = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
      this.#pos = 0;
    }
    this.buf.set(key.subarray(keyStart, keyEnd), this.#pos);
    this.#keyStart = this.#pos;
    this.#valueStart = this.#pos + keyLength;
    this.#valueLimit = this.#valueStart + maxValueBytes;
    return this.#valueStart;
  }

  /** Whether a record was begun and not yet ended. */
  get open(): boolean {
    return this.#keyStart >= 0;
  }

  end(valueEnd: number): void {
    if (this.#keyStart < 0) throw new Error('RecordSink.end: no record was begun');
    checkValueEnd(valueEnd, this.#valueStart, this.#valueLimit);
    const buf = this.buf;
    this.messages.push({
      key: buf.subarray(this.#keyStart, this.#valueStart),
      value: buf.subarray(this.#valueStart, valueEnd),
    });
    this.#pos = valueEnd;
    this.#keyStart = -1;
  }
}

/** Throws a RangeError naming what is wrong with a record's key range or value bound. */
export function checkRecord(keyStart: number, keyEnd: number, keyBytes: number, maxValueBytes: number): void {
  if (
    !(
      Number.isInteger(keyStart) &&
      Number.isInteger(keyEnd) &&
      keyStart >= 0 &&
      keyStart <= keyEnd &&
      keyEnd <= keyBytes
    )
  ) {
    throw new RangeError(
      `RecordSink.begin: key range [${keyStart}, ${keyEnd}) is not within the key's ${keyBytes} bytes`,
    );
  }
  if (!(Number.isInteger(maxValueBytes) && maxValueBytes >= 0)) {
    throw new RangeError(
      `RecordSink.begin: maxValueBytes must be a non-negative integer (got ${maxValueBytes})`,
    );
  }
}

/** Throws a RangeError when a value ends before its start or past the room begin() gave it. */
export function checkValueEnd(valueEnd: number, valueStart: number, valueLimit: number): void {
  if (!(Number.isInteger(valueEnd) && valueEnd >= valueStart && valueEnd <= valueLimit)) {
    throw new RangeError(
      `RecordSink.end: value end ${valueEnd} is outside [${valueStart}, ${valueLimit}] (the room begin() gave it)`,
    );
  }
}

/** sendRecords for a producer that only has send(): gathers the records, then sends them. */
export async function sendCollected(
  send: (messages: OutgoingMessage[]) => Promise<void>,
  write: (sink: RecordSink) => void,
): Promise<number> {
  const sink = new CollectingRecordSink();
  write(sink);
  if (sink.open) throw new Error('sendRecords: the writer returned with a record begun but not ended');
  if (sink.messages.length > 0) await send(sink.messages);
  return sink.messages.length;
}
