import type avro from 'avsc';

/**
 * Why this exists: avsc reads an array or map block by looping over the block's item count, and
 * reading past the end of the buffer does not stop it (it reads `undefined` bytes and checks the
 * offset only at the end). One corrupted count in a Kafka message (10^8) kept a decode busy for
 * minutes and past 4 GB before the process died. Every generic decode therefore walks the writer
 * schema over the bytes first: O(message bytes), no values built, and any count, length or union
 * index that cannot fit in the bytes left is an AvroBoundsError naming the field.
 */
export class AvroBoundsError extends Error {
  override name = 'AvroBoundsError';
}

/** Items of a zero-byte type (null, empty record) carry no bytes to bound their count with. */
const MAX_ZERO_BYTE_ITEMS = 1_000_000;

type Check = () => void;

// One message at a time, synchronously (module level, so a check allocates nothing per message).
let buf: Buffer = Buffer.alloc(0);
let pos = 0;
let end = 0;

/** Throws AvroBoundsError unless `bytes[start..]` holds exactly one value of `type`, as written. */
export function checkAvroBounds(type: avro.Type, bytes: Buffer, start: number): void {
  const check = compiled(type);
  buf = bytes;
  pos = start;
  end = bytes.length;
  try {
    check();
    if (pos !== end) throw new AvroBoundsError(`trailing data: ${end - pos} bytes after the value`);
  } finally {
    buf = EMPTY;
  }
}

const EMPTY = Buffer.alloc(0);
const cache = new WeakMap<avro.Type, { check: Check }>();

function compiled(type: avro.Type): Check {
  return compile(type, type.name ?? type.typeName).check;
}

/** Messages start as avsc's do ('truncated buffer', 'invalid …'), which consumers already classify as undecodable. */
function truncated(what: string): never {
  throw new AvroBoundsError(`truncated buffer: ${what} runs past byte ${end}`);
}

function invalid(what: string, message: string): never {
  throw new AvroBoundsError(`invalid ${what}: ${message}`);
}

/**
 * A zig-zag varint as a number (exact to 2^53, which is all a bound needs). Any length, as avsc
 * reads it (non-minimal encodings are valid); the buffer's end bounds it.
 */
function readVarint(what: string): number {
  let raw = 0;
  let scale = 1;
  for (;;) {
    if (pos >= end) truncated(what);
    const b = buf[pos++] as number;
    // Past 2^63 the value only needs to stay too large to fit (never NaN, which compares false).
    if (scale <= 2 ** 63) raw += (b & 0x7f) * scale;
    else if (b & 0x7f) raw = Number.POSITIVE_INFINITY;
    if (!(b & 0x80)) return raw % 2 === 1 ? -(raw + 1) / 2 : raw / 2;
    scale *= 128;
  }
}

function skip(what: string, n: number): void {
  if (n < 0) invalid(what, `negative length ${n} at byte ${pos}`);
  if (n > end - pos) truncated(what);
  pos += n;
}

/**
 * A check per type (named types are compiled once, so recursive schemas terminate), plus the
 * fewest bytes one value of it can take.
 */
