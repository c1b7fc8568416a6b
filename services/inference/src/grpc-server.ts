import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import type { Finding, Sequence } from '@tidewatch/contracts';
import { type Detector, ModelNotFoundError, trainedTactics } from '@tidewatch/detector';
import type { FindingFilter, VectorStore } from '@tidewatch/vector-store';

export const PROTO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../proto');
export const INFERENCE_PROTO = join(PROTO_DIR, 'tidewatch/v1/inference.proto');
export const HEALTH_PROTO = join(PROTO_DIR, 'grpc/health/v1/health.proto');
export const INFERENCE_SERVICE_NAME = 'tidewatch.v1.Inference';

export function loadProtos(): protoLoader.PackageDefinition {
  return protoLoader.loadSync([INFERENCE_PROTO, HEALTH_PROTO], {
    includeDirs: [PROTO_DIR],
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
}

// Wire shapes as proto-loader presents them (keepCase, longs as numbers).
interface PbFlow {
  start_ms: number;
  end_ms: number;
  protocol: number;
  src_port: number;
  dst_port: number;
  fwd_bytes: number;
  fwd_pkts: number;
  bwd_bytes: number;
  bwd_pkts: number;
  tcp_flags: number;
  /** 0 when not given (proto3 default): read as 1. */
  sampling_rate: number;
}
interface PbSequence {
  sequence_id: string;
  src_ip: string;
  dst_ip: string;
  window_start_ms: number;
  window_end_ms: number;
  part: number;
  flows: PbFlow[];
  context: Sequence['context'] | null;
}
interface PbFilter {
  from_ms?: number;
  to_ms?: number;
  verdict?: string;
  severity: string[];
  tactic?: string;
  technique?: string;
  src_ip?: string;
  dst_ip?: string;
  status: string[];
  model_version?: string;
  min_score?: number;
  labelled?: boolean;
}

class RpcError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

function toSequence(pb: PbSequence, i: number): Sequence {
  if (!pb.flows || pb.flows.length === 0)
    throw new RpcError(grpc.status.INVALID_ARGUMENT, `sequences[${i}] has no flows`);
  return {
    sequence_id: pb.sequence_id || `adhoc-${i}`,
    src_ip: pb.src_ip,
    dst_ip: pb.dst_ip,
    window_start_ms: pb.window_start_ms,
    window_end_ms: pb.window_end_ms,
    part: pb.part,
    flows: pb.flows.map((f) => ({
      ...f,
      label: null,
      attack: null,
      origin: 'grpc',
      sampling_rate: f.sampling_rate > 0 ? f.sampling_rate : 1,
    })),
    context: pb.context ?? { distinct_dsts: 1, distinct_dst_ports: 1, connections: pb.flows.length },
  };
}

export function findingToPb(f: Finding): Record<string, unknown> {
  return {
    ...f,
    suppressed_by: f.suppressed_by ?? '',
    label: f.label ?? -1,
    explanation: {
      ...f.explanation,
      neighbours: f.explanation.neighbours.map((n) => ({
        ...n,
        verdict: n.verdict ?? '',
        label: n.label ?? '',
      })),
    },
  };
}

function toFilter(pb: PbFilter | null | undefined): FindingFilter | undefined {
  if (!pb) return undefined;
  const f: FindingFilter = {};
  if (pb.from_ms !== undefined) f.fromMs = pb.from_ms;
  if (pb.to_ms !== undefined) f.toMs = pb.to_ms;
  if (pb.verdict !== undefined) f.verdict = pb.verdict as FindingFilter['verdict'];
  if (pb.severity?.length) f.severity = pb.severity as NonNullable<FindingFilter['severity']>;
  if (pb.tactic !== undefined) f.tactic = pb.tactic;
  if (pb.technique !== undefined) f.technique = pb.technique;
  if (pb.src_ip !== undefined) f.srcIp = pb.src_ip;
  if (pb.dst_ip !== undefined) f.dstIp = pb.dst_ip;
  if (pb.status?.length) f.status = pb.status as NonNullable<FindingFilter['status']>;
  if (pb.model_version !== undefined) f.modelVersion = pb.model_version;
  if (pb.min_score !== undefined) f.minScore = pb.min_score;
  if (pb.labelled !== undefined) f.labelled = pb.labelled;
  return f;
}

export interface InferenceGrpcDeps {
  detector: Detector;
  store: VectorStore;
  adminKey: string | undefined;
  ready: () => boolean;
  swap(version: string | undefined): Promise<void>;
  rollback(): Promise<void>;
}

export async function modelInfo(detector: Detector): Promise<Record<string, unknown>> {
  const m = detector.model;
  const versions = await detector.host.repository.list();
  return {
    version: m.version,
    created_at: m.manifest.created_at ?? '',
    feature_spec: m.manifest.feature_spec ?? '',
    feature_spec_hash: m.manifest.feature_spec_hash,
    score_threshold: m.manifest.thresholds.score,
    embedding_dim: m.manifest.embedding_dim,
    max_len: m.manifest.max_len,
    tactics: m.manifest.tactics,
    trained_tactics: [...trainedTactics(m.manifest)],
    device: m.device,
    available: versions.map((v) => ({
      version: v.version,
      created_at: v.created_at,
      is_default: v.is_default,
    })),
    previous_versions: [...detector.host.previousVersions],
    manifest_json: JSON.stringify(m.manifest),
  };
}

type Handler<Req> = (call: grpc.ServerUnaryCall<Req, unknown>) => Promise<unknown>;

function unary<Req>(fn: Handler<Req>): grpc.handleUnaryCall<Req, unknown> {
  return (call, callback) => {
    fn(call).then(
      (res) => callback(null, res),
      (e: unknown) => {
        const code =
          e instanceof RpcError
            ? e.code
            : e instanceof ModelNotFoundError
              ? grpc.status.NOT_FOUND
              : e instanceof Error && /dimension|CIDR|IP address|prefix/.test(e.message)
                ? grpc.status.INVALID_ARGUMENT
                : grpc.status.INTERNAL;
        callback({ code, details: e instanceof Error ? e.message : String(e) });
      },
    );
  };
}

/** gRPC server: tidewatch.v1.Inference, grpc.health.v1.Health and server reflection. */
export class InferenceGrpcServer {
  private readonly server = new grpc.Server();
  private readonly watchers = new Set<grpc.ServerWritableStream<{ service: string }, unknown>>();
  private port = 0;

  constructor(private readonly deps: InferenceGrpcDeps) {
    const pkgDef = loadProtos();
    const proto = grpc.loadPackageDefinition(pkgDef) as unknown as {
      tidewatch: { v1: { Inference: { service: grpc.ServiceDefinition } } };
      grpc: { health: { v1: { Health: { service: grpc.ServiceDefinition } } } };
    };
    this.server.addService(proto.tidewatch.v1.Inference.service, this.inferenceHandlers());
    this.server.addService(proto.grpc.health.v1.Health.service, this.healthHandlers());
    new ReflectionService(pkgDef).addToServer(this.server);
  }

  async listen(port: number, host = '0.0.0.0'): Promise<number> {
    this.port = await new Promise<number>((res, rej) =>
      this.server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? rej(err) : res(p),
      ),
    );
    return this.port;
  }

  /** Pushes the current status to Watch streams (call when readiness changes). */
  notifyHealth(): void {
    for (const w of this.watchers) w.write({ status: this.status(w.request.service) });
  }

  async close(): Promise<void> {
    for (const w of this.watchers) w.end();
    this.watchers.clear();
    await new Promise<void>((res) => this.server.tryShutdown(() => res()));
  }

  private status(service: string): string {
    if (service !== '' && service !== INFERENCE_SERVICE_NAME) return 'SERVICE_UNKNOWN';
    return this.deps.ready() ? 'SERVING' : 'NOT_SERVING';
  }

  private healthHandlers(): grpc.UntypedServiceImplementation {
    return {
      Check: (call: grpc.ServerUnaryCall<{ service: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        const status = this.status(call.request.service);
        if (status === 'SERVICE_UNKNOWN')
          cb({ code: grpc.status.NOT_FOUND, details: `unknown service ${call.request.service}` });
        else cb(null, { status });
      },
      Watch: (call: grpc.ServerWritableStream<{ service: string }, unknown>) => {
        this.watchers.add(call);
        call.write({ status: this.status(call.request.service) });
        call.on('cancelled', () => this.watchers.delete(call));
        call.on('close', () => this.watchers.delete(call));
      },
    };
  }

  private requireAdmin(call: grpc.ServerUnaryCall<unknown, unknown>): void {
    const key = this.deps.adminKey;
    if (!key)
      throw new RpcError(
        grpc.status.PERMISSION_DENIED,
        'model administration is disabled: TIDEWATCH_ADMIN_KEY is not set',
      );
    const auth = call.metadata.get('authorization')[0];
    if (auth !== `Bearer ${key}`)
      throw new RpcError(grpc.status.UNAUTHENTICATED, 'admin key required (authorization: Bearer <key>)');
  }

  private inferenceHandlers(): grpc.UntypedServiceImplementation {
    const { detector, store } = this.deps;
    return {
      Embed: unary<{ sequences: PbSequence[] }>(async (call) => {
        const seqs = call.request.sequences.map(toSequence);
        const scored = await detector.score(seqs);
        return {
          model_version: scored[0]?.finding.model_version ?? detector.model.version,
          embeddings: scored.map((s) => ({
            sequence_id: s.finding.sequence_id,
            vector: Array.from(s.embedding),
          })),
        };
      }),
      Classify: unary<{ sequences: PbSequence[]; with_neighbours: boolean }>(async (call) => {
        const seqs = call.request.sequences.map(toSequence);
        const scored = await detector.score(seqs);
        if (call.request.with_neighbours) await detector.explainNeighbours(scored, store);
        return {
          model_version: scored[0]?.finding.model_version ?? detector.model.version,
          findings: scored.map((s) => findingToPb(s.finding)),
        };
      }),
      Similar: unary<{
        query?: 'sequence_id' | 'vector';
        sequence_id?: string;
        vector?: { vector: number[] };
        k: number;
        filter?: PbFilter | null;
      }>(async (call) => {
        const r = call.request;
        const k = Math.min(1000, r.k > 0 ? r.k : 20);
        let vector: number[];
        let excludeId: string | undefined;
        if (r.query === 'sequence_id' && r.sequence_id) {
          const p = await store.get(r.sequence_id, { withVector: true });
          if (!p) throw new RpcError(grpc.status.NOT_FOUND, `sequence ${r.sequence_id} is not in the store`);
          vector = p.vector;
          excludeId = r.sequence_id;
        } else if (r.query === 'vector' && r.vector) {
          vector = r.vector.vector;
        } else {
          throw new RpcError(grpc.status.INVALID_ARGUMENT, 'give sequence_id or vector');
        }
        const filter = toFilter(r.filter);
        const hits = await store.similar(vector, {
          k,
          ...(filter ? { filter } : {}),
          ...(excludeId ? { excludeId } : {}),
        });
        return {
          hits: hits.map((h) => ({
            sequence_id: h.id,
            similarity: h.similarity,
            finding: findingToPb(h.payload),
          })),
        };
      }),
      ModelInfo: unary(async () => modelInfo(detector)),
      SwapModel: unary<{ version: string }>(async (call) => {
        this.requireAdmin(call);
        await this.deps.swap(call.request.version || undefined);
        return modelInfo(detector);
      }),
      RollbackModel: unary(async (call) => {
        this.requireAdmin(call);
        await this.deps.rollback();
        return modelInfo(detector);
      }),
    };
  }
}
