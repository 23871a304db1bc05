import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AlertsService } from '../alerts/alerts.service.js';
import { CapRefusal } from '../alerts/cap/cap-model.js';
import { Clock } from '../common/clock.js';
import { DomainError } from '../common/domain-error.js';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { isUniqueViolation } from '../database/db-errors.js';
import {
  buildPackage,
  buildUnsignedPackage,
  EBD_TYPES,
  type EbdSigner,
  type OpenedPackage,
  openPackage,
  type ParsedPackage,
  PackageRefusal,
  parseBeijingTime,
  pathText,
  readOpened,
  RESULT_CODES,
  type ResultKind,
  responseXml,
  verifyOpened,
} from './ebd-package.js';
import { GytReports } from '../reports/gyt-reports.js';
import { ebmToCap } from './ebm-to-cap.js';
import type { SuperiorErrorCode } from './superior-errors.js';
import { SuperiorLink } from './superior-link.js';
import { SuperiorPackagesRepository } from './superior-packages.repository.js';

/**
 * Largest inbound package: an EBM with its audio, a few minutes of speech as MP3 (5 min at
 * 128 kbit/s is under 5 MB); anything larger is refused (413) before it is all read.
 */
export const INBOUND_MAX_BYTES = 8 * 1024 * 1024;
/** How far an inbound package's EBDTime may be from now: older ones are replays (their rows may be swept). */
export const INBOUND_FRESH_MS = 24 * 3_600_000;

/** What was done for a package: its receipt's result, why, and what it was about. */
type Acted = { kind: ResultKind; detail: string | undefined; subject: string | null };

/** An EBMID as identifiers go (ebm-to-cap.ts reads the superior's EBMs the same way). */
const EBM_ID = /^[0-9A-Za-z_.:-]{1,64}$/;
const DAY_MS = 86_400_000;
/** The longest broadcast log the superior may ask for, as the API's (docs/reports.md). */
const MAX_LOG_SPAN_MS = 367 * DAY_MS;

/** The receipt answered for a package. */
export interface InboundAnswer {
  ebdId: string;
  resultCode: string;
  /** The EBDResponse package (a tar): signed, except for a refused package. */
  tar: Buffer;
}

/** An attacker's string as a log field: cut, quoted, escaped. */
function field(x: string): string {
  return JSON.stringify(x.slice(0, 64));
}

/**
 * Packages from the superior platform (`POST /superior/ebd`): the signature must verify with
 * SUPERIOR_PUBLIC_KEY over the raw EBDB bytes before the EBDB is parsed, and the package be
 * addressed from SUPERIOR_EBR_ID to EBR_ID with an EBDTime within a day of now, else it is refused
 * (logged, counted, answered unsigned, never stored); an EBM becomes an alert through the one
 * intake (AlertsService.accept, source `superior`); every accepted package is answered with a
 * signed EBDResponse, and the same EBDID again gets the same receipt. Heartbeats are answered
 * without a row.
 */
@Injectable()
export class SuperiorInbound {
  private readonly logger = new Logger('superior');
  /** Packages being handled, by EBDID: a copy arriving meanwhile waits for the first's receipt. */
  private readonly handling = new Map<string, Promise<InboundAnswer>>();

