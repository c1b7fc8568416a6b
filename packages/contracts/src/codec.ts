import { createHash } from 'node:crypto';
import avro from 'avsc';
import findingSchema from './schemas/finding.avsc.json' with { type: 'json' };
import flowSchema from './schemas/flow.avsc.json' with { type: 'json' };
import sequenceSchema from './schemas/sequence.avsc.json' with { type: 'json' };
import { checkAvroBounds } from './avro-bounds.ts';
import type { Finding } from './finding.ts';
import type { FlowRecord } from './flow.ts';
import type { Sequence } from './sequence.ts';

type AvroResolver = ReturnType<avro.Type['createResolver']>;

/** How to read one writer schema id: the resolver avsc reads with, and the writer type the bytes are bounds-checked against. */
interface Reading<Resolver> {
  resolver: Resolver;
  writer: avro.Type;
}

/** Confluent wire framing: magic byte 0, 4-byte big-endian schema id, Avro body. */
export const WIRE_MAGIC = 0;
export const WIRE_HEADER_BYTES = 5;

export class WireFormatError extends Error {
  override name = 'WireFormatError';
}

export class UnknownSchemaError extends Error {
  override name = 'UnknownSchemaError';
  constructor(readonly schemaId: number) {
    super(`unknown schema id ${schemaId}`);
  }
}

export interface ContractDefinition {
  /** Topic the contract travels on, and the registry subject `<topic>-value`. */
  topic: string;
  schema: avro.Schema;
}

export const CONTRACTS = {
  flows: { topic: 'flows.v1', schema: flowSchema as avro.Schema },
  sequences: { topic: 'sequences.v1', schema: sequenceSchema as avro.Schema },
  findings: { topic: 'findings.v1', schema: findingSchema as avro.Schema },
} as const satisfies Record<string, ContractDefinition>;

/**
 * Earlier versions of the contracts' schemas whose messages may still be on a topic: the local
 * registry knows them, so such a message is read through schema resolution (an appended field
 * takes its default).
 */
export const PREVIOUS_SCHEMAS: readonly avro.Schema[] = [
  // sequences.v1 before EntityContext.distinct_srcs was appended.
  withoutFields(sequenceBeforeSamplingRate(), 'EntityContext', ['distinct_srcs', 'distinct_probe_srcs']),
  // sequences.v1 with distinct_srcs, before EntityContext.distinct_probe_srcs was appended.
  withoutFields(sequenceBeforeSamplingRate(), 'EntityContext', ['distinct_probe_srcs']),
  // sequences.v1 with both, before SequenceFlow.sampling_rate was appended.
  sequenceBeforeSamplingRate(),
  // findings.v1 before SubScores.reflection was appended.
  withoutFields(findingSchema as avro.Schema, 'SubScores', ['reflection']),
];

function sequenceBeforeSamplingRate(): avro.Schema {
  return withoutFields(sequenceSchema as avro.Schema, 'SequenceFlow', ['sampling_rate']);
}

export function schemaFingerprint(schema: avro.Schema): string {
  const canonical = JSON.stringify(avro.Type.forSchema(schema).schema());
  return createHash('sha256').update(canonical).digest('hex');
}

/**
 * Maps schemas to ids and back. The local registry needs no server: an id is the first 31 bits of
 * the schema's fingerprint, so every process derives the same id with no coordination. The
 * Confluent registry asks a schema-registry server (`SCHEMA_REGISTRY_URL`).
 */
export interface SchemaRegistry {
  register(subject: string, schema: avro.Schema): Promise<number>;
  lookup(id: number): Promise<avro.Schema>;
}

export class LocalSchemaRegistry implements SchemaRegistry {
  readonly #byId = new Map<number, avro.Schema>();

  constructor(
    known: readonly avro.Schema[] = [...Object.values(CONTRACTS).map((c) => c.schema), ...PREVIOUS_SCHEMAS],
  ) {
    for (const schema of known) this.#byId.set(LocalSchemaRegistry.idFor(schema), schema);
  }

  static idFor(schema: avro.Schema): number {
    return Number.parseInt(schemaFingerprint(schema).slice(0, 8), 16) & 0x7fffffff;
  }

  async register(_subject: string, schema: avro.Schema): Promise<number> {
    const id = LocalSchemaRegistry.idFor(schema);
    this.#byId.set(id, schema);
    return id;
  }

  async lookup(id: number): Promise<avro.Schema> {
    const schema = this.#byId.get(id);
    if (!schema) throw new UnknownSchemaError(id);
    return schema;
  }
}

