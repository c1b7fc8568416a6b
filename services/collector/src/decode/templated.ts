import type { FlowRecord } from '@tidewatch/contracts';
import { RecordScratch, readOptionValue, type TemplateField, VARIABLE_LENGTH } from './decode-plan.ts';
import { describeElement } from './information-elements.ts';
import { newFlowRecord, setExtra, uptimeToEpoch } from './flow-record.ts';
import { type DomainOptions, OptionsStore } from './options-store.ts';
import { emptySampledHeader, parseEthernet, parseIp } from './packet-header.ts';
import { recordGap, type SequenceTracker } from './sequence-tracker.ts';
import type { DecoderStats, DomainStats } from './stats.ts';
import type { PendingSet, Template, TemplateCache } from './template-cache.ts';
import { u16, u32 } from './wire.ts';

const V9_HEADER = 20;
const IPFIX_HEADER = 16;
const MAX_FIELDS = 1024;

type Format = 'netflow9' | 'ipfix';

/** One options data record, as reported to `DecoderOptions.onOptionsRecord`. */
export interface OptionsRecordEvent {
  exporter: string;
  domain: number;
  templateId: number;
  format: Format;
  /** Element name → value (numbers up to 8 bytes, text for strings, hex otherwise); v9 scope fields as `scope<type>`. */
  values: Record<string, number | string>;
}

/**
 * NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) messages: sets of templates, options templates and
 * data records decoded through the per-template plans of the TemplateCache.
 */
export class TemplatedDecoder {
  readonly #scratch = new RecordScratch();
  readonly #frame = emptySampledHeader();
  // per-message context, set by decode() and by pending replays
  #exporter = '';
  #domain = 0;
  #format: Format = 'ipfix';
  #exportMs = 0;
  #sysUptime = Number.NaN;
  #receivedAtMs = 0;
  #st!: DomainStats;
  #opts: DomainOptions | undefined;
  #out: FlowRecord[] = [];
  #dataRecords = 0; // data records framed in this message (IPFIX sequence accounting)
  #unframed = false; // a data set could not be counted (no template)
  onOptionsRecord: ((e: OptionsRecordEvent) => void) | undefined;

  constructor(
    private readonly cache: TemplateCache,
    private readonly stats: DecoderStats,
    private readonly sequences: SequenceTracker,
    private readonly options: OptionsStore,
    private readonly extras: boolean,
  ) {}

