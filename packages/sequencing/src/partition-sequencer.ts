import type { FlowRecord } from '@tidewatch/contracts';
import { BiflowStitcher } from './biflow-stitcher.ts';
import type { FlowAddresses } from './flow-decoder.ts';
import {
  type ConversationFlow,
  firewallConnectionCount,
  flowOrigin,
  type InputPosition,
  isIpfixBiflow,
  isStitchable,
  notAConversationFlow,
  orientBiflow,
} from './conversation-flow.ts';
import type { SequencingSpec } from './spec.ts';
import { type FirewallConnection, type OpenWindow, WindowStore, windowStartOf } from './window-store.ts';

/**
 * What a partition must remember beside its committed offset to replay exactly: re-reading from
 * `offset` with `maxSeenAtOffset` reproduces every late/accept decision, windows that end at or
 * before `emittedThrough` were already emitted (their flows below `processedThrough` are skipped),
 * and `bumps` replays idle flushes.
 */
export interface PartitionCheckpoint {
  offset: number;
  maxSeenAtOffset: number;
  processedThrough: number;
  emittedThrough: number;
  bumps: { offset: number; maxSeen: number }[];
}

/**
 * accepted: into a window (or the biflow stitcher); late: its window had closed (route it to the
 * late path); replayed: re-read after a restart and already handled; not_a_flow: rule 0
 * (notAConversationFlow: an exporter event that counted no traffic, IPv6 link control), in no window;
 * merged: rule 0b, a firewall connection's update or teardown folded into the flow its window
 * already holds for that connection (firewallConnectionCount).
 */
export type PushOutcome = 'accepted' | 'late' | 'replayed' | 'not_a_flow' | 'merged';

/**
 * The sequencer state of one input partition: watermark (max event time seen - allowed lateness),
 * biflow stitching and open windows (rules 1-4). Pure and synchronous; the service and the batch
 * helper drive it the same way: push flows in offset order, seal, apply entity statistics of the
 * sealed windows, then take the windows that may be emitted.
 */
export class PartitionSequencer {
  readonly #stitcher: BiflowStitcher;
  readonly #windows: WindowStore;
  #maxSeen = Number.NEGATIVE_INFINITY;
  #emittedThrough = Number.NEGATIVE_INFINITY;
  #processedThrough = 0;
  #nextOffset = 0;
  #bumps: { offset: number; maxSeen: number }[] = [];
  #late: FlowRecord[] = [];
  #replayed = 0;

  constructor(
    private readonly spec: SequencingSpec,
    restore?: PartitionCheckpoint,
  ) {
    this.#stitcher = new BiflowStitcher(spec.biflow_tolerance_ms);
    this.#windows = new WindowStore(spec.window_ms);
    if (restore) {
      this.#maxSeen = restore.maxSeenAtOffset;
      this.#emittedThrough = restore.emittedThrough;
      this.#processedThrough = restore.processedThrough;
      this.#nextOffset = restore.offset;
      this.#bumps = restore.bumps
        .filter((b) => b.offset > restore.offset)
        .sort((a, b) => a.offset - b.offset);
    }
  }

  get watermark(): number {
    return this.#maxSeen - this.spec.allowed_lateness_ms;
  }

  get maxSeen(): number {
    return this.#maxSeen;
  }

  get openWindows(): number {
    return this.#windows.openWindows;
  }

  get pendingHalves(): number {
    return this.#stitcher.pendingCount;
  }

  /** Flows skipped because a replay after restart found them already emitted or already routed late. */
  get replayed(): number {
    return this.#replayed;
  }

  /** Windows ending at or before this were emitted (or never existed). */
  get emittedThrough(): number {
    return this.#emittedThrough;
  }

  get nextOffset(): number {
    return this.#nextOffset;
  }

  /** Pushes one input record at `offset` (offsets strictly increase within a partition). */
  push(flow: FlowRecord, offset: number): PushOutcome {
    return this.#push(flow, offset, false);
  }

