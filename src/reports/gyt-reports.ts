import { Injectable } from '@nestjs/common';
import type { DeliveryDto } from '../broadcasts/dto/broadcast.dto.js';
import { Clock } from '../common/clock.js';
import { NotFoundError, ValidationFailedError } from '../common/domain-error.js';
import { el, type XmlNode } from '../common/xml-writer.js';
import type { CoverageReport } from '../coverage/coverage.js';
import type { DeviceDto } from '../devices/dto/device.dto.js';
import { DevicesService } from '../devices/devices.service.js';
import { PresenceService } from '../devices/presence.service.js';
import { MAX_PAGE_SIZE } from '../common/pagination.js';
import {
  AUXILIARY_TYPE_MP3,
  BRD_STATES,
  brdStateOfBroadcast,
  brdStateOfDelivery,
  EBM_LANGUAGE,
  EBM_MSG_TYPES,
  EBM_VERSION,
  EVENT_TYPE_UNCLASSIFIED,
  KIND_MAPPING,
  severityOf,
  TERMINAL_STATE_CODES,
  TERMINAL_STATES,
  type TerminalState,
} from './gyt-mapping.js';
import { beijingDigits, beijingTime, parseBeijingDigits } from './report-time.js';
import { BroadcastFacts, codeList, ReportSources } from './report-sources.js';

/** A device that came back online this recently after being lost (timeout) is `recovered`. */
export const RECOVERED_WINDOW_MS = 3_600_000;
/** Telemetry that says a device is failing: battery at or below, enclosure at or above. */
export const FAULT_BATTERY_PCT = 10;
export const FAULT_TEMPERATURE_C = 70;

/** An EBM's event type: a classified code the alert gives (`EventType` of an EBM from above), else the placeholder. */
/** Broadcasts one EBMBrdLog holds at most (each costs its coverage). */
export const MAX_LOG_BROADCASTS = 2000;
const EVENT_TYPE_CODE = /^\d{5}$|^\d{2}[A-Z]\d{2}$/;

/**
 * GY/T-style XML (EBM, EBMStateResponse, EBMBrdLog, EBRDTState) made from Dalaba's own data, with
 * the codes of gyt-mapping.ts. Each method answers one element, no package around it: the
 * superior link wraps it in its EBD, the API answers it as a document. Times are Beijing time.
 */
@Injectable()
export class GytReports {
  constructor(
    private readonly sources: ReportSources,
    private readonly devices: DevicesService,
    private readonly presence: PresenceService,
    private readonly clock: Clock,
  ) {}

  /** The EBM of a broadcast (the `<EBM>` element, no package wrapper). */
  async ebm(broadcastId: string): Promise<string> {
    const f = await this.sources.broadcast(broadcastId);
    return ebmElement(f, await this.identity(), true).toString();
  }

  /**
   * The EBMID of a broadcast: Dalaba's EBRID (18 digits), then when it was made in Beijing time
   * to the millisecond (17 digits): 35 digits, the same every time it is asked.
   */
  async ebmId(broadcastId: string): Promise<string> {
    const f = await this.sources.broadcast(broadcastId);
    return ebmIdOf(f, await this.sources.platformEbrId());
  }

  /** The broadcast's state (`<EBMStateResponse>`). */
  async ebmStateResponse(broadcastId: string, askedEbmId?: string): Promise<string> {
    const f = await this.sources.broadcast(broadcastId);
    const ebrId = await this.sources.platformEbrId();
    const [coverage, deliveries] = await Promise.all([
      this.sources.coverage(broadcastId),
      this.sources.deliveries(broadcastId),
    ]);
    const codes = await this.devices.resourceCodes([...new Set(deliveries.map((d) => d.deviceId))]);
    const now = this.clock.now().getTime();
    const state = brdStateOfBroadcast(f.broadcast.status, f.broadcast.outcome);
    return el(
      'EBMStateResponse',
      {},
      el('RptTime', {}, beijingTime(now)),
      el('EBM', {}, el('EBMID', {}, askedEbmId ?? ebmIdOf(f, ebrId))),
      el('BrdStateCode', {}, state),
      el('BrdStateDesc', {}, describeState(f, state)),
      coverageElement(coverage),
      el(
        'ResBrdInfo',
        {},
        deliveries.map((d) => resBrdItem(d, codes.get(d.deviceId) ?? d.deviceId, ebrId, now)),
      ),
    ).toString();
  }