  decode(b: Buffer, exporter: string, receivedAtMs: number, format: Format, out: FlowRecord[]): void {
    const ipfix = format === 'ipfix';
    const headerLen = ipfix ? IPFIX_HEADER : V9_HEADER;
    if (b.length < headerLen) {
      const st = this.stats.domain(exporter, 0, format, receivedAtMs);
      st.datagrams++;
      this.stats.error(st, 'truncated_header');
      return;
    }
    let end = b.length;
    let seq: number;
    if (ipfix) {
      const length = u16(b, 2);
      this.#exportMs = u32(b, 4) * 1000;
      this.#sysUptime = Number.NaN;
      seq = u32(b, 8);
      this.#domain = u32(b, 12);
      if (length < IPFIX_HEADER || length > b.length) {
        const st = this.stats.domain(exporter, this.#domain, format, receivedAtMs);
        st.datagrams++;
        this.stats.error(st, 'bad_message_length');
        return;
      }
      end = length;
    } else {
      this.#sysUptime = u32(b, 4);
      this.#exportMs = u32(b, 8) * 1000;
      seq = u32(b, 12);
      this.#domain = u32(b, 16);
    }
    this.#exporter = exporter;
    this.#format = format;
    this.#receivedAtMs = receivedAtMs;
    this.#out = out;
    this.#st = this.stats.domain(exporter, this.#domain, format, receivedAtMs);
    this.#st.datagrams++;
    this.#opts = this.options.get(exporter, this.#domain);
    this.#dataRecords = 0;
    this.#unframed = false;

    let o = headerLen;
    while (end - o >= 4) {
      const setId = u16(b, o);
      const setLen = u16(b, o + 2);
      if (setLen < 4 || o + setLen > end) {
        this.stats.error(this.#st, 'bad_set_length');
        this.#unframed = true;
        break;
      }
      const body = o + 4;
      const setEnd = o + setLen;
      if (setId >= 256) this.#dataSet(b, body, setEnd, setId);
      else if (ipfix ? setId === 2 : setId === 0) this.#templateSet(b, body, setEnd, ipfix);
      else if (ipfix ? setId === 3 : setId === 1) {
        if (ipfix) this.#ipfixOptionsTemplateSet(b, body, setEnd);
        else this.#v9OptionsTemplateSet(b, body, setEnd);
      } else this.stats.error(this.#st, 'reserved_set_id');
      o = setEnd;
    }
    if (ipfix) {
      const gap = this.sequences.observe(
        `${exporter}|${this.#domain}|ipfix`,
        seq,
        this.#unframed ? Number.NaN : this.#dataRecords,
      );
      recordGap(this.#st, gap, 'records');
    } else {
      const gap = this.sequences.observe(`${exporter}|${this.#domain}|v9`, seq, 1);
      recordGap(this.#st, gap, 'datagrams');
    }
  }

  #templateSet(b: Buffer, o: number, end: number, ipfix: boolean): void {
    while (end - o >= 4) {
      const id = u16(b, o);
      const count = u16(b, o + 2);
      if (count === 0) {
        if (!ipfix) return; // v9: padding
        this.#withdraw(id, false);
        o += 4;
        continue;
      }
      const parsed = readFields(b, o + 4, end, count, ipfix);
      if (parsed === undefined) {
        this.stats.error(this.#st, 'bad_template');
        return;
      }
      this.#store(id, false, 0, parsed.fields, b.subarray(o, parsed.end));
      o = parsed.end;
    }
  }

  #ipfixOptionsTemplateSet(b: Buffer, o: number, end: number): void {
    while (end - o >= 4) {
      const id = u16(b, o);
      const count = u16(b, o + 2);
      if (count === 0) {
        this.#withdraw(id, true);
        o += 4;
        continue;
      }
      if (end - o < 6) return;
      const scopeCount = u16(b, o + 4);
      if (scopeCount > count) {
        this.stats.error(this.#st, 'bad_template');
        return;
      }
      const parsed = readFields(b, o + 6, end, count, true);
      if (parsed === undefined) {
        this.stats.error(this.#st, 'bad_template');
        return;
      }
      this.#store(id, true, scopeCount, parsed.fields, b.subarray(o, parsed.end));
      o = parsed.end;
    }
  }

  #v9OptionsTemplateSet(b: Buffer, o: number, end: number): void {
    while (end - o >= 6) {
      const id = u16(b, o);
      const scopeLen = u16(b, o + 2);
      const optLen = u16(b, o + 4);
      if (id === 0 && scopeLen === 0) return; // padding
      if (
        scopeLen % 4 !== 0 ||
        optLen % 4 !== 0 ||
        scopeLen + optLen === 0 ||
        o + 6 + scopeLen + optLen > end
      ) {
        this.stats.error(this.#st, 'bad_template');
        return;
      }
      const scopeCount = scopeLen / 4;
      const parsed = readFields(b, o + 6, end, scopeCount + optLen / 4, false);
      if (parsed === undefined) {
        this.stats.error(this.#st, 'bad_template');
        return;
      }
      // v9 scope field types (1 system, 2 interface, 3 line card, 4 cache, 5 template) are not IE ids
      for (let i = 0; i < scopeCount; i++) {
        const f = parsed.fields[i] as TemplateField;
        f.pen = V9_SCOPE_PEN;
      }
      this.#store(id, true, scopeCount, parsed.fields, b.subarray(o, parsed.end));
      o = parsed.end;
    }
  }

  #store(id: number, isOptions: boolean, scopeCount: number, fields: TemplateField[], def: Buffer): void {
    if (id < 256) {
      this.stats.error(this.#st, 'bad_template');
      return;
    }
    const t = this.cache.put(
      this.#exporter,
      this.#domain,
      id,
      isOptions,
      scopeCount,
      fields,
      def,
      this.#receivedAtMs,
      this.#format === 'ipfix',
    );
    if (t === undefined) {
      this.stats.error(this.#st, 'template_limit');
      return;
    }
    this.#st.templatesReceived++;
    const held = this.cache.takePending(this.#exporter, this.#domain, id);
    if (held.length > 0) this.#replay(held, t);
  }

  #withdraw(id: number, options: boolean): void {
    if (id === 2 || id === 3) {
      this.#st.templatesWithdrawn += this.cache.withdrawAll(
        this.#exporter,
        this.#domain,
        options || id === 3,
      );
    } else if (this.cache.withdraw(this.#exporter, this.#domain, id)) this.#st.templatesWithdrawn++;
  }

  #replay(held: PendingSet[], t: Template): void {
    const saved = [this.#exportMs, this.#sysUptime, this.#receivedAtMs, this.#format] as const;
    for (const p of held) {
      this.#exportMs = p.exportMs;
      this.#sysUptime = p.sysUptimeMs;
      this.#receivedAtMs = p.receivedAtMs;
      this.#format = p.format;
      this.#st.pendingReplayed++;
      this.#decodeSet(t, p.body, 0, p.body.length, false);
    }
    [this.#exportMs, this.#sysUptime, this.#receivedAtMs, this.#format] = saved;
  }

  #dataSet(b: Buffer, o: number, end: number, id: number): void {
    const t = this.cache.get(this.#exporter, this.#domain, id, this.#receivedAtMs, () => {
      this.#st.templatesExpired++;
    });
    if (t === undefined) {
      this.#st.templateMisses++;
      this.#unframed = true;
      const held = this.cache.holdPending(
        {
          exporter: this.#exporter,
          domain: this.#domain,
          templateId: id,
          body: Buffer.from(b.subarray(o, end)),
          exportMs: this.#exportMs,
          sysUptimeMs: this.#sysUptime,
          receivedAtMs: this.#receivedAtMs,
          format: this.#format,
        },
        (dropped) => {
          this.stats.domain(dropped.exporter, dropped.domain, dropped.format, this.#receivedAtMs)
            .pendingDrops++;
        },
      );
      if (held) this.#st.pendingBuffered++;
      else this.#st.pendingDrops++;
      return;
    }
    this.#decodeSet(t, b, o, end, true);
  }

  #decodeSet(t: Template, b: Uint8Array, o: number, end: number, count: boolean): void {
    const plan = t.plan;
    if (plan.minLength === 0) {
      this.stats.error(this.#st, 'empty_template');
      return;
    }
    if (t.isOptions) {
      while (end - o >= plan.minLength) {
        const next = this.#optionsRecord(t, b, o, end);
        if (next < 0) {
          this.stats.error(this.#st, 'bad_record');
          break;
        }
        o = next;
        this.#st.optionsRecords++;
        if (count) this.#dataRecords++;
      }
      this.#opts = this.options.get(this.#exporter, this.#domain);
      return;
    }
    const readers = plan.readers;
    const lengths = plan.lengths;
    const n = readers.length;
    const s = this.#scratch;
    const fixed = plan.fixedLength;
    const fast = plan.fixed;
    let emitted = 0;
    while (end - o >= plan.minLength) {
      const r = newFlowRecord(this.#exporter, this.#domain, this.#format);
      s.reset();
      if (fast !== null) {
        fast(b, o, r, s);
        o += fixed;
      } else if (fixed >= 0) {
        for (let i = 0; i < n; i++) {
          const len = lengths[i] as number;
          const rd = readers[i];
          if (rd != null) rd(b, o, len, r, s);
          o += len;
        }
      } else {
        let ok = true;
        for (let i = 0; i < n; i++) {
          let len = lengths[i] as number;
          if (len === VARIABLE_LENGTH) {
            if (o >= end) {
              ok = false;
              break;
            }
            len = b[o] as number;
            o += 1;
            if (len === 255) {
              if (end - o < 2) {
                ok = false;
                break;
              }
              len = u16(b, o);
              o += 2;
            }
          }
          if (o + len > end) {
            ok = false;
            break;
          }
          const rd = readers[i];
          if (rd != null) rd(b, o, len, r, s);
          o += len;
        }
        if (!ok) {
          this.stats.error(this.#st, 'bad_record');
          break;
        }
      }
      this.#finish(r, s);
      this.#out.push(r);
      emitted++;
    }
    this.#st.records += emitted;
    this.stats.records += emitted;
    if (count) this.#dataRecords += emitted;
  }

  /** Derived fields: times, sampling, ICMP, counters from alternative elements, sampled frames. */
  #finish(r: FlowRecord, s: RecordScratch): void {
    if (s.frameBuf !== null && (!s.hasSrc || !s.hasDst)) this.#applyFrame(r, s);
    if (r.fwd_bytes === 0) {
      if (s.totalBytes >= 0) r.fwd_bytes = s.totalBytes;
      else if (s.initiatorBytes >= 0) r.fwd_bytes = s.initiatorBytes;
    }
    if (r.fwd_pkts === 0) {
      if (s.totalPkts >= 0) r.fwd_pkts = s.totalPkts;
      else if (s.initiatorPkts >= 0) r.fwd_pkts = s.initiatorPkts;
    }
    if (r.bwd_bytes === 0) {
      if (s.revTotalBytes >= 0) r.bwd_bytes = s.revTotalBytes;
      else if (s.responderBytes >= 0) r.bwd_bytes = s.responderBytes;
    }
    if (r.bwd_pkts === 0) {
      if (s.revTotalPkts >= 0) r.bwd_pkts = s.revTotalPkts;
      else if (s.responderPkts >= 0) r.bwd_pkts = s.responderPkts;
    }
    if (r.src_port === 0 && s.altSrcPort >= 0) r.src_port = s.altSrcPort;
    if (r.dst_port === 0 && s.altDstPort >= 0) r.dst_port = s.altDstPort;
    if (s.icmpTypeCode >= 0) {
      r.icmp_type = s.icmpTypeCode >> 8;
      r.icmp_code = s.icmpTypeCode & 0xff;
    } else if (s.icmpType >= 0) {
      r.icmp_type = s.icmpType;
      r.icmp_code = Math.max(0, s.icmpCode);
    } else if ((r.protocol === 1 || r.protocol === 58) && r.icmp_type == null) {
      r.icmp_type = r.dst_port >> 8;
      r.icmp_code = r.dst_port & 0xff;
    }
    this.#times(r, s);
    const opts = this.#opts;
    let rate = 0;
    if (s.samplingInterval > 0)
      rate =
        s.samplingSpace > 0
          ? (s.samplingInterval + s.samplingSpace) / s.samplingInterval
          : s.samplingInterval;
    else if (opts !== undefined) {
      if (s.samplerId >= 0) rate = opts.samplerRates.get(s.samplerId) ?? opts.defaultRate;
      else rate = opts.defaultRate;
    }
    r.sampling_rate = rate >= 1 ? Math.round(rate) : 1;
    if (opts !== undefined && opts.interfaceNames.size > 0) {
      const inName = r.in_if != null ? opts.interfaceNames.get(r.in_if) : undefined;
      const outName = r.out_if != null ? opts.interfaceNames.get(r.out_if) : undefined;
      if (inName !== undefined) setExtra(r, 'in_if_name', inName);
      if (outName !== undefined) setExtra(r, 'out_if_name', outName);
    }
    if (!this.extras) r.extra = undefined;
  }

  #times(r: FlowRecord, s: RecordScratch): void {
    let start = s.startMs;
    let end = s.endMs;
    const exportMs = this.#exportMs;
    if (Number.isNaN(start) && !Number.isNaN(s.startDeltaUs))
      start = exportMs - Math.floor(s.startDeltaUs / 1000);
    if (Number.isNaN(end) && !Number.isNaN(s.endDeltaUs)) end = exportMs - Math.floor(s.endDeltaUs / 1000);
    if (Number.isNaN(start) && !Number.isNaN(s.firstUptime)) {
      if (!Number.isNaN(this.#sysUptime)) {
        start = uptimeToEpoch(exportMs, this.#sysUptime, s.firstUptime);
        if (!Number.isNaN(s.lastUptime)) end = uptimeToEpoch(exportMs, this.#sysUptime, s.lastUptime);
      } else {
        // IPFIX sysUpTime elements count from systemInitTimeMilliseconds (record or options)
        const init = !Number.isNaN(s.systemInitMs)
          ? s.systemInitMs
          : (this.#opts?.systemInitMs ?? Number.NaN);
        if (!Number.isNaN(init)) {
          start = init + s.firstUptime;
          if (!Number.isNaN(s.lastUptime)) end = init + s.lastUptime;
        } else if (!Number.isNaN(s.lastUptime)) {
          end = exportMs;
          start = exportMs - Math.max(0, s.lastUptime - s.firstUptime);
        }
      }
    } else if (Number.isNaN(end) && !Number.isNaN(s.lastUptime) && !Number.isNaN(this.#sysUptime)) {
      end = uptimeToEpoch(exportMs, this.#sysUptime, s.lastUptime);
    }
    const observed = s.observedMs;
    if (Number.isNaN(start) && Number.isNaN(end)) {
      // a record of one observation (PSAMP, an event) happened when it was observed
      start = !Number.isNaN(observed) ? observed : exportMs > 0 ? exportMs : this.#receivedAtMs;
      end = start;
    } else if (Number.isNaN(start)) start = Number.isNaN(s.durationMs) ? end : end - s.durationMs;
    else if (Number.isNaN(end)) {
      // NSEL sends a connection's creation time and the event's time, no end: a teardown's or an
      // update's event time is when the traffic it counts ended.
      if (!Number.isNaN(s.durationMs)) end = start + s.durationMs;
      else end = !Number.isNaN(observed) && observed >= start ? observed : start;
    }
    r.start_ms = start;
    r.end_ms = end;
  }

  #applyFrame(r: FlowRecord, s: RecordScratch): void {
    const h = this.#frame;
    h.srcIp = '';
    h.dstIp = '';
    h.protocol = 0;
    h.srcPort = 0;
    h.dstPort = 0;
    h.tcpFlags = 0;
    h.vlan = -1;
    h.icmpType = -1;
    h.icmpCode = -1;
    h.ipTotalLength = 0;
    h.found = false;
    const b = s.frameBuf as Uint8Array;
    if (s.frameIsIp) parseIp(b, s.frameOff, s.frameOff + s.frameLen, h);
    else parseEthernet(b, s.frameOff, s.frameOff + s.frameLen, h);
    if (!h.found) return;
    r.src_ip = h.srcIp;
    r.dst_ip = h.dstIp;
    if (r.protocol === 0) r.protocol = h.protocol;
    if (r.src_port === 0) r.src_port = h.srcPort;
    if (r.dst_port === 0) r.dst_port = h.dstPort;
    if (r.tcp_flags === 0) r.tcp_flags = h.tcpFlags;
    if (r.vlan == null && h.vlan >= 0) r.vlan = h.vlan;
    if (h.icmpType >= 0 && s.icmpType < 0 && s.icmpTypeCode < 0) {
      s.icmpType = h.icmpType;
      s.icmpCode = h.icmpCode;
    }
    // octet counters elsewhere in IPFIX are IP-layer bytes, so the sampled packet's IP length wins over the frame size
    if (r.fwd_bytes === 0) r.fwd_bytes = h.ipTotalLength > 0 ? h.ipTotalLength : Math.max(0, s.frameSize);
    if (r.fwd_pkts === 0) r.fwd_pkts = 1;
  }

  /** Reads one options data record and files what it says; returns the next offset or -1. */
  #optionsRecord(t: Template, b: Uint8Array, o: number, end: number): number {
    let samplerId = -1;
    let interval = 0;
    let space = 0;
    let population = 0;
    let size = 0;
    let ifIndex = -1;
    let ifName: string | undefined;
    let initMs = Number.NaN;
    const values: Record<string, number | string> | undefined = this.onOptionsRecord ? {} : undefined;
    for (let i = 0; i < t.fields.length; i++) {
      const f = t.fields[i] as TemplateField;
      let len = f.length;
      if (len === VARIABLE_LENGTH) {
        if (o >= end) return -1;
        len = b[o] as number;
        o++;
        if (len === 255) {
          if (end - o < 2) return -1;
          len = u16(b, o);
          o += 2;
        }
      }
      if (o + len > end) return -1;
      if (values !== undefined && len > 0) {
        const name = f.pen === V9_SCOPE_PEN ? `scope${f.id}` : describeElement(f.id, f.pen, len).name;
        values[name] = readOptionValue(f, b, o, len);
      }
      if (f.pen === V9_SCOPE_PEN) {
        if (f.id === 2 && len > 0 && len <= 8) ifIndex = readOptionValue(f, b, o, len) as number;
      } else if (f.pen === 0 && len > 0) {
        const v = readOptionValue(f, b, o, len);
        switch (f.id) {
          case 48:
          case 302:
            samplerId = v as number;
            break;
          case 34:
          case 50:
          case 305:
            interval = v as number;
            break;
          case 306:
            space = v as number;
            break;
          case 309:
            size = v as number;
            break;
          case 310:
            population = v as number;
            break;
          case 10:
            ifIndex = v as number;
            break;
          case 82:
          case 83:
            if (ifName === undefined || f.id === 82) ifName = v as string;
            break;
          case 160:
            initMs = v as number;
            break;
        }
      }
      o += len;
    }
    // RFC 5475: n-out-of-N random sampling (309/310) says the rate directly; systematic count-based
    // sampling selects `interval` packets then skips `space` (305/306); v9 34/50 is 1-in-N
    let rate = 0;
    if (size > 0 && population > 0) rate = population / size;
    else if (interval > 0) rate = space > 0 ? (interval + space) / interval : interval;
    if (rate > 0 || ifName !== undefined || !Number.isNaN(initMs)) {
      const opts = this.options.for(this.#exporter, this.#domain);
      if (rate > 0) {
        if (samplerId >= 0) OptionsStore.bounded(opts.samplerRates, samplerId, rate);
        else opts.defaultRate = rate;
      }
      if (ifName !== undefined && ifIndex >= 0) OptionsStore.bounded(opts.interfaceNames, ifIndex, ifName);
      if (!Number.isNaN(initMs)) opts.systemInitMs = initMs;
    }
    if (values !== undefined)
      this.onOptionsRecord?.({
        exporter: this.#exporter,
        domain: this.#domain,
        templateId: t.id,
        format: this.#format,
        values,
      });
    return o;
  }
}

/** Marks NetFlow v9 options scope fields, whose type numbers are not information elements. */
const V9_SCOPE_PEN = -1;

function readFields(
  b: Uint8Array,
  o: number,
  end: number,
  count: number,
  ipfix: boolean,
): { fields: TemplateField[]; end: number } | undefined {
  if (count > MAX_FIELDS) return undefined;
  const fields: TemplateField[] = [];
  let recordLen = 0;
  for (let i = 0; i < count; i++) {
    if (end - o < 4) return undefined;
    let id = u16(b, o);
    const length = u16(b, o + 2);
    o += 4;
    let pen = 0;
    if (ipfix && id & 0x8000) {
      if (end - o < 4) return undefined;
      id &= 0x7fff;
      pen = u32(b, o);
      o += 4;
    }
    if (!ipfix && length === VARIABLE_LENGTH) return undefined;
    recordLen += length === VARIABLE_LENGTH ? 1 : length;
    fields.push({ id, pen, length });
  }
  if (recordLen > 65535) return undefined;
  return { fields, end: o };
}
