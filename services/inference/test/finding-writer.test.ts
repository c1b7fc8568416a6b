import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AvroCodec,
  CONTRACTS,
  createCodecs,
  FINDING_STATUSES,
  FINDING_WRITER_FINGERPRINT,
  type Finding,
  FindingEncodeError,
  FindingWriter,
  LocalSchemaRegistry,
  type Sequence,
  SEVERITIES,
  schemaFingerprint,
  VERDICTS,
} from '@tidewatch/contracts';
import { Detector, ModelHost, ModelRepository } from '@tidewatch/detector';
import { readFlowFile } from '@tidewatch/flow-importers';
import { buildSequences } from '@tidewatch/sequencing';
import { needsShared, seededRandom, sharedPath } from '@tidewatch/testing';

const SAFE = 9007199254740990;
const LONG_EDGES = [
  0,
  1,
  -1,
  63,
  64,
  -64,
  -65,
  2 ** 30 - 1,
  2 ** 30,
  -(2 ** 30),
  -(2 ** 30) - 1,
  2 ** 31,
  2 ** 32,
  -(2 ** 40),
  SAFE,
  -SAFE,
  SAFE - 1,
  -SAFE + 1,
];
const INT_EDGES = [
  0,
  1,
  -1,
  63,
  -64,
  64,
  -65,
  2 ** 30,
  -(2 ** 30) - 1,
  2 ** 31 - 1,
  -(2 ** 31),
  65535,
  255,
  -0,
];
const DOUBLE_EDGES = [
  0,
  -0,
  1,
  -1,
  0.5,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  Number.MIN_VALUE,
  Number.MAX_VALUE,
  1e-300,
  0.123456,
];
// Multi-byte, astral, and lone surrogates (avsc writes those differently up to and past 64 bytes).
const CHARS = [
  'a',
  'Z',
  '0',
  '.',
  ':',
  'é',
  'ß',
  '€',
  '中',
  '😀',
  '\u0000',
  '\uFFFD',
  '\n',
  '\uD800',
  '\uDC00',
  '\u007F',
  '\u0080',
  '\u07FF',
  '\u0800',
];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}
function randLong(r: () => number): number {
  const u = r();
  if (u < 0.3) return pick(r, LONG_EDGES);
  if (u < 0.6) return Math.floor((r() - 0.5) * 2 * SAFE);
  return Math.floor((r() - 0.3) * 2 ** (1 + Math.floor(r() * 40)));
}
function randInt(r: () => number): number {
  return r() < 0.3 ? pick(r, INT_EDGES) : Math.floor((r() - 0.5) * 2 ** 32) | 0;
}
function randDouble(r: () => number): number {
  const u = r();
  return u < 0.3 ? pick(r, DOUBLE_EDGES) : u < 0.7 ? r() : (r() - 0.5) * 10 ** Math.floor(r() * 40 - 20);
}
/** Lengths around avsc's 64-byte switch between its own UTF-8 loop and Buffer's writer. */
function randString(r: () => number): string {
  const u = r();
  const len =
    u < 0.1
      ? 0
      : u < 0.6
        ? Math.floor(r() * 40)
        : u < 0.9
          ? 20 + Math.floor(r() * 60)
          : 200 + Math.floor(r() * 3000);
  const ascii = r() < 0.5;
  let s = '';
  for (let i = 0; i < len; i++)
    s += ascii || r() < 0.8 ? String.fromCharCode(32 + Math.floor(r() * 95)) : pick(r, CHARS);
  return s;
}
function randArray<T>(r: () => number, item: () => T): T[] {
  const u = r();
  const n = u < 0.3 ? 0 : u < 0.9 ? 1 + Math.floor(r() * 5) : 60 + Math.floor(r() * 100);
  return Array.from({ length: n }, item);
}
const candidate = (r: () => number) => ({
  id: randString(r),
  name: randString(r),
  probability: randDouble(r),
});