function compile(type: avro.Type, what: string): { check: Check; minBytes: number } {
  const known = cache.get(type);
  if (known) return { check: known.check, minBytes: minBytesOf(type) };
  const t = type as unknown as AvroTypeInternals;
  const name = t.typeName;
  let check: Check;
  switch (name) {
    case 'null':
      check = () => undefined;
      break;
    case 'boolean':
      check = () => {
        if (pos >= end) truncated(what);
        if ((buf[pos++] as number) > 1) invalid(what, `boolean byte ${buf[pos - 1]} is neither 0 nor 1`);
      };
      break;
    case 'int':
    case 'long':
    case 'enum':
      check = () => {
        const v = readVarint(what);
        if (name === 'enum' && (v < 0 || v >= (t.symbols as string[]).length))
          invalid(what, `enum index ${v} outside 0..${(t.symbols as string[]).length - 1}`);
      };
      break;
    case 'float':
      check = () => skip(what, 4);
      break;
    case 'double':
      check = () => skip(what, 8);
      break;
    case 'fixed':
      check = () => skip(what, t.size as number);
      break;
    case 'string':
    case 'bytes':
      check = () => skip(what, readVarint(what));
      break;
    case 'array':
    case 'map': {
      const holder = { check: (() => undefined) as Check };
      cache.set(type, holder);
      const inner = name === 'array' ? (t.itemsType as avro.Type) : (t.valuesType as avro.Type);
      const item = compile(inner, `${what}[]`);
      const perItem = name === 'map' ? item.minBytes + 1 : item.minBytes;
      holder.check = () => {
        for (;;) {
          let n = readVarint(what);
          if (n === 0) return;
          if (n < 0) {
            n = -n;
            const size = readVarint(what);
            if (size < 0 || size > end - pos)
              invalid(what, `block size ${size} at byte ${pos}, ${end - pos} bytes left`);
          }
          if (perItem > 0 ? n > (end - pos) / perItem : n > MAX_ZERO_BYTE_ITEMS)
            invalid(what, `block of ${n} items at byte ${pos} cannot fit in the ${end - pos} bytes left`);
          for (let i = 0; i < n; i++) {
            if (name === 'map') skip(`${what} key`, readVarint(`${what} key`));
            item.check();
          }
        }
      };
      return { check: holder.check, minBytes: 1 };
    }
    case 'union:unwrapped':
    case 'union:wrapped': {
      const holder = { check: (() => undefined) as Check };
      cache.set(type, holder);
      const branches = (t.types as avro.Type[]).map((b) => compile(b, what).check);
      holder.check = () => {
        const i = readVarint(what);
        if (i < 0 || i >= branches.length)
          invalid(what, `union index ${i} outside 0..${branches.length - 1}`);
        (branches[i] as Check)();
      };
      return { check: holder.check, minBytes: 1 };
    }
    case 'record':
    case 'error':
    case 'request': {
      const holder = { check: (() => undefined) as Check };
      cache.set(type, holder);
      const fields = (t.fields as { name: string; type: avro.Type }[]).map(
        (f) => compile(f.type, f.name).check,
      );
      holder.check = () => {
        for (let i = 0; i < fields.length; i++) (fields[i] as Check)();
      };
      return { check: holder.check, minBytes: minBytesOf(type) };
    }
    default:
      if (t.underlyingType) return compile(t.underlyingType, what);
      throw new Error(`checkAvroBounds: no bound for Avro type ${String(name)}`);
  }
  cache.set(type, { check });
  return { check, minBytes: minBytesOf(type) };
}

/** Fewest bytes a value takes (records: the sum of their fields; a record seen again inside itself counts 0). */
function minBytesOf(type: avro.Type, seen = new Set<avro.Type>()): number {
  const t = type as unknown as AvroTypeInternals;
  switch (t.typeName) {
    case 'null':
      return 0;
    case 'float':
      return 4;
    case 'double':
      return 8;
    case 'fixed':
      return t.size as number;
    case 'record':
    case 'error':
    case 'request': {
      if (seen.has(type)) return 0;
      seen.add(type);
      let sum = 0;
      for (const f of t.fields as { type: avro.Type }[]) sum += minBytesOf(f.type, seen);
      seen.delete(type);
      return sum;
    }
    default:
      return t.underlyingType ? minBytesOf(t.underlyingType, seen) : 1;
  }
}

interface AvroTypeInternals {
  typeName: string;
  symbols?: string[];
  size?: number;
  itemsType?: avro.Type;
  valuesType?: avro.Type;
  types?: avro.Type[];
  fields?: { name: string; type: avro.Type }[];
  underlyingType?: avro.Type;
}