  /**
   * The broadcast an EBMID of Dalaba's names (its own EBM, or the Cancel of it): made, or
   * cancelled, at the instant its digits give. Null for any other EBMID.
   */
  async broadcastOfEbmId(ebmId: string): Promise<string | null> {
    const ebrId = await this.sources.platformEbrId();
    const m = /^(\d{14})(\d{3})$/.exec(ebmId.startsWith(ebrId) ? ebmId.slice(ebrId.length) : '');
    const second = m ? parseBeijingDigits(m[1]) : null;
    if (!m || second === null) return null;
    const { made, cancelled } = await this.sources.madeOrCancelledAt(second + Number(m[2]));
    return made[0] ?? cancelled[0] ?? null;
  }

  /** The broadcast log of a period (`<EBMBrdLog>`): each broadcast starting in [from, to). */
  async ebmBrdLog(from: number, to: number): Promise<string> {
    const [ids, ebrId, sender] = await Promise.all([
      this.sources.startingBetween(from, to),
      this.sources.platformEbrId(),
      this.sources.sender(),
    ]);
    // Each broadcast costs its coverage: a log that large is asked for in shorter periods.
    if (ids.length > MAX_LOG_BROADCASTS)
      throw new ValidationFailedError([
        {
          field: 'from',
          rule: 'maxBroadcasts',
          message: `${ids.length} broadcasts started in this period; a log holds at most ${MAX_LOG_BROADCASTS}: ask for a shorter one`,
        },
      ]);
    const items: XmlNode[] = [];
    for (const id of ids) {
      const f = await this.sources.broadcast(id);
      const coverage = await this.sources.coverage(id);
      const state = brdStateOfBroadcast(f.broadcast.status, f.broadcast.outcome);
      const b = f.broadcast;
      items.push(
        el(
          'EBMBrdItem',
          {},
          ebmElement(f, { ebrId, sender }, false),
          el(
            'UnitInfo',
            {},
            el(
              'Unit',
              {},
              el('EBRPS', {}, el('EBRID', {}, ebrId)),
              el('UnitName', {}, sender),
              el('PersonName', {}, b.approval?.by ?? b.createdBy),
            ),
          ),
          el('BrdStateCode', {}, state),
          el('BrdStateDesc', {}, describeState(f, state)),
          coverageElement(coverage),
        ),
      );
    }
    return el(
      'EBMBrdLog',
      {},
      el(
        'Params',
        {},
        el('RptStartTime', {}, beijingTime(from)),
        el('RptEndTime', {}, beijingTime(to)),
      ),
      items,
    ).toString();
  }

  /**
   * Terminal state reports (`<EBRDTState>`) of the given devices, or all. An unknown id is a 404,
   * unless `goneAsOffline`: the superior link reports a device deleted since its change as offline
   * (one deleted device must not hold up every other's report).
   */
  async terminalStates(deviceIds?: string[], o: { goneAsOffline?: boolean } = {}): Promise<string> {
    const devices: (DeviceDto | string)[] = deviceIds
      ? await Promise.all(
          deviceIds.map((id) =>
            this.devices.get(id).catch((err: unknown) => {
              if (o.goneAsOffline && err instanceof NotFoundError) return id;
              throw err;
            }),
          ),
        )
      : await this.allDevices();
    // The presence history is written in batches: a device back a moment ago must show as such.
    await this.presence.flush();
    const now = this.clock.now().getTime();
    const rows: XmlNode[] = [];
    for (const d of devices) {
      const state = typeof d === 'string' ? 'offline' : await this.terminalState(d, now);
      const code = TERMINAL_STATE_CODES[state];
      rows.push(
        el(
          'EBRDT',
          {},
          el('RptTime', {}, beijingTime(now)),
          el('EBRID', {}, typeof d === 'string' ? d : (d.resourceCode ?? d.id)),
          el('StateCode', {}, code),
          el('StateDesc', {}, TERMINAL_STATES[code]),
        ),
      );
    }
    return el('EBRDTState', {}, rows).toString();
  }