/** A finding with every field drawn (nullable unions null, undefined or set; extra members ignored by both). */
function randomFinding(r: () => number): Finding {
  const f: Finding & Record<string, unknown> = {
    sequence_id: randString(r),
    window_start_ms: randLong(r),
    window_end_ms: randLong(r),
    first_seen_ms: randLong(r),
    last_seen_ms: randLong(r),
    src_ip: randString(r),
    dst_ip: randString(r),
    dst_ports: randArray(r, () => randInt(r)),
    protocols: randArray(r, () => randInt(r)),
    connections: randLong(r),
    fwd_bytes: randLong(r),
    bwd_bytes: randLong(r),
    fwd_pkts: randLong(r),
    bwd_pkts: randLong(r),
    score: randDouble(r),
    anomaly: randDouble(r),
    verdict: pick(r, VERDICTS),
    tactics: randArray(r, () => candidate(r)),
    techniques: randArray(r, () => candidate(r)),
    severity: pick(r, SEVERITIES),
    model_version: randString(r),
    status: pick(r, FINDING_STATUSES),
    explanation: {
      subscores: {
        beacon: randDouble(r),
        scan: randDouble(r),
        brute_force: randDouble(r),
        exfiltration: randDouble(r),
        reflection: randDouble(r),
      },
      top_features: randArray(r, () => ({
        name: randString(r),
        value: randDouble(r),
        contribution: randDouble(r),
      })),
      neighbours: randArray(r, () => {
        const n: Record<string, unknown> = { sequence_id: randString(r), similarity: randDouble(r) };
        const v = r();
        if (v < 0.6) n['verdict'] = v < 0.3 ? null : pick(r, VERDICTS);
        const l = r();
        if (l < 0.6) n['label'] = l < 0.3 ? null : randString(r);
        return n as unknown as Finding['explanation']['neighbours'][number];
      }),
    },
    suppressed_by: r() < 0.5 ? null : randString(r),
    label: r() < 0.4 ? null : r() < 0.8 ? (r() < 0.5 ? 0 : 1) : randInt(r),
    scored_at_ms: randLong(r),
  };
  if (r() < 0.2) delete (f as Partial<Finding>).suppressed_by;
  if (r() < 0.2) delete (f as Partial<Finding>).label;
  // Appended with default 0: a producer from before it leaves it out.
  if (r() < 0.2) delete (f.explanation.subscores as Partial<Finding['explanation']['subscores']>).reflection;
  if (r() < 0.1) f['extra'] = randString(r);
  return f;
}

/** A finding as a test spoils it: any member, any value. */
// biome-ignore lint/suspicious/noExplicitAny: members are overwritten with values of the wrong type on purpose
type Spoilable = Record<string, any>;

async function writerAndCodec(): Promise<{ writer: FindingWriter; codec: AvroCodec<Finding> }> {
  const codec = (await createCodecs(new LocalSchemaRegistry())).findings;
  return { writer: new FindingWriter(codec), codec };
}