  constructor(
    private readonly link: SuperiorLink,
    private readonly repo: SuperiorPackagesRepository,
    private readonly alerts: AlertsService,
    private readonly reports: GytReports,
    private readonly clock: Clock,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /**
   * Before the body is read: 404 when the link is off, 503 when the station cannot sign a receipt
   * (nothing is acted on that could not be answered).
   */
  async ready(): Promise<EbdSigner> {
    if (!this.link.enabled)
      throw new DomainError<SuperiorErrorCode>(
        'not_found',
        'SUPERIOR_LINK_OFF',
        'No superior platform is configured (SUPERIOR_URL)',
      );
    const signer = await this.link.signer();
    if (typeof signer === 'string')
      throw new DomainError<SuperiorErrorCode>('unavailable', 'SIGNING_KEY_MISMATCH', signer);
    return signer;
  }

  async receive(body: Buffer, signer?: EbdSigner): Promise<InboundAnswer> {
    const sign = signer ?? (await this.ready());
    let opened: OpenedPackage;
    let p: ParsedPackage;
    try {
      opened = openPackage(body);
      const s = this.config.superior;
      const bad = verifyOpened(opened, s.signature, s.publicKey);
      if (bad) return this.refuse(opened.ebdId, 'badSignature', bad);
      p = readOpened(opened);
    } catch (err) {
      const why = err instanceof PackageRefusal ? err.message : String(err);
      this.link.countInbound('unreadable');
      this.logger.warn(`inbound package unreadable (${body.length} bytes): ${field(why)}`);
      throw new DomainError<SuperiorErrorCode>('invalid', 'PACKAGE_UNREADABLE', why.slice(0, 200));
    }
    const refusal = this.refusalOf(p);
    if (refusal) return this.refuse(p.header.ebdId, refusal.kind, refusal.why, p);
    const id = p.header.ebdId;
    const running = this.handling.get(id);
    if (running) return running;
    const run = this.handle(p, sign).finally(() => this.handling.delete(id));
    this.handling.set(id, run);
    return run;
  }

  /** Why a verified package is not from the superior to this platform now, or null. */
  private refusalOf(p: ParsedPackage): { kind: ResultKind; why: string } | null {
    const s = this.config.superior;
    if (p.header.srcEbrId !== s.superiorEbrId)
      return {
        kind: 'failed',
        why: `from ${field(p.header.srcEbrId)}, not the superior ${s.superiorEbrId}`,
      };
    if (p.header.destEbrId !== '' && p.header.destEbrId !== s.ebrId)
      return { kind: 'failed', why: `addressed to ${field(p.header.destEbrId)}, not ${s.ebrId}` };
    const at = parseBeijingTime(p.header.time);
    const now = this.clock.now().getTime();
    if (at === null || Math.abs(at - now) > INBOUND_FRESH_MS)
      return {
        kind: 'failed',
        why: `EBDTime ${field(p.header.time)} is not within ${INBOUND_FRESH_MS / 3_600_000} h of now`,
      };
    return null;
  }

  /**
   * A refused package is counted and logged (fields cut), answered with an unsigned receipt (no
   * signature spent on a forgery) and never stored: anyone can post one, and whoever forged one
   * must not decide the receipt the genuine package with that id gets later.
   */
  private refuse(ebdId: string, kind: ResultKind, why: string, p?: ParsedPackage): InboundAnswer {
    const now = this.clock.now().getTime();
    this.link.countInbound('refused');
    const about = p ? ` type=${field(p.header.type)} src=${field(p.header.srcEbrId)}` : '';
    this.logger.warn(`inbound package refused: ebd=${field(ebdId)}${about} reason=${field(why)}`);
    const header = this.link.header(EBD_TYPES.response, ebdId, this.config.superior.superiorEbrId);
    const tar = buildUnsignedPackage(header, responseXml(kind, why.slice(0, 200)), now);
    return { ebdId, resultCode: RESULT_CODES[kind].code, tar };
  }

  private async handle(p: ParsedPackage, signer: EbdSigner): Promise<InboundAnswer> {
    // A heartbeat asks nothing: answered, not stored (the table would grow by one a minute).
    if (p.header.type === EBD_TYPES.heartbeat) {
      this.link.countInbound('received');
      return this.answer(p, 'ok', undefined, signer);
    }
    const known = await this.repo.find('in', p.header.ebdId);
    if (known?.receipt) return this.stored(known.ebdId, known.receipt, known.resultCode);
    const { kind, detail, subject } = await this.act(p);
    const answer = await this.answer(p, kind, detail, signer);
    const now = this.clock.now().getTime();
    try {
      await this.repo.insert({
        id: randomUUID(),
        ebdId: p.header.ebdId,
        direction: 'in',
        type: p.header.type.slice(0, 32),
        subject,
        status: 'received',
        body: p.ebdb.toString('base64'),
        attempts: 1,
        nextAttemptAt: null,
        lastError: kind === 'ok' ? null : (detail ?? RESULT_CODES[kind].desc).slice(0, 500),
        receipt: answer.tar.toString('base64'),
        resultCode: answer.resultCode,
        createdAt: now,
        updatedAt: now,
      });
    } catch (err) {
      // Another server took the same package meanwhile: its receipt is the one.
      if (!isUniqueViolation(err)) throw err;
      const row = await this.repo.find('in', p.header.ebdId);
      if (row?.receipt) return this.stored(row.ebdId, row.receipt, row.resultCode);
      throw err;
    }
    this.link.countInbound('received');
    this.logger.log(
      `inbound package: ebd=${p.header.ebdId} type=${field(p.header.type)} result=${answer.resultCode}${subject ? ` subject=${subject}` : ''}${detail ? ` reason=${field(detail)}` : ''}`,
    );
    return answer;
  }

  /**
   * What the package asks for. A refusal by the intake is an answer (stored, the same next time);
   * an unexpected failure is thrown (500), so the superior sends the package again.
   */
  private async act(p: ParsedPackage): Promise<Acted> {
    const body = p.body;
    const handler =
      body &&
      {
        [EBD_TYPES.ebm]: () => this.ebm(p, body),
        [EBD_TYPES.stateRequest]: () => this.stateRequest(p, body),
        [EBD_TYPES.omdRequest]: () => this.omdRequest(p, body),
      }[p.header.type];
    if (!handler) return { kind: 'unsupported', detail: p.header.type.slice(0, 40), subject: null };
    try {
      return await handler();
    } catch (err) {
      if (err instanceof CapRefusal)
        return { kind: 'failed', detail: `${err.rule}: ${err.message}`, subject: null };
      if (err instanceof DomainError && err.status < 500)
        return { kind: 'failed', detail: `${err.code}: ${err.message}`, subject: null };
      throw err;
    }
  }

  /** An EBM from above: an alert through the one intake. */
  private async ebm(p: ParsedPackage, body: Element): Promise<Acted> {
    const src = p.header.srcEbrId;
    const alert = ebmToCap(body, { superiorEbrId: src, attachments: p.attachments });
    const entity = await this.alerts.accept(
      alert,
      { xml: p.ebdb.toString('utf8') },
      { state: 'valid', signer: `ebr:${src}` },
      { source: 'superior', ref: src, by: `superior:${src}` },
    );
    // Recorded but not acted on (refused, or its audio could not be made): the superior must know.
    const refused = entity.outcome === 'refused' || entity.outcome === 'failed';
    return {
      kind: refused ? 'failed' : 'ok',
      detail: refused ? (entity.reason ?? entity.rule ?? undefined) : undefined,
      subject: entity.id,
    };
  }

  /**
   * The state of one EBM the superior asks about: one of Dalaba's EBMIDs (its broadcasts' and
   * their Cancels'), or the superior's own EBM that became a broadcast here. The EBMStateResponse
   * goes up through the outbox, as things are now; the receipt only says it was taken.
   */
  private async stateRequest(p: ParsedPackage, body: Element): Promise<Acted> {
    const asked = pathText(body, 'EBM/EBMID') ?? pathText(body, 'EBMID');
    if (asked === null || !EBM_ID.test(asked))
      return { kind: 'failed', detail: 'EBMStateRequest: no usable EBM/EBMID', subject: null };
    const broadcastId =
      (await this.reports.broadcastOfEbmId(asked)) ??
      (await this.alerts.broadcastOfIdentifier('superior', asked));
    if (broadcastId === null)
      return {
        kind: 'failed',
        detail: `EBMStateRequest: no broadcast of EBM ${asked}`,
        subject: null,
      };
    const report = await this.reports.ebmStateResponse(broadcastId, asked);
    await this.link.enqueueAnswer(EBD_TYPES.stateResponse, broadcastId, report, p.header.ebdId);
    return { kind: 'ok', detail: undefined, subject: broadcastId };
  }

  /**
   * Operation data the superior asks for: the terminals' states (EBRDTState) or the broadcast log
   * of a period (EBMBrdLog, RptStartTime–RptEndTime, the last day by default), sent up through the
   * outbox. Any other OMDType is answered 3 (not taken).
   */
  private async omdRequest(p: ParsedPackage, body: Element): Promise<Acted> {
    const type = pathText(body, 'OMDType') ?? '';
    let report: string;
    if (type === EBD_TYPES.terminalState) {
      report = await this.reports.terminalStates();
    } else if (type === EBD_TYPES.brdLog) {
      const period = this.period(body);
      if (typeof period === 'string')
        return { kind: 'failed', detail: `OMDRequest: ${period}`, subject: null };
      report = await this.reports.ebmBrdLog(period.from, period.to);
    } else {
      return { kind: 'unsupported', detail: `OMDType ${field(type)}`, subject: null };
    }
    await this.link.enqueueAnswer(type, type, report, p.header.ebdId);
    return { kind: 'ok', detail: undefined, subject: type };
  }

  /** An OMDRequest's RptStartTime–RptEndTime, or why it cannot be read. */
  private period(body: Element): { from: number; to: number } | string {
    // undefined: not given (the default applies); null: given but not a time (refused).
    const given = (name: string) => {
      const text = pathText(body, `Params/${name}`);
      return text === null || text.trim() === '' ? undefined : parseBeijingTime(text);
    };
    const end = given('RptEndTime');
    const start = given('RptStartTime');
    if (end === null || start === null) return 'RptStartTime/RptEndTime: YYYY-MM-DD HH:mm:ss';
    const to = end ?? this.clock.now().getTime();
    const from = start ?? to - DAY_MS;
    if (from >= to) return 'RptStartTime must be before RptEndTime';
    if (to - from > MAX_LOG_SPAN_MS) return 'a log spans at most 367 days';
    return { from, to };
  }

  private answer(
    p: ParsedPackage,
    kind: ResultKind,
    detail: string | undefined,
    signer: EbdSigner,
  ): InboundAnswer {
    const header = this.link.header(EBD_TYPES.response, p.header.ebdId, p.header.srcEbrId);
    const { tar } = buildPackage(
      header,
      responseXml(kind, detail?.slice(0, 200)),
      signer,
      this.clock.now().getTime(),
    );
    return { ebdId: p.header.ebdId, resultCode: RESULT_CODES[kind].code, tar };
  }

  private stored(ebdId: string, receipt: string, resultCode: string | null): InboundAnswer {
    return { ebdId, resultCode: resultCode ?? '', tar: Buffer.from(receipt, 'base64') };
  }
}