  /**
   * Like push, for a record that is reused after this call (FlowDecoder.decodeTransient): what is
   * kept of it (a biflow half, a late record) is copied.
   */
  pushTransient(flow: FlowRecord, offset: number, addresses?: FlowAddresses): PushOutcome {
    return this.#push(flow, offset, true, addresses);
  }

  /**
   * `addresses` (FlowDecoder.decodeDeferred): the record's addresses are those bytes; a flow that
   * joins a window is placed by them, any other gets its `src_ip`/`dst_ip` set here first (so
   * after the call they are set unless the outcome is 'accepted').
   */
  #push(flow: FlowRecord, offset: number, transient: boolean, addresses?: FlowAddresses): PushOutcome {
    if (this.#bumps.length > 0) this.#applyBumps(offset);
    if (notAConversationFlow(flow) !== undefined) {
      // Not a flow: it neither joins a window nor moves the watermark (a replay decides the same).
      this.#nextOffset = offset + 1;
      addresses?.resolve(flow);
      if (offset < this.#processedThrough) {
        this.#replayed++;
        return 'replayed';
      }
      return 'not_a_flow';
    }
    const maxSeenBefore = this.#maxSeen;
    if (flow.start_ms > maxSeenBefore) this.#maxSeen = flow.start_ms;
    this.#nextOffset = offset + 1;
    const windowMs = this.spec.window_ms;
    const windowEnd = Math.floor(flow.start_ms / windowMs) * windowMs + windowMs;
    if (windowEnd <= this.#maxSeen - this.spec.allowed_lateness_ms) {
      addresses?.resolve(flow);
      if (offset < this.#processedThrough) {
        this.#replayed++;
        return 'replayed';
      }
      return 'late';
    }
    if (isIpfixBiflow(flow) && flow.fwd_pkts === 0 && flow.fwd_bytes === 0 && flow.bwd_pkts > 0) {
      // A "biflow" whose source sent nothing is one direction of traffic (softflowd -b exports an
      // ICMP query and its reply as two such records): turned round, it is a half to stitch.
      addresses?.resolve(flow);
      this.#stitcher.add(orientBiflow(flow), { offset, maxSeenBefore }); // a new record: turned round
      return 'accepted';
    }
    if (isStitchable(flow)) {
      addresses?.resolve(flow);
      this.#stitcher.add(transient ? copyRecord(flow) : flow, { offset, maxSeenBefore });
      return 'accepted';
    }
    // A record that needs no stitching is placed as it is (src is the initiator), like #place; an
    // IPFIX biflow first as its initiator's record (orientBiflow).
    if (windowEnd <= this.#emittedThrough) {
      addresses?.resolve(flow);
      if (offset < this.#processedThrough) {
        this.#replayed++;
        return 'replayed';
      }
      this.#late.push(transient ? copyRecord(flow) : flow);
      return 'late';
    }
    const count = firewallConnectionCount(flow);
    const connection: FirewallConnection | undefined =
      count === undefined
        ? undefined
        : {
            id: `${flow.exporter}/${flow.observation_domain}/${flow.extra?.['flowId']}`,
            total: count === 'total',
          };
    let added: boolean;
    if (isIpfixBiflow(flow)) {
      addresses?.resolve(flow);
      const oriented = orientBiflow(flow);
      added = this.#windows.addFlow(
        oriented.src_ip,
        oriented.dst_ip,
        oriented,
        flowOrigin(flow),
        offset,
        maxSeenBefore,
        connection,
      );
    } else if (addresses === undefined) {
      added = this.#windows.addFlow(
        flow.src_ip,
        flow.dst_ip,
        flow,
        flowOrigin(flow),
        offset,
        maxSeenBefore,
        connection,
      );
    } else {
      added = this.#windows.addFlowBytes(
        addresses.bytes,
        addresses.srcStart,
        addresses.srcEnd,
        addresses.dstStart,
        addresses.dstEnd,
        flow,
        flowOrigin(flow),
        offset,
        maxSeenBefore,
        connection,
      );
    }
    return added ? 'accepted' : 'merged';
  }

  #applyBumps(offset: number): void {
    while (this.#bumps.length > 0 && (this.#bumps[0] as { offset: number }).offset <= offset) {
      const bump = this.#bumps.shift() as { offset: number; maxSeen: number };
      this.#maxSeen = Math.max(this.#maxSeen, bump.maxSeen);
    }
  }

  /** Moves past a record that could not be decoded (it went to the dead-letter topic). */
  skip(offset: number): void {
    if (offset >= this.#nextOffset) this.#nextOffset = offset + 1;
  }

  /**
   * Decides pending biflow halves and seals the windows the watermark has passed. Returns the
   * newly sealed windows: their entity statistics are final for this partition. Read-only: it
   * may be the array takeEmittable hands out for them later.
   */
  seal(): readonly OpenWindow[] {
    for (const cf of this.#stitcher.release(this.watermark)) this.#place(cf);
    return this.#windows.sealThrough(this.watermark);
  }

  /**
   * Removes and returns the sealed windows that may be emitted: those ending at or before both this
   * partition's watermark and `lowWatermark` (the lowest watermark of all partitions, so entity
   * statistics from every partition are complete).
   */
  takeEmittable(lowWatermark = Number.POSITIVE_INFINITY): OpenWindow[] {
    const threshold = Math.min(lowWatermark, this.watermark);
    const out = this.#windows.takeThrough(threshold);
    if (threshold > this.#emittedThrough) this.#emittedThrough = threshold;
    return out;
  }

  /** Records routed late since the last call (whole input records, biflow halves included). */
  takeLate(): FlowRecord[] {
    const late = this.#late;
    this.#late = [];
    return late;
  }

  /**
   * Input went quiet: advance the watermark past every open window so they seal and can be
   * emitted. Recorded as a bump so a replay reproduces it.
   */
  idleFlush(): void {
    const lastEnd = Math.max(
      this.#windows.maxWindowEnd(),
      windowStartOf(this.#stitcher.maxPendingStart(), this.spec.window_ms) + this.spec.window_ms,
    );
    if (!Number.isFinite(lastEnd)) return;
    const maxSeen = lastEnd + this.spec.allowed_lateness_ms;
    if (maxSeen <= this.#maxSeen) return;
    this.#maxSeen = maxSeen;
    this.#bumps.push({ offset: this.#nextOffset, maxSeen });
  }

  /** End of input (offline use): every pending half is decided and every window sealed. */
  finish(): void {
    this.#maxSeen = Number.POSITIVE_INFINITY;
  }

  /** The offset to commit and what a replay from it needs. */
  checkpoint(): PartitionCheckpoint {
    const candidates = [this.#windows.minPosition(), this.#stitcher.minPosition()].filter(
      (p): p is InputPosition => p !== undefined,
    );
    let offset = this.#nextOffset;
    let maxSeenAtOffset = this.#maxSeen;
    for (const p of candidates) {
      if (p.offset < offset) {
        offset = p.offset;
        maxSeenAtOffset = p.maxSeenBefore;
      }
    }
    return {
      offset,
      maxSeenAtOffset,
      processedThrough: Math.max(this.#nextOffset, this.#processedThrough),
      emittedThrough: this.#emittedThrough,
      bumps: this.#bumps.filter((b) => b.offset > offset),
    };
  }

  #place(cf: ConversationFlow): PushOutcome {
    const windowEnd = windowStartOf(cf.flow.start_ms, this.spec.window_ms) + this.spec.window_ms;
    if (windowEnd <= this.#emittedThrough) {
      if (cf.lastOffset < this.#processedThrough) {
        this.#replayed += cf.sources.length;
        return 'replayed';
      }
      this.#late.push(...cf.sources);
      return 'late';
    }
    this.#windows.add(cf);
    return 'accepted';
  }
}

function copyRecord(flow: FlowRecord): FlowRecord {
  return { ...flow, extra: flow.extra && { ...flow.extra } };
}