describe('findings.v1 encoded by hand', () => {
  it('is written for the contract schema as it is (a schema change fails here, and falls back to avsc)', async () => {
    assert.equal(schemaFingerprint(CONTRACTS.findings.schema), FINDING_WRITER_FINGERPRINT);
    const { writer } = await writerAndCodec();
    assert.equal(writer.handEncoding, true);
  });

  it('gives avsc’s bytes for 4,000 random findings (edges of every type, multi-byte and lone-surrogate strings)', async () => {
    const { writer, codec } = await writerAndCodec();
    const r = seededRandom(61);
    for (let i = 0; i < 4000; i++) {
      const f = randomFinding(r);
      assert.deepEqual(writer.encode(f), codec.encode(f), `finding ${i}`);
    }
  });

  it('gives avsc’s bytes for every finding of a labelled capture scored by the detector', {
    skip: needsShared().skip,
  }, async () => {
    const flows = [];
    for await (const rec of readFlowFile(
      sharedPath('testdata/labeled/iot23/CTU-Malware-Capture-20-1-labeled.csv'),
    ))
      if (rec.flow) flows.push(rec.flow);
    const seqs: Sequence[] = buildSequences(flows);
    const host = await ModelHost.open(new ModelRepository(), undefined, { intraOpThreads: 1 });
    try {
      const scored = await new Detector(host, { clock: () => 1_800_000_000_000 }).score(seqs);
      const { writer, codec } = await writerAndCodec();
      let alerts = 0;
      for (const [i, s] of scored.entries()) {
        const f = s.finding;
        // Neighbours as the pipeline attaches them (ids and verdicts of other findings of the capture).
        if (s.alert) {
          alerts++;
          f.explanation.neighbours = [1, 2, 3].map((k) => {
            const n = (scored[(i + k * 97) % scored.length] as (typeof scored)[number]).finding;
            return {
              sequence_id: n.sequence_id,
              similarity: 1 / (k + 0.3),
              verdict: k === 3 ? null : n.verdict,
              label: n.label === null ? null : n.label === 1 ? 'malicious' : 'benign',
            };
          });
        }
        assert.deepEqual(writer.encode(f), codec.encode(f), f.sequence_id);
      }
      assert.ok(alerts > 10 && scored.length > 1000, `${alerts} alerts of ${scored.length}`);
    } finally {
      await host.close();
    }
  });

  it('refuses what avsc refuses, naming the field', async () => {
    const { writer, codec } = await writerAndCodec();
    const base = randomFinding(seededRandom(3));
    const cases: [string, (f: Spoilable) => void][] = [
      [
        'sequence_id',
        (f) => {
          f.sequence_id = 7;
        },
      ],
      [
        'window_start_ms',
        (f) => {
          f.window_start_ms = 1.5;
        },
      ],
      [
        'window_end_ms',
        (f) => {
          f.window_end_ms = 2 ** 53;
        },
      ],
      [
        'first_seen_ms',
        (f) => {
          f.first_seen_ms = Number.NaN;
        },
      ],
      [
        'last_seen_ms',
        (f) => {
          f.last_seen_ms = '5';
        },
      ],
      [
        'src_ip',
        (f) => {
          f.src_ip = null;
        },
      ],
      [
        'dst_ip',
        (f) => {
          delete f.dst_ip;
        },
      ],
      [
        'dst_ports',
        (f) => {
          f.dst_ports = [80, 2 ** 31];
        },
      ],
      [
        'dst_ports',
        (f) => {
          f.dst_ports = 'x';
        },
      ],
      [
        'protocols',
        (f) => {
          f.protocols = [6.5];
        },
      ],
      [
        'connections',
        (f) => {
          f.connections = Number.POSITIVE_INFINITY;
        },
      ],
      [
        'fwd_bytes',
        (f) => {
          f.fwd_bytes = -(2 ** 60);
        },
      ],
      [
        'bwd_bytes',
        (f) => {
          f.bwd_bytes = undefined;
        },
      ],
      [
        'fwd_pkts',
        (f) => {
          f.fwd_pkts = true;
        },
      ],
      [
        'bwd_pkts',
        (f) => {
          f.bwd_pkts = 1n;
        },
      ],
      [
        'score',
        (f) => {
          f.score = '0.5';
        },
      ],
      [
        'anomaly',
        (f) => {
          f.anomaly = null;
        },
      ],
      [
        'verdict',
        (f) => {
          f.verdict = 'evil';
        },
      ],
      [
        'tactics',
        (f) => {
          f.tactics = [{ id: 'TA1', name: 'x' }];
        },
      ],
      [
        'techniques',
        (f) => {
          f.techniques = [{ id: 1, name: 'x', probability: 1 }];
        },
      ],
      [
        'severity',
        (f) => {
          f.severity = 'severe';
        },
      ],
      [
        'model_version',
        (f) => {
          f.model_version = undefined;
        },
      ],
      [
        'status',
        (f) => {
          f.status = 3;
        },
      ],
      [
        'explanation.subscores.scan',
        (f) => {
          f.explanation = { ...f.explanation, subscores: { ...f.explanation.subscores, scan: undefined } };
        },
      ],
      [
        'explanation.subscores.reflection',
        (f) => {
          f.explanation = { ...f.explanation, subscores: { ...f.explanation.subscores, reflection: '0.9' } };
        },
      ],
      [
        'explanation.top_features',
        (f) => {
          f.explanation = { ...f.explanation, top_features: [{ name: 'a', value: 1, contribution: 'x' }] };
        },
      ],
      [
        'explanation.neighbours',
        (f) => {
          f.explanation = {
            ...f.explanation,
            neighbours: [{ sequence_id: 'a', similarity: 1, verdict: 'odd' }],
          };
        },
      ],
      [
        'explanation.neighbours',
        (f) => {
          f.explanation = { ...f.explanation, neighbours: [{ sequence_id: 'a', similarity: 1, label: 1 }] };
        },
      ],
      [
        'explanation.neighbours',
        (f) => {
          f.explanation = { ...f.explanation, neighbours: [{ sequence_id: 'a' }] };
        },
      ],
      [
        'suppressed_by',
        (f) => {
          f.suppressed_by = 12;
        },
      ],
      [
        'label',
        (f) => {
          f.label = 0.5;
        },
      ],
      [
        'label',
        (f) => {
          f.label = 'malicious';
        },
      ],
      [
        'scored_at_ms',
        (f) => {
          f.scored_at_ms = -0.25;
        },
      ],
    ];
    for (const [field, spoil] of cases) {
      const f = structuredClone(base) as unknown as Spoilable;
      spoil(f);
      assert.throws(() => codec.encode(f as Finding), Error, `avsc accepts the spoiled ${field}`);
      assert.throws(
        () => writer.encode(f as Finding),
        (e: unknown) => e instanceof FindingEncodeError && e.message.startsWith(`findings.v1 ${field}`),
        field,
      );
    }
    for (const bad of [null, undefined, 5, 'finding'])
      assert.throws(
        () => writer.encode(bad as unknown as Finding),
        /findings\.v1 finding: expected a record/,
      );
    // avsc writes index 0 for an enum given a name of Object.prototype; the hand encoder refuses it.
    const f = { ...base, severity: 'constructor' } as unknown as Finding;
    assert.throws(() => writer.encode(f), /findings\.v1 severity: expected one of info, low/);
  });

  it('leaves a changed schema to avsc', async () => {
    const fields = (CONTRACTS.findings.schema as { fields: unknown[] }).fields;
    const schema = {
      ...(CONTRACTS.findings.schema as object),
      fields: [...fields, { name: 'note', type: ['null', 'string'], default: null }],
    } as typeof CONTRACTS.findings.schema;
    const codec = await new AvroCodec<Finding>(
      { topic: 'findings.v1', schema },
      new LocalSchemaRegistry(),
    ).init();
    const writer = new FindingWriter(codec);
    assert.equal(writer.handEncoding, false);
    const f = randomFinding(seededRandom(9));
    assert.deepEqual(writer.encode(f), codec.encode(f));
    assert.notDeepEqual(writer.encode(f), new FindingWriter((await writerAndCodec()).codec).encode(f));
  });
});