  /**
   * One device's state, the first that holds: `offline` (not connected, or disabled), `playing`
   * (its telemetry names what it plays), `fault` (it reports another type than registered, a
   * battery at or below 10 %, or an enclosure at or above 70 °C), `recovered` (back online within
   * the last hour after its connection was lost, not closed by it), else `online`.
   */
  async terminalState(d: DeviceDto, now: number): Promise<TerminalState> {
    const p = this.presence.get(d.id);
    if (!d.enabled || !p?.online) return 'offline';
    if (p.telemetry?.playing) return 'playing';
    const t = p.telemetry;
    if (
      d.typeMismatch ||
      (t?.batteryPct !== undefined && t.batteryPct <= FAULT_BATTERY_PCT) ||
      (t?.temperatureC !== undefined && t.temperatureC >= FAULT_TEMPERATURE_C)
    )
      return 'fault';
    const since = p.onlineSince;
    if (since !== null && now - since <= RECOVERED_WINDOW_MS) {
      const previous = (await this.devices.presenceHistory(d.id, 3)).find(
        (i) => i.endedAt !== null && Date.parse(i.endedAt) <= since,
      );
      if (previous?.endReason === 'timeout') return 'recovered';
    }
    return 'online';
  }

  private async identity(): Promise<EbmIdentity> {
    const [ebrId, sender] = await Promise.all([
      this.sources.platformEbrId(),
      this.sources.sender(),
    ]);
    return { ebrId, sender };
  }

  private async allDevices(): Promise<DeviceDto[]> {
    const out: DeviceDto[] = [];
    for (let offset = 0; ; offset += MAX_PAGE_SIZE) {
      const page = await this.devices.list({ limit: MAX_PAGE_SIZE, offset });
      out.push(...page.items);
      if (out.length >= page.total || page.items.length === 0) return out;
    }
  }
}

/** Who writes an EBM: Dalaba's EBRID and its name (the CAP sender). */
export interface EbmIdentity {
  ebrId: string;
  sender: string;
}

/**
 * The EBMID of a broadcast: Dalaba's EBRID (18 digits), then when it was made in Beijing time to
 * the millisecond (17 digits): 35 digits, the same every time it is asked.
 */
export function ebmIdOf(f: BroadcastFacts, ebrId: string): string {
  return ebmIdAt(ebrId, Date.parse(f.broadcast.createdAt));
}

function ebmIdAt(ebrId: string, at: number): string {
  return `${ebrId}${beijingDigits(at)}${String(at % 1000).padStart(3, '0')}`;
}

/**
 * `<EBM>` of a broadcast (pure): a cancelled broadcast is a 取消播发 of its own EBMID (made when it
 * ended, so a superior that drops repeated EBMIDs still reads it) naming the original in
 * RelatedEBM, which the superior calls off; the clip is the Auxiliary (with `auxiliary`; the
 * brd log leaves it out). Severity: a drill's or an alert-made emergency's is its alert's.
 */