export class ConfluentSchemaRegistry implements SchemaRegistry {
  readonly #cache = new Map<number, avro.Schema>();
  constructor(
    private readonly baseUrl: string,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  async register(subject: string, schema: avro.Schema): Promise<number> {
    const res = await this.fetchImpl(
      `${this.baseUrl.replace(/\/$/, '')}/subjects/${encodeURIComponent(subject)}/versions`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
        body: JSON.stringify({ schema: JSON.stringify(schema) }),
      },
    );
    if (!res.ok)
      throw new Error(`schema registry refused ${subject}: HTTP ${res.status} ${await res.text()}`);
    const { id } = (await res.json()) as { id: number };
    this.#cache.set(id, schema);
    return id;
  }

  async lookup(id: number): Promise<avro.Schema> {
    const cached = this.#cache.get(id);
    if (cached) return cached;
    const res = await this.fetchImpl(`${this.baseUrl.replace(/\/$/, '')}/schemas/ids/${id}`);
    if (res.status === 404) throw new UnknownSchemaError(id);
    if (!res.ok) throw new Error(`schema registry lookup of id ${id} failed: HTTP ${res.status}`);
    const body = (await res.json()) as { schema: string };
    const schema = JSON.parse(body.schema) as avro.Schema;
    this.#cache.set(id, schema);
    return schema;
  }
}

/**
 * Encodes and decodes one contract with the Confluent framing. `init()` registers the writer
 * schema once; afterwards encode/decode are synchronous (hot path). A message written with another
 * known schema version is read through Avro schema resolution.
 */
export class AvroCodec<T> {
  readonly type: avro.Type;
  #schemaId = -1;
  readonly #readings = new Map<number, Reading<avro.Type | AvroResolver>>();
  #scratch = Buffer.allocUnsafe(4096);

  constructor(
    readonly contract: ContractDefinition,
    private readonly registry: SchemaRegistry,
  ) {
    this.type = avro.Type.forSchema(contract.schema);
  }

  get schemaId(): number {
    return this.#schemaId;
  }

  async init(): Promise<this> {
    this.#schemaId = await this.registry.register(`${this.contract.topic}-value`, this.contract.schema);
    this.#readings.set(this.#schemaId, { resolver: this.type, writer: this.type });
    return this;
  }

  /**
   * Header and body written into one scratch buffer, then copied out once (`toBuffer` would copy
   * the body into a buffer of its own first).
   */
  encode(value: T): Buffer {
    if (this.#schemaId < 0) throw new Error(`codec for ${this.contract.topic} used before init()`);
    let scratch = this.#scratch;
    let end = this.type.encode(value, scratch, WIRE_HEADER_BYTES);
    if (end < 0) {
      // avsc returns minus the bytes missing: grow once to fit, then keep the larger buffer.
      scratch = Buffer.allocUnsafe(Math.max(scratch.length * 2, scratch.length - end));
      this.#scratch = scratch;
      end = this.type.encode(value, scratch, WIRE_HEADER_BYTES);
    }
    const out = Buffer.allocUnsafe(end);
    out[0] = WIRE_MAGIC;
    out.writeUInt32BE(this.#schemaId, 1);
    scratch.copy(out, WIRE_HEADER_BYTES, WIRE_HEADER_BYTES, end);
    return out;
  }

  /** Synchronous decode for schema ids already seen; throws UnknownSchemaError otherwise. */
  decode(buf: Buffer): T {
    const id = readSchemaId(buf);
    const reading = this.#readings.get(id);
    if (!reading) throw new UnknownSchemaError(id);
    return this.#decodeWith(reading, buf);
  }

  async decodeAsync(buf: Buffer): Promise<T> {
    const id = readSchemaId(buf);
    let reading = this.#readings.get(id);
    if (!reading) {
      const writer = avro.Type.forSchema(await this.registry.lookup(id));
      reading = { resolver: this.type.createResolver(writer), writer };
      this.#readings.set(id, reading);
    }
    return this.#decodeWith(reading, buf);
  }

  /**
   * A decoder of this contract's messages into `readerSchema`: the same record with fields left
   * out. Avro schema resolution then skips those fields' bytes (a string is its length and an
   * offset bump) instead of building their values. For a consumer that never reads them.
   */
  project<R>(readerSchema: avro.Schema): AvroProjection<R> {
    return new AvroProjection<R>(this, readerSchema, (id) => this.registry.lookup(id));
  }

  /**
   * Decodes the body in place after the header (no view of it), rejecting truncation and trailing
   * bytes as fromBuffer does, after checkAvroBounds has walked it (avsc alone loops over a
   * corrupted array count whatever the bytes left).
   */
  #decodeWith({ resolver, writer }: Reading<avro.Type | AvroResolver>, buf: Buffer): T {
    checkAvroBounds(writer, buf, WIRE_HEADER_BYTES);
    const { value, offset } =
      resolver === this.type
        ? this.type.decode(buf, WIRE_HEADER_BYTES)
        : this.type.decode(buf, WIRE_HEADER_BYTES, resolver as AvroResolver);
    if (offset < 0) throw new Error('truncated buffer');
    if (offset < buf.length) throw new Error('trailing data');
    return value as T;
  }
}

/** See AvroCodec.project. Resolvers per writer schema id, built on first sight (as AvroCodec does). */
export class AvroProjection<R> {
  readonly type: avro.Type;
  readonly #readings = new Map<number, Reading<AvroResolver>>();

