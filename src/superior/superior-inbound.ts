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
  EBD_TYPES,
  type ParsedPackage,
  PackageRefusal,
  parsePackage,
  RESULT_CODES,
  type ResultKind,
  responseXml,
  verifyPackage,
} from './ebd-package.js';
import { ebmToCap } from './ebm-to-cap.js';
import type { SuperiorErrorCode } from './superior-errors.js';
import { SuperiorLink } from './superior-link.js';
import { SuperiorPackagesRepository } from './superior-packages.repository.js';

/** Largest inbound package: an EBM may carry its audio (minutes of MP3). */
export const INBOUND_MAX_BYTES = 32 * 1024 * 1024;
/** What is kept of a refused package: its EBDB, cut here (anyone can post one). */
const REFUSED_KEEP_BYTES = 64 * 1024;

/** The receipt answered for a package. */
export interface InboundAnswer {
  ebdId: string;
  resultCode: string;
  /** The signed EBDResponse package (a tar). */
  tar: Buffer;
}

/**
 * Packages from the superior platform (`POST /superior/ebd`): the signature must verify with
 * SUPERIOR_PUBLIC_KEY and the package be addressed from SUPERIOR_EBR_ID to EBR_ID, else it is
 * refused (logged, counted, kept); an EBM becomes an alert through the one intake
 * (AlertsService.accept, source `superior`); every readable package is answered with a signed
 * EBDResponse, and the same EBDID again gets the same receipt.
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
    private readonly clock: Clock,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  async receive(body: Buffer): Promise<InboundAnswer> {
    if (!this.link.enabled)
      throw new DomainError<SuperiorErrorCode>(
        'not_found',
        'SUPERIOR_LINK_OFF',
        'No superior platform is configured (SUPERIOR_URL)',
      );
    let p: ParsedPackage;
    try {
      p = parsePackage(body);
    } catch (err) {
      const why = err instanceof PackageRefusal ? err.message : String(err);
      this.link.countInbound('unreadable');
      this.logger.warn(`inbound package unreadable (${body.length} bytes): ${why}`);
      throw new DomainError<SuperiorErrorCode>('invalid', 'PACKAGE_UNREADABLE', why);
    }
    const refusal = this.refusalOf(p);
    if (refusal) return this.refuse(p, refusal.kind, refusal.why);
    const id = p.header.ebdId;
    const running = this.handling.get(id);
    if (running) return running;
    const run = this.handle(p).finally(() => this.handling.delete(id));
    this.handling.set(id, run);
    return run;
  }

  /** Why a package is not from the superior to this platform, or null. */
  private refusalOf(p: ParsedPackage): { kind: ResultKind; why: string } | null {
    const s = this.config.superior;
    const bad = verifyPackage(p, s.signature, s.publicKey);
    if (bad) return { kind: 'badSignature', why: bad };
    if (p.header.srcEbrId !== s.superiorEbrId)
      return {
        kind: 'failed',
        why: `from ${p.header.srcEbrId}, not the superior ${s.superiorEbrId}`,
      };
    if (p.header.destEbrId !== '' && p.header.destEbrId !== s.ebrId)
      return { kind: 'failed', why: `addressed to ${p.header.destEbrId}, not ${s.ebrId}` };
    return null;
  }

  /**
   * A refused package is answered but never stored under its EBDID: whoever forged one must not
   * decide the receipt the genuine package with that id gets later.
   */
  private async refuse(p: ParsedPackage, kind: ResultKind, why: string): Promise<InboundAnswer> {
    const now = this.clock.now().getTime();
    this.link.countInbound('refused');
    this.logger.warn(
      `inbound package refused: ebd=${p.header.ebdId} type=${p.header.type} src=${p.header.srcEbrId} ${why}`,
    );
    const answer = await this.answer(p, kind, why);
    await this.repo.insert({
      id: randomUUID(),
      ebdId: `refused-${randomUUID()}`,
      direction: 'in',
      type: p.header.type.slice(0, 32),
      subject: null,
      status: 'refused',
      body: p.ebdb.subarray(0, REFUSED_KEEP_BYTES).toString('base64'),
      attempts: 1,
      nextAttemptAt: null,
      lastError: `EBDID ${p.header.ebdId.slice(0, 64)}: ${why}`.slice(0, 500),
      receipt: answer.tar.toString('base64'),
      resultCode: answer.resultCode,
      createdAt: now,
      updatedAt: now,
    });
    return answer;
  }

  private async handle(p: ParsedPackage): Promise<InboundAnswer> {
    const known = await this.repo.find('in', p.header.ebdId);
    if (known?.receipt) return this.stored(known.ebdId, known.receipt, known.resultCode);
    const { kind, detail, subject } = await this.act(p);
    const answer = await this.answer(p, kind, detail);
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
      `inbound package: ebd=${p.header.ebdId} type=${p.header.type} result=${answer.resultCode}${subject ? ` alert=${subject}` : ''}${detail ? ` ${detail}` : ''}`,
    );
    return answer;
  }

  /**
   * What the package asks for. A refusal by the intake is an answer (stored, the same next time);
   * an unexpected failure is thrown (500), so the superior sends the package again.
   */
  private async act(
    p: ParsedPackage,
  ): Promise<{ kind: ResultKind; detail: string | undefined; subject: string | null }> {
    if (p.header.type === EBD_TYPES.heartbeat)
      return { kind: 'ok', detail: undefined, subject: null };
    if (p.header.type !== EBD_TYPES.ebm || !p.body)
      return { kind: 'unsupported', detail: p.header.type.slice(0, 40), subject: null };
    const src = p.header.srcEbrId;
    try {
      const alert = ebmToCap(p.body, { superiorEbrId: src, attachments: p.attachments });
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
    } catch (err) {
      if (err instanceof CapRefusal)
        return { kind: 'failed', detail: `${err.rule}: ${err.message}`, subject: null };
      if (err instanceof DomainError && err.status < 500)
        return { kind: 'failed', detail: `${err.code}: ${err.message}`, subject: null };
      throw err;
    }
  }

  private async answer(
    p: ParsedPackage,
    kind: ResultKind,
    detail: string | undefined,
  ): Promise<InboundAnswer> {
    const signer = await this.link.signer();
    if (typeof signer === 'string')
      throw new DomainError<SuperiorErrorCode>('unavailable', 'SIGNING_KEY_MISMATCH', signer);
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