export function ebmElement(f: BroadcastFacts, who: EbmIdentity, auxiliary: boolean): XmlNode {
  const b = f.broadcast;
  const m = KIND_MAPPING[f.kind];
  const cancelled = b.status === 'cancelled';
  const original = ebmIdOf(f, who.ebrId);
  const cancelledAt = cancelled && b.endedAt ? Date.parse(b.endedAt) : null;
  const ebmId = cancelledAt === null ? original : ebmIdAt(who.ebrId, cancelledAt);
  const severity = severityOf(f.kind, f.alert?.severity).ebm;
  const eventType =
    f.alert?.event && EVENT_TYPE_CODE.test(f.alert.event) ? f.alert.event : EVENT_TYPE_UNCLASSIFIED;
  const clip = f.clip;
  return el(
    'EBM',
    {},
    el('EBMVersion', {}, EBM_VERSION),
    el('EBMID', {}, ebmId),
    cancelled && el('RelatedEBM', {}, el('EBMID', {}, original)),
    el(
      'MsgBasicInfo',
      {},
      el('MsgType', {}, cancelled ? EBM_MSG_TYPES.cancel : m.msgType),
      el('SenderName', {}, who.sender),
      el('SenderCode', {}, who.ebrId),
      el('SendTime', {}, beijingTime(cancelledAt ?? Date.parse(b.createdAt))),
      el('EventType', {}, eventType),
      el('Severity', {}, severity),
      el('StartTime', {}, beijingTime(Date.parse(b.startAt))),
      el('EndTime', {}, beijingTime(Date.parse(b.expiresAt))),
    ),
    el(
      'MsgContent',
      {},
      el('LanguageCode', {}, EBM_LANGUAGE),
      el('MsgTitle', {}, b.title),
      el('MsgDesc', {}, f.alert?.headline ?? f.alert?.event ?? m.event),
      el('AreaCode', {}, codeList(f.areaCodes)),
      auxiliary &&
        clip.sha256 &&
        el(
          'Auxiliary',
          {},
          el('AuxiliaryType', {}, AUXILIARY_TYPE_MP3),
          el('AuxiliaryDesc', {}, `${clip.sha256}.mp3`),
          clip.bytes !== null && el('Size', {}, clip.bytes),
          el('Digest', {}, clip.sha256),
        ),
    ),
  );
}

/** The state's name, and why it ended when it ended early. */
function describeState(f: BroadcastFacts, state: keyof typeof BRD_STATES): string {
  const reason = f.broadcast.endReason;
  return reason && (state === '4' || state === '5')
    ? `${BRD_STATES[state]}：${reason}`
    : BRD_STATES[state];
}

/**
 * `<Coverage>`: the coverage module's own figures — the share of targeted villages covered
 * (0–1, 4 decimals), the covered villages' codes, and `ResBrdStat` = devices sent to, devices
 * that played it through, devices that failed, refused or ran out of time.
 */
function coverageElement(c: CoverageReport): XmlNode {
  const d = c.deliveries;
  const failed = (d.failed ?? 0) + (d.rejected ?? 0) + (d.expired ?? 0);
  return el(
    'Coverage',
    {},
    el('CoverageRate', {}, (c.summary.rate ?? 0).toFixed(4)),
    el(
      'AreaCode',
      {},
      codeList(c.villages.filter((v) => v.outcome === 'covered').map((v) => v.code)),
    ),
    el('ResBrdStat', {}, `${d.total},${d.played ?? 0},${failed}`),
  );
}

/** One device's part: when it began playing, when its delivery ended, and its state code. */
/** One device's part (`terminal`: its EBRID, the resource code or else its id). */
function resBrdItem(d: DeliveryDto, terminal: string, ebrId: string, now: number): XmlNode {
  const code = brdStateOfDelivery(d.state);
  const ended = d.playedAt ?? (code === '4' || code === '5' ? d.updatedAt : null);
  return el(
    'ResBrdItem',
    {},
    el('EBRPS', {}, el('EBRID', {}, ebrId)),
    el(
      'EBRDT',
      {},
      el('RptTime', {}, beijingTime(now)),
      el('EBRID', {}, terminal),
      d.startedAt && el('StartTime', {}, beijingTime(Date.parse(d.startedAt))),
      ended && el('EndTime', {}, beijingTime(Date.parse(ended))),
      el('BrdStateCode', {}, code),
      el('BrdStateDesc', {}, d.reason ? `${BRD_STATES[code]}：${d.reason}` : BRD_STATES[code]),
    ),
  );
}