  constructor(
    codec: AvroCodec<unknown>,
    readerSchema: avro.Schema,
    private readonly lookup: (id: number) => Promise<avro.Schema>,
  ) {
    this.type = avro.Type.forSchema(readerSchema);
    if (codec.schemaId < 0) throw new Error(`codec for ${codec.contract.topic} used before init()`);
    this.#readings.set(codec.schemaId, {
      resolver: this.type.createResolver(codec.type),
      writer: codec.type,
    });
  }

  /** Synchronous for schema ids already seen; throws UnknownSchemaError otherwise. */
  decode(buf: Buffer): R {
    const id = readSchemaId(buf);
    const reading = this.#readings.get(id);
    if (!reading) throw new UnknownSchemaError(id);
    return this.#decodeWith(reading, buf);
  }

  async decodeAsync(buf: Buffer): Promise<R> {
    const id = readSchemaId(buf);
    let reading = this.#readings.get(id);
    if (!reading) {
      const writer = avro.Type.forSchema(await this.lookup(id));
      reading = { resolver: this.type.createResolver(writer), writer };
      this.#readings.set(id, reading);
    }
    return this.#decodeWith(reading, buf);
  }

  #decodeWith({ resolver, writer }: Reading<AvroResolver>, buf: Buffer): R {
    checkAvroBounds(writer, buf, WIRE_HEADER_BYTES);
    const { value, offset } = this.type.decode(buf, WIRE_HEADER_BYTES, resolver);
    if (offset < 0) throw new Error('truncated buffer');
    if (offset < buf.length) throw new Error('trailing data');
    return value as R;
  }
}

/**
 * `schema` (a JSON Avro schema) with the named fields removed from every record called
 * `recordName` inside it: a reader schema for AvroCodec.project.
 */
export function withoutFields(schema: avro.Schema, recordName: string, fields: string[]): avro.Schema {
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (!node || typeof node !== 'object') return node;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) out[k] = walk(v);
    if (out['type'] === 'record' && out['name'] === recordName && Array.isArray(out['fields']))
      out['fields'] = (out['fields'] as { name: string }[]).filter((f) => !fields.includes(f.name));
    return out;
  };
  return walk(schema) as avro.Schema;
}

export function readSchemaId(buf: Buffer): number {
  if (buf.length < WIRE_HEADER_BYTES)
    throw new WireFormatError(`message of ${buf.length} bytes is shorter than the 5-byte header`);
  if (buf[0] !== WIRE_MAGIC) throw new WireFormatError(`magic byte is ${buf[0]}, expected 0`);
  return buf.readUInt32BE(1);
}

export interface ContractCodecs {
  flows: AvroCodec<FlowRecord>;
  sequences: AvroCodec<Sequence>;
  findings: AvroCodec<Finding>;
}

/**
 * Builds and initialises the three contract codecs against one registry: by default the Confluent
 * registry at SCHEMA_REGISTRY_URL when set (so every service derives the same ids), else the local one.
 */
export async function createCodecs(
  registry: SchemaRegistry = registryFromEnv(process.env['SCHEMA_REGISTRY_URL']),
): Promise<ContractCodecs> {
  const [flows, sequences, findings] = await Promise.all([
    new AvroCodec<FlowRecord>(CONTRACTS.flows, registry).init(),
    new AvroCodec<Sequence>(CONTRACTS.sequences, registry).init(),
    new AvroCodec<Finding>(CONTRACTS.findings, registry).init(),
  ]);
  return { flows, sequences, findings };
}

export function registryFromEnv(url: string | undefined): SchemaRegistry {
  return url ? new ConfluentSchemaRegistry(url) : new LocalSchemaRegistry();
}
