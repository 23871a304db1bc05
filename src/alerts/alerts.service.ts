import { Injectable, Logger } from '@nestjs/common';
import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import { AuditService } from '../audit/audit.service.js';
import type { Principal } from '../auth/auth.decorators.js';
import { DraftBroadcastMade, DraftsService } from '../approvals/drafts.service.js';
import type { BroadcastErrorCode } from '../broadcasts/broadcast-errors.js';
import { BroadcastRequest, BroadcastsService } from '../broadcasts/broadcasts.service.js';
import { Clock } from '../common/clock.js';
import { DomainError, NotFoundError, ValidationFailedError } from '../common/domain-error.js';
import { Page, pageWindow } from '../common/pagination.js';
import { Ticker } from '../common/ticker.js';
import { isoTime } from '../common/time.js';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import type { Level } from '../contract/messages.js';
import { isUniqueViolation } from '../database/db-errors.js';
import { isCountyStaff, LiveEvents } from '../live/live-events.js';
import { VillagesService } from '../villages/villages.service.js';
import { AlertContent } from './alert-content.js';
import type { AlertErrorCode } from './alert-errors.js';
import { alertTitle, mapAlert, mayAutoSend, MappedAlert } from './alert-mapping.js';
import { AreaVillage, matchArea, targetOf } from './alert-area.js';
import type {
  AlertEntity,
  AlertOutcome,
  AlertSenderEntity,
  AlertSource,
  SignatureState,
} from './alert.entity.js';
import { AlertsRepository } from './alerts.repository.js';
import { pickInfoFor } from './cap/cap-language.js';
import { CapAlert, CapInfo, CapRefusal, CapSeverity } from './cap/cap-model.js';
import type {
  AlertDetailDto,
  AlertDto,
  AlertQuery,
  AlertSenderDto,
  PutAlertSenderDto,
} from './dto/alert.dto.js';
import { XML_THREADS, XmlPool } from './xml-pool.js';

/** Who handed an alert over, for the record. */
export interface AlertOrigin {
  source: AlertSource;
  /** The token or person (api), the feed id (feed), the superior platform's id (superior). */
  ref: string | null;
  /** The name kept as the broadcast's creator, e.g. `alert:<sender>`. */
  by: string;
}

/** The reason of an alert row until its decision is stored: a stop in between leaves it so. */
const PROCESSING = 'being processed';
/** needs_level alerts read per page by the lapse sweep. */
const LAPSE_PAGE = 100;
/**
 * The reason of an alert a stop interrupted that cannot be acted on again from what was kept (a
 * superior's EBM): it keeps its message identity, so the same message sent again takes it over.
 */
const INTERRUPTED = 'interrupted by a stop and cannot be acted on again here: send it again';

/** How long an Update or Cancel waits for a referenced draft someone is approving right now. */
const APPROVING_WAIT_MS = 10_000;

/** How often needs_level alerts that expired or were superseded are settled without a click. */
export const LAPSE_SWEEP_MS = 60_000;

/** The 409s of a level picked too late: the alert is settled `recorded` when one is answered. */
const LAPSED: readonly string[] = ['ALERT_EXPIRED', 'ALERT_SUPERSEDED'] satisfies AlertErrorCode[];

/** Broadcast statuses an Update or Cancel still ends. */
const RUNNING = new Set(['scheduled', 'dispatching', 'active']);

/** A refusal on its way to being recorded and answered. */
class Refusal extends Error {
  constructor(
    readonly rule: string,
    message: string,
    readonly kind: 'invalid' | 'unprocessable' = 'invalid',
  ) {
    super(message);
  }
}

/** What an alert became, beyond its record. */
interface Decision {
  outcome: AlertOutcome;
  reason: string | null;
  clipId?: string | null;
  draftId?: string | null;
  broadcastId?: string | null;
  replacedBroadcastId?: string | null;
}

/**
 * The one intake for alerts: CAP XML from the API or a feed (`receive`), or an alert already read
 * from another format such as a superior platform's EBM (`accept`). Every message is recorded,
 * refused or not, with what was done and why (the inbox shows it).
 */
@Injectable()
export class AlertsService {
  private readonly logger = new Logger('alerts');
  /**
   * Per sender, the tail of its messages being acted on: one sender's messages are acted on one at
   * a time, in arrival order, so an Update or Cancel never overtakes the Alert it refers to. In
   * this process only: several servers on one database would need a lock in the database.
   */
  private readonly turns = new Map<string, Promise<unknown>>();
  private resuming: Promise<void> = Promise.resolve();

  constructor(
    private readonly repo: AlertsRepository,
    private readonly content: AlertContent,
    private readonly broadcasts: BroadcastsService,
    private readonly drafts: DraftsService,
    private readonly villages: VillagesService,
    private readonly live: LiveEvents,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly xml: XmlPool,
    private readonly ticker: Ticker,
    @InjectConfig() private readonly config: AppConfig,
  ) {
    // Approvals sits below alerts: it tells us what an alert's approved draft became.
    drafts.onBroadcastMade((made) => this.draftMade(made));
  }

  /**
   * Parses, checks and acts on CAP XML; a refusal is recorded and thrown as a DomainError (400
   * ALERT_REFUSED, 422 ALERT_OUT_OF_AREA) whose `details.rule` names the rule. A duplicate answers
   * the first alert with outcome `duplicate`.
   */
  async receive(xml: Buffer, origin: AlertOrigin): Promise<AlertEntity> {
    const now = this.clock.now().getTime();
    let parsed: { alert: CapAlert; xml: string };
    try {
      parsed = await this.xml.parseCap(xml, { maxBytes: this.config.alerts.maxBytes, now });
    } catch (err) {
      if (!(err instanceof CapRefusal)) throw err;
      // Kept for the inbox as text: NUL is the one character no database column takes.
      const text = xml
        .subarray(0, this.config.alerts.maxBytes)
        .toString('utf8')
        .replaceAll('\u0000', '\uFFFD');
      throw await this.refuse(this.blank(text, origin, now), new Refusal(err.rule, err.message));
    }
    const { alert } = parsed;
    const sender = await this.repo.sender(alert.sender);
    const trusted = sender ? (JSON.parse(sender.certificatesJson) as string[]) : [];
    const signature = await this.xml.verifyCapSignature(parsed.xml, trusted, { now });
    const refusal = senderRefusal(sender, signature.state, signature.reason);
    if (refusal) {
      const row = { ...this.blank(parsed.xml, origin, now), ...identity(alert) };
      row.signature = signature.state;
      row.signer = signature.signer?.slice(0, 255) ?? null;
      throw await this.refuse(row, refusal);
    }
    return this.accept(alert, { xml: parsed.xml }, signature, origin);
  }

  /** Acts on an alert read and checked elsewhere (an EBM from the superior platform). */
  accept(
    alert: CapAlert,
    raw: { xml: string },
    signature: { state: SignatureState; signer: string | null },
    origin: AlertOrigin,
  ): Promise<AlertEntity> {
    return this.inTurn(alert.sender, () => this.acceptNow(alert, raw, signature, origin));
  }

  /**
   * Acts again on the alerts a stop left being processed (recorded, not yet decided), in the
   * background: the server's start calls it. What they made before the stop is found again
   * (broadcasts by `alert:<id>`, drafts by alert, clips by content), never made twice. Then, and
   * every {@link LAPSE_SWEEP_MS}, settles the needs_level alerts that expired or were superseded.
   */
  start(): Promise<void> {
    this.resuming = this.resumeAll()
      .catch((err: Error) =>
        this.logger.error(`resuming interrupted alerts failed: ${err.message}`),
      )
      .then(() => this.sweepLapsed())
      .catch((err: Error) => this.logger.error(`settling lapsed alerts failed: ${err.message}`));
    this.ticker.every('alerts lapse', LAPSE_SWEEP_MS, () => this.sweepLapsed());
    return Promise.resolve();
  }

  /** Resolves once {@link start}'s resuming is done (tests). */
  resumed(): Promise<void> {
    return this.resuming;
  }

  private async acceptNow(
    alert: CapAlert,
    raw: { xml: string },
    signature: { state: SignatureState; signer: string | null },
    origin: AlertOrigin,
  ): Promise<AlertEntity> {
    const now = this.clock.now().getTime();
    const dedupKey = `${alert.sender},${alert.identifier},${alert.sent.text}`.slice(0, 800);
    const earlier = await this.repo.findByDedupKey(dedupKey);
    if (earlier && interrupted(earlier)) return this.takeOver(earlier, alert, signature, origin);
    if (earlier) return this.duplicate(earlier);
    const info = await this.infoFor(alert);
    const mapped = mapAlert(alert.status, alert.msgType, info?.severity ?? 'Unknown');
    const row: AlertEntity = {
      ...this.blank(raw.xml, origin, now),
      ...identity(alert),
      dedupKey,
      language: info?.language.slice(0, 16) ?? null,
      event: info?.event.slice(0, 255) ?? null,
      urgency: info?.urgency ?? null,
      severity: info?.severity ?? null,
      certainty: info?.certainty ?? null,
      headline: info?.headline?.slice(0, 500) ?? null,
      level: mapped.level,
      signature: signature.state,
      signer: signature.signer?.slice(0, 255) ?? null,
      // Until it is decided below: a crash in between leaves it so, and the next start resumes it.
      outcome: 'recorded',
      reason: PROCESSING,
    };
    try {
      await this.repo.insert(row);
    } catch (err) {
      const first = isUniqueViolation(err) && (await this.repo.findByDedupKey(dedupKey));
      if (first) return this.duplicate(first);
      throw err;
    }
    return this.act(row, alert, info, mapped, origin);
  }

  /**
   * The same message again, after a stop interrupted its first copy past what could be resumed:
   * acted on as that row, so what the first copy made (its broadcast under `alert:<id>`, its draft,
   * its clip) is found again rather than made twice.
   */
  private async takeOver(
    row: AlertEntity,
    alert: CapAlert,
    signature: { state: SignatureState; signer: string | null },
    origin: AlertOrigin,
  ): Promise<AlertEntity> {
    this.logger.warn(
      `alert=${row.id} received again after a stop interrupted it: acting on it now`,
    );
    const info = await this.infoFor(alert);
    const mapped = mapAlert(alert.status, alert.msgType, info?.severity ?? 'Unknown');
    const claimed: AlertEntity = {
      ...row,
      signature: signature.state,
      signer: signature.signer?.slice(0, 255) ?? null,
      outcome: 'recorded',
      reason: PROCESSING,
      updatedAt: this.clock.now().getTime(),
    };
    await this.repo.update(row.id, {
      signature: claimed.signature,
      signer: claimed.signer,
      outcome: claimed.outcome,
      reason: claimed.reason,
      updatedAt: claimed.updatedAt,
    });
    return this.act(claimed, alert, info, mapped, origin);
  }

  /** Decides what a recorded alert becomes, stores it, logs and audits it. */
  private async act(
    row: AlertEntity,
    alert: CapAlert,
    info: CapInfo | null,
    mapped: MappedAlert,
    origin: AlertOrigin,
  ): Promise<AlertEntity> {
    let decision: Decision;
    try {
      decision = await this.decide(row, alert, info, mapped);
    } catch (err) {
      if (err instanceof Refusal) throw await this.refuse(row, err, true);
      const reason = `could not be acted on: ${(err as Error).message}`.slice(0, 1000);
      this.logger.error(`alert=${row.id} ${reason}`);
      decision = { outcome: 'failed', reason };
    }
    const done = await this.settle(row, decision);
    this.logger.log(
      `alert=${row.id} sender=${JSON.stringify(row.sender)} id=${JSON.stringify(row.identifier)} ` +
        `${row.status}/${row.msgType} → ${done.outcome}${done.reason ? ` (${done.reason})` : ''}`,
    );
    await this.audit.record({
      actor: origin.by.slice(0, 100),
      action: 'alert.receive',
      subject: row.id,
      detail: {
        source: origin.source,
        sender: row.sender,
        identifier: row.identifier,
        status: row.status,
        msgType: row.msgType,
        outcome: done.outcome,
        level: done.level,
        broadcastId: done.broadcastId,
        draftId: done.draftId,
      },
    });
    return done;
  }

  private async resumeAll(): Promise<void> {
    const rows = await this.repo.inProcessing(PROCESSING);
    // Acted on one at a time, in order; the XML pool reads the next few meanwhile (as many as it
    // has threads: the rest of a long backlog waits here, not in the pool's queue).
    const reads = new Map<string, Promise<CapAlert | null>>();
    for (const [i, row] of rows.entries()) {
      for (const next of rows.slice(i, i + 1 + XML_THREADS))
        if (!reads.has(next.id)) {
          const read = this.readStored(next);
          read.catch(() => undefined); // not unhandled while it waits: resume() awaits it
          reads.set(next.id, read);
        }
      const read = reads.get(row.id)!;
      reads.delete(row.id);
      await this.inTurn(row.sender ?? '', () => this.resume(row.id, read)).catch((err: Error) =>
        this.logger.error(`alert=${row.id} not resumed: ${err.message}`),
      );
    }
  }

  /**
   * An alert's CAP read again from its XML as received; null when it is not CAP. A failure of the
   * pool itself (a stop under way) rejects: the alert stays recorded for the next start.
   */
  private async readStored(row: AlertEntity): Promise<CapAlert | null> {
    // A superior platform's EBM is kept as its package, which only its link reads.
    if (row.source === 'superior') return null;
    try {
      const { alert } = await this.xml.parseCap(Buffer.from(row.xml, 'utf8'), {
        maxBytes: this.config.alerts.maxBytes,
        now: row.receivedAt,
      });
      return alert;
    } catch (err) {
      if (err instanceof CapRefusal) return null;
      throw err;
    }
  }

  /** Acts again on one alert a stop interrupted, from its XML as received (`read`). */
  private async resume(id: string, read: Promise<CapAlert | null>): Promise<void> {
    const row = await this.repo.find(id);
    if (!row || row.outcome !== 'recorded' || row.reason !== PROCESSING) return;
    const origin: AlertOrigin = { source: row.source, ref: row.sourceRef, by: 'alerts' };
    const alert = await read;
    if (!alert) {
      const done = await this.settle(row, { outcome: 'failed', reason: INTERRUPTED });
      this.logger.warn(`alert=${done.id} was left being processed: ${done.reason}`);
      return;
    }
    this.logger.warn(`alert=${row.id} was left being processed (a stop): acting on it now`);
    const info = await this.infoFor(alert);
    const mapped = mapAlert(alert.status, alert.msgType, info?.severity ?? 'Unknown');
    await this.act(row, alert, info, mapped, origin).catch((err: Error) => {
      // A refusal is recorded by act; anything else is logged.
      if (!(err instanceof DomainError)) throw err;
    });
  }

  /** Runs `work` after every earlier message of `sender` (see {@link turns}). */
  private inTurn<T>(sender: string, work: () => Promise<T>): Promise<T> {
    const before = this.turns.get(sender) ?? Promise.resolve();
    const mine = before.then(work);
    const tail = mine.then(
      () => undefined,
      () => undefined,
    );
    this.turns.set(sender, tail);
    void tail.then(() => {
      if (this.turns.get(sender) === tail) this.turns.delete(sender);
    });
    return mine;
  }

  /** The alert a broadcast was made from (directly, or through its draft), if any. */
  async alertOfBroadcast(broadcastId: string): Promise<AlertEntity | null> {
    const direct = await this.repo.findByBroadcast(broadcastId);
    if (direct) return direct;
    const b = await this.broadcasts.get(broadcastId).catch(() => null);
    const draftId = b?.approval?.draftId;
    return draftId ? this.repo.findByDraft(draftId) : null;
  }

  /**
   * The broadcast the latest message from `source` with this identifier became (directly, or
   * through its approved draft), or null: what a superior's query about its own EBM is about.
   */
  async broadcastOfIdentifier(source: AlertSource, identifier: string): Promise<string | null> {
    for (const a of await this.repo.findByIdentifier(source, identifier)) {
      if (a.broadcastId) return a.broadcastId;
      const draft = a.draftId ? await this.drafts.stateOf(a.draftId) : null;
      if (draft?.resultId) return draft.resultId;
    }
    return null;
  }

  // ---- the inbox ----

  async list(query: AlertQuery): Promise<Page<AlertDto>> {
    const { limit, offset } = pageWindow(query);
    const [rows, total] = await this.repo.list(
      { outcome: query.outcome, source: query.source },
      limit,
      offset,
    );
    const items = await Promise.all(rows.map((r) => this.refreshed(r)));
    return { items: items.map(toAlertDto), total, limit, offset };
  }

  async get(id: string): Promise<AlertDetailDto> {
    const a = await this.refreshed(await this.require(id));
    return {
      ...toAlertDto(a),
      villageCodes: a.villagesJson ? (JSON.parse(a.villagesJson) as string[]) : [],
      xml: a.xml,
    };
  }

  /**
   * An operator decides the level of an alert of Unknown severity: its broadcast goes out now, or
   * as a draft for a second person when the level's approval rule says so.
   */
  async broadcastAt(id: string, level: Level, p: Principal): Promise<AlertDetailDto> {
    const a = await this.require(id);
    if (a.outcome !== 'needs_level' || !a.clipId)
      throw new DomainError<AlertErrorCode>(
        'conflict',
        'ALERT_LEVEL_NOT_NEEDED',
        `Alert ${id} is ${a.outcome}: only an alert waiting for a level (needs_level) takes one`,
      );
    const info = await this.stillDue(a).catch((err: unknown) => this.lapsed(a, err, p.name));
    const request = this.requestFor(a, level, a.clipId, undefined, info ?? undefined);
    const by = p.name;
    let decision: Decision;
    try {
      const b = await this.broadcasts.create(request, by, {
        idempotency: { key: `alert:${a.id}`, owner: 'alerts' },
        allowPastStart: true,
        actor: {
          actorRole: p.role,
          actorUserId: p.userId,
          viaToken: p.via === 'token' ? p.tokenName : null,
        },
      });
      decision = {
        outcome: 'broadcast',
        reason: `level ${level} chosen by ${by}`,
        broadcastId: b.id,
      };
    } catch (err) {
      if (!(err instanceof DomainError) || err.code !== ('APPROVAL_REQUIRED' as BroadcastErrorCode))
        throw err;
      // The person who chose the level drafts it: a second person approves, as for any draft.
      const draft = await this.drafts.create(
        {
          broadcast: {
            title: request.title,
            clipId: request.clipId,
            level,
            target: request.target,
            expiresAt: request.expiresAt ? isoTime(request.expiresAt) : undefined,
            attentionTone: request.attentionTone,
          },
        },
        p,
      );
      decision = {
        outcome: 'drafted',
        reason: `level ${level} chosen by ${by}; waiting for a second person`,
        draftId: draft.id,
      };
    }
    if (!(await this.repo.transition(id, 'needs_level', { ...decision, level })))
      throw new DomainError<AlertErrorCode>(
        'conflict',
        'ALERT_LEVEL_NOT_NEEDED',
        `Alert ${id} got its level from someone else at the same time`,
      );
    await this.audit.record({
      actor: by,
      actorRole: p.role,
      actorUserId: p.userId,
      action: 'alert.level',
      subject: id,
      detail: { level, outcome: decision.outcome },
    });
    this.publish({ ...a, ...decision, level });
    return this.get(id);
  }

  /**
   * The info a needs_level alert was decided on, re-read from its XML; refuses (409) an alert whose
   * `expires` has passed or that a later Update or Cancel of its sender referenced. Null when the
   * XML is not CAP (an EBM from the superior platform): then only supersession is checked.
   */
  private async stillDue(a: AlertEntity): Promise<CapInfo | null> {
    let info: CapInfo | null = null;
    try {
      // Judged as when it arrived: it passed CAP's rules then; its expiry is checked below.
      const { alert } = await this.xml.parseCap(a.xml, { maxBytes: Infinity, now: a.receivedAt });
      info = await this.infoFor(alert);
    } catch (err) {
      if (!(err instanceof CapRefusal)) throw err;
    }
    const now = this.clock.now().getTime();
    if (info?.expires && info.expires.ms <= now)
      throw new DomainError<AlertErrorCode>(
        'conflict',
        'ALERT_EXPIRED',
        `Alert ${a.id} expired at ${info.expires.text}: it is no longer broadcast`,
      );
    const later =
      a.sender && a.identifier && a.status
        ? await this.repo.findReferencingIdentifier(a.sender, a.identifier, a.status, a.id)
        : [];
    if (later.length)
      throw new DomainError<AlertErrorCode>(
        'conflict',
        'ALERT_SUPERSEDED',
        `Alert ${a.id} was superseded by ${later[0].msgType} ${later[0].identifier} (alert ${later[0].id})`,
      );
    return info;
  }

  /**
   * Settles a needs_level alert `stillDue` refused as expired or superseded (`recorded`, the
   * reason saying why) so the inbox stops asking for a level; then rethrows `err`.
   */
  private async lapsed(a: AlertEntity, err: unknown, by: string): Promise<never> {
    if (err instanceof DomainError && LAPSED.includes(err.code)) await this.lapse(a, err, by);
    throw err;
  }

  private async lapse(a: AlertEntity, err: DomainError<string>, by: string): Promise<void> {
    const patch = {
      outcome: 'recorded' as const,
      reason: `no level was chosen in time: ${err.message}`.slice(0, 1000),
      updatedAt: this.clock.now().getTime(),
    };
    // Only from needs_level: a level someone picked at the same moment wins.
    if (!(await this.repo.transition(a.id, 'needs_level', patch))) return;
    this.logger.log(`alert=${a.id} needs_level → recorded (${patch.reason})`);
    await this.audit.record({
      actor: by.slice(0, 100),
      action: 'alert.lapse',
      subject: a.id,
      detail: { error: err.code, reason: patch.reason },
    });
    this.publish({ ...a, ...patch });
  }

  /**
   * Settles the needs_level alerts that expired or were superseded since (the server's start and
   * every {@link LAPSE_SWEEP_MS}), so none waits in the inbox for a decision no one can make.
   */
  async sweepLapsed(): Promise<void> {
    // Page by page, every one of them: those still due stay, so the next page starts after them.
    for (let kept = 0; ;) {
      const page = await this.repo.withOutcome('needs_level', LAPSE_PAGE, kept);
      for (const a of page) {
        const lapsed = await this.stillDue(a).then(
          () => false,
          async (err: unknown) => {
            if (err instanceof DomainError && LAPSED.includes(err.code)) {
              await this.lapse(a, err, 'alerts');
              return true;
            }
            this.logger.error(`alert=${a.id} not checked for expiry: ${String(err)}`);
            return false;
          },
        );
        if (!lapsed) kept++;
      }
      if (page.length < LAPSE_PAGE) return;
    }
  }

  /** An alert's draft was approved: its row shows the broadcast, and what that replaced. */
  private async draftMade(made: DraftBroadcastMade): Promise<void> {
    const a = made.alertId
      ? await this.repo.find(made.alertId)
      : await this.repo.findByDraft(made.draftId);
    if (a?.draftId !== made.draftId) return;
    const patch: Partial<AlertEntity> = {
      broadcastId: made.broadcastId,
      // A second run (an approval a stop interrupted) never forgets what the first one ended.
      replacedBroadcastId: made.replaced[0] ?? a.replacedBroadcastId,
      updatedAt: this.clock.now().getTime(),
    };
    await this.repo.update(a.id, patch);
    this.logger.log(
      `alert=${a.id} draft=${made.draftId} approved: broadcast=${made.broadcastId}` +
        (patch.replacedBroadcastId ? ` replaced=${patch.replacedBroadcastId}` : ''),
    );
    this.publish({ ...a, ...patch });
  }

  // ---- senders ----

  async senders(): Promise<AlertSenderDto[]> {
    return (await this.repo.allSenders()).map(toSenderDto);
  }

  async sender(sender: string): Promise<AlertSenderDto> {
    const row = await this.repo.sender(sender);
    if (!row) throw new NotFoundError('alert_sender', sender);
    return toSenderDto(row);
  }

  async putSender(sender: string, input: PutAlertSenderDto, by: string): Promise<AlertSenderDto> {
    input.certificates.forEach((pem, i) => {
      try {
        new X509Certificate(pem);
      } catch (err) {
        throw new ValidationFailedError([
          {
            field: `certificates.${i}`,
            rule: 'isX509Pem',
            message: `certificates.${i}: not a PEM X.509 certificate (${(err as Error).message})`,
          },
        ]);
      }
    });
    if (sender.length === 0 || sender.length > 255 || /[\s,<&]/.test(sender))
      throw new ValidationFailedError([
        {
          field: 'sender',
          rule: 'capSender',
          message: 'sender: 1–255 characters, no spaces, commas, < or &',
        },
      ]);
    const row: AlertSenderEntity = {
      sender,
      name: input.name,
      policy: input.policy,
      certificatesJson: JSON.stringify(input.certificates),
      autoSeveritiesJson: JSON.stringify([...new Set(input.autoSeverities)]),
      updatedBy: by.slice(0, 100),
      updatedAt: this.clock.now().getTime(),
    };
    await this.repo.saveSender(row);
    await this.audit.record({
      actor: by,
      action: 'alert-sender.put',
      subject: sender,
      detail: {
        name: input.name,
        policy: input.policy,
        certificates: input.certificates.length,
        autoSeverities: input.autoSeverities,
      },
    });
    return toSenderDto(row);
  }

  async deleteSender(sender: string, by: string): Promise<void> {
    if (!(await this.repo.deleteSender(sender))) throw new NotFoundError('alert_sender', sender);
    await this.audit.record({ actor: by, action: 'alert-sender.delete', subject: sender });
  }

  // ---- what an accepted alert becomes ----

  private async decide(
    row: AlertEntity,
    alert: CapAlert,
    info: CapInfo | null,
    mapped: MappedAlert,
  ): Promise<Decision> {
    if (mapped.action === 'record')
      return { outcome: 'recorded', reason: `status ${alert.status}: kept, never broadcast` };
    if (mapped.msgAction === 'record')
      return {
        outcome: 'recorded',
        reason: `msgType ${alert.msgType}: kept, nothing to broadcast`,
      };
    const sender = await this.repo.sender(alert.sender);
    // Nothing goes out, nor is called off, without a person unless a trusted certificate of its
    // sender signed it (or the superior platform's signed package brought it): a sender's name is
    // something anyone who can post may write.
    const vouched = sender !== null && sender.policy !== 'refuse' && row.signature === 'valid';
    if (mapped.msgAction === 'cancel') {
      if (!vouched) return this.leftToOperator(alert, row, 'Cancel');
      const ended = await this.endReferenced(alert, `预警已取消 ${alert.identifier}`, row);
      return ended.length
        ? {
            outcome: 'cancelled',
            reason: `cancelled ${ended.length} broadcast(s) or draft(s) of the referenced alert(s)`,
            replacedBroadcastId: ended.find((e) => e.kind === 'broadcast')?.id ?? null,
          }
        : { outcome: 'recorded', reason: 'nothing of the referenced alert(s) was still running' };
    }
    if (!info) return { outcome: 'recorded', reason: 'no info block to act on' };
    const villages = await this.areaVillages();
    const area = matchArea(info.areas, villages);
    if (!area.ok && mapped.msgAction === 'replace') {
      // The warning moved away from the county: what it updates has nothing left to warn of here.
      const why = `area left the county (${area.reason})`;
      if (!vouched) return this.leftToOperator(alert, row, 'Update', why);
      const ended = await this.endReferenced(alert, `由更新替换 ${alert.identifier}`, row);
      return {
        outcome: 'cancelled',
        reason: join([
          why,
          ended.length
            ? `cancelled ${ended.length} broadcast(s) or draft(s) of the referenced alert(s)`
            : 'nothing of the referenced alert(s) was still running',
        ]),
        replacedBroadcastId: ended.find((e) => e.kind === 'broadcast')?.id ?? null,
      };
    }
    if (!area.ok) throw new Refusal(area.rule, area.reason, 'unprocessable');
    await this.repo.update(row.id, { villagesJson: JSON.stringify(area.villages) });
    row.villagesJson = JSON.stringify(area.villages);

    // An Update ends what it replaces only once its own broadcast exists (below, or when its
    // draft is approved): until then the old warning keeps playing.
    const replacing = mapped.msgAction === 'replace';
    const notes: string[] = [];
    const title = alertTitle(mapped.titlePrefix, info.headline, info.event);
    const urgent = mapped.level === 'I' || mapped.level === 'II';
    const by = this.byOf(alert);
    const clip = await this.content.clipFor(
      info,
      mapped.action,
      title,
      by,
      urgent ? 'urgent' : 'routine',
    );
    notes.push(...clip.notes);
    if (!clip.ok)
      return {
        outcome: 'failed',
        reason: join([clip.reason, ...notes, replacing ? 'what it updates keeps playing' : null]),
      };
    row.clipId = clip.clipId;
    const base = { clipId: clip.clipId };
    if (mapped.level === null)
      return {
        ...base,
        outcome: 'needs_level',
        reason: join([
          'severity Unknown: an operator picks the level',
          ...notes,
          replacing ? await this.stillRunningNote(alert, row) : null,
        ]),
      };

    const request = this.requestFor(
      row,
      mapped.level,
      clip.clipId,
      title,
      info,
      villages,
      area.villages,
      mapped,
    );
    const auto =
      vouched &&
      sender !== null &&
      mayAutoSend(JSON.parse(sender.autoSeveritiesJson) as CapSeverity[], info);
    if (auto) {
      const b = await this.broadcasts.create(request, by, {
        idempotency: { key: `alert:${row.id}`, owner: 'alerts' },
        approval: {
          by: `trusted sender ${sender.name}`.slice(0, 100),
          at: this.clock.now().getTime(),
          draftId: null,
        },
        allowPastStart: true,
      });
      let replaced: string | null = null;
      if (replacing) {
        const ended = await this.endReferenced(alert, `由更新替换 ${alert.identifier}`, row);
        replaced = ended.find((e) => e.kind === 'broadcast')?.id ?? null;
        if (ended.length) notes.push(`replaced ${ended.length} broadcast(s) or draft(s)`);
      }
      return {
        ...base,
        outcome: 'broadcast',
        reason: join(['sent: trusted sender, signed', ...notes]),
        broadcastId: b.id,
        replacedBroadcastId: replaced,
      };
    }
    const going = replacing ? await this.goingOf(alert, row) : null;
    const draft = await this.drafts.createForAlert(
      request,
      by,
      row.id,
      info.expires?.ms ?? null,
      going && { ...going, reason: `由更新替换 ${alert.identifier}` },
    );
    if (going && (going.broadcasts.length || going.drafts.length))
      notes.push(
        `approving it ends what it updates (${[...going.broadcasts.map((id) => `broadcast ${id}`), ...going.drafts.map((id) => `draft ${id}`)].join(', ')}), which keeps playing until then`,
      );
    return {
      ...base,
      outcome: 'drafted',
      reason: join([
        !sender
          ? 'unknown sender: waiting for an operator'
          : !vouched
            ? 'not signed by a trusted certificate of its sender: waiting for an operator'
            : 'waiting for an operator (not automatic for this alert)',
        ...notes,
      ]),
      draftId: draft.id,
    };
  }

  /**
   * A Cancel (or an Update whose area left the county) no trusted certificate vouches for:
   * recorded, nothing ended; an operator ends by hand what it names.
   */
  private async leftToOperator(
    alert: CapAlert,
    row: AlertEntity,
    what: 'Cancel' | 'Update',
    why: string | null = null,
  ): Promise<Decision> {
    const going = await this.goingOf(alert, row);
    if (!going.broadcasts.length && !going.drafts.length)
      return {
        outcome: 'recorded',
        reason: join([why, 'nothing of the referenced alert(s) was still running']),
      };
    return {
      outcome: 'recorded',
      reason: join([
        why,
        `a ${what} not signed by a trusted certificate of its sender ends nothing by itself`,
        ...going.broadcasts.map(
          (id) => `cancel broadcast ${id} by hand on the broadcast's page if it is right`,
        ),
        ...going.drafts.map((id) => `reject draft ${id} by hand if it is right`),
      ]),
    };
  }

  /** For an Update that waits for a level: what it updates keeps playing meanwhile. */
  private async stillRunningNote(alert: CapAlert, row: AlertEntity): Promise<string | null> {
    const going = await this.goingOf(alert, row);
    return going.broadcasts.length
      ? `what it updates keeps playing (${going.broadcasts.map((id) => `broadcast ${id}`).join(', ')}): cancel it by hand once this goes out`
      : null;
  }

  /** `alert:<sender>`: the creator of what an alert makes. */
  private byOf(alert: Pick<CapAlert, 'sender'>): string {
    return `alert:${alert.sender}`.slice(0, 100);
  }

  private requestFor(
    a: AlertEntity,
    level: Level,
    clipId: string,
    title?: string,
    info?: CapInfo,
    villages?: AreaVillage[],
    codes?: string[],
    mapped?: MappedAlert,
  ): BroadcastRequest {
    return {
      title: title ?? alertTitle(mapped?.titlePrefix ?? '', a.headline, a.event ?? ''),
      clipId,
      level,
      target:
        villages && codes
          ? targetOf(codes, villages)
          : { villages: JSON.parse(a.villagesJson ?? '[]') as string[] },
      // Not before the information takes effect; never held for `onset`, which it warns of. An
      // Update goes now: what it replaces ends now, and the villages must not fall silent.
      ...(a.msgType !== 'Update' &&
      info?.effective &&
      info.effective.ms > this.clock.now().getTime()
        ? { startAt: info.effective.ms }
        : {}),
      expiresAt: info?.expires?.ms,
      // A drill or a test never sounds the emergency tone.
      ...(mapped && !mapped.attentionTone ? { attentionTone: false } : {}),
    };
  }

  /**
   * What the referenced alerts made that is still going: their running broadcasts and pending
   * drafts, and those of the sender's other accepted messages referencing the same alerts (an
   * Update in between).
   */
  private async goingOf(
    alert: CapAlert,
    row: AlertEntity,
  ): Promise<{ broadcasts: string[]; drafts: string[] }> {
    // Only a sender's own alerts: otherwise anyone the station accepts could call off another
    // sender's warning by referencing it.
    const own = alert.references.filter((r) => r.sender === alert.sender);
    const ids = [...new Set(own.map((r) => r.identifier))];
    const keys = own.map((r) => `${r.sender},${r.identifier},${r.sent}`);
    const rows = [
      ...(await this.repo.findReferenced(alert.sender, ids)),
      ...(await this.repo.findReferencing(alert.sender, keys)),
    ];
    const broadcasts = new Set<string>();
    const drafts = new Set<string>();
    const seen = new Set<string>([row.id]);
    for (const ref of rows) {
      // A Test or Exercise never calls off a real warning (nor the other way round).
      if (seen.has(ref.id) || ref.status !== alert.status) continue;
      seen.add(ref.id);
      if (ref.broadcastId) broadcasts.add(ref.broadcastId);
      if (!ref.draftId) continue;
      const draft = await this.settledDraft(ref.draftId);
      if (draft?.status === 'pending') drafts.add(ref.draftId);
      else if (draft?.resultId) broadcasts.add(draft.resultId);
    }
    const running: string[] = [];
    for (const id of broadcasts) {
      const b = await this.broadcasts.get(id).catch(() => null);
      if (b && RUNNING.has(b.status)) running.push(id);
    }
    return { broadcasts: running, drafts: [...drafts] };
  }

  /**
   * A draft's state, once no one is approving it right now: an Update or Cancel arriving while its
   * broadcast is being made ends that broadcast rather than nothing.
   */
  private async settledDraft(
    id: string,
  ): Promise<{ status: string; resultId: string | null } | null> {
    const until = Date.now() + APPROVING_WAIT_MS;
    for (;;) {
      const draft = await this.drafts.stateOf(id);
      if (draft?.status !== 'approving' || Date.now() >= until) return draft;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * Ends what the referenced alerts made: running broadcasts are cancelled with `reason`, pending
   * drafts withdrawn. Returns what was ended.
   */
  private async endReferenced(
    alert: CapAlert,
    reason: string,
    row: AlertEntity,
  ): Promise<{ kind: 'broadcast' | 'draft'; id: string }[]> {
    const ended: { kind: 'broadcast' | 'draft'; id: string }[] = [];
    const going = await this.goingOf(alert, row);
    const broadcastIds = new Set(going.broadcasts);
    const by = this.byOf(alert);
    for (const id of going.drafts) {
      if (await this.drafts.withdrawForAlert(id, reason, by)) ended.push({ kind: 'draft', id });
      else {
        // Approved in the meantime: its broadcast is what to end.
        const resultId = (await this.drafts.stateOf(id))?.resultId;
        if (resultId) broadcastIds.add(resultId);
      }
    }
    for (const id of broadcastIds) {
      try {
        await this.broadcasts.cancel(id, reason.slice(0, 200), by);
        ended.push({ kind: 'broadcast', id });
      } catch (err) {
        // Ended on its own in the meantime: nothing left to stop.
        if (!(err instanceof DomainError) || err.code !== ('BROADCAST_ENDED' as BroadcastErrorCode))
          throw err;
      }
    }
    return ended;
  }

  /**
   * The info block to act on: the station's language first, then (of several in it) the most
   * severe one whose area touches this county.
   */
  private async infoFor(alert: CapAlert): Promise<CapInfo | null> {
    if (alert.infos.length < 2) return alert.infos[0] ?? null;
    const villages = await this.areaVillages();
    return pickInfoFor(
      alert,
      this.config.alerts.stationLanguage,
      (i) => matchArea(i.areas, villages).ok,
    );
  }

  /** Every village with its coordinates (the villages module's list, page by page). */
  private async areaVillages(): Promise<AreaVillage[]> {
    const all: AreaVillage[] = [];
    for (let offset = 0; ; offset += 500) {
      const page = await this.villages.list({ limit: 500, offset });
      all.push(
        ...page.items.map((v) => ({ code: v.code, townCode: v.townCode, lat: v.lat, lon: v.lon })),
      );
      if (page.items.length < 500) return all;
    }
  }

  // ---- records ----

  /** The record of a message before anything about it is known. */
  private blank(xml: string, origin: AlertOrigin, now: number): AlertEntity {
    return {
      id: randomUUID(),
      source: origin.source,
      sourceRef: origin.ref?.slice(0, 200) ?? null,
      dedupKey: null,
      sender: null,
      identifier: null,
      sent: null,
      sentAt: null,
      status: null,
      msgType: null,
      language: null,
      event: null,
      urgency: null,
      severity: null,
      certainty: null,
      headline: null,
      level: null,
      referencesJson: null,
      villagesJson: null,
      signature: 'unsigned',
      signer: null,
      outcome: 'recorded',
      rule: null,
      reason: null,
      clipId: null,
      draftId: null,
      broadcastId: null,
      replacedBroadcastId: null,
      xmlSha256: createHash('sha256').update(xml).digest('hex'),
      xml,
      receivedAt: now,
      updatedAt: now,
    };
  }

  /** Records a refusal (inserting or updating the row) and returns the error to answer with. */
  private async refuse(
    row: AlertEntity,
    r: Refusal,
    stored = false,
  ): Promise<DomainError<AlertErrorCode>> {
    const patch = {
      outcome: 'refused' as const,
      rule: r.rule.slice(0, 64),
      reason: r.message.slice(0, 1000),
      // A refused message does not block a valid copy of it.
      dedupKey: null,
      updatedAt: this.clock.now().getTime(),
    };
    if (stored) await this.repo.update(row.id, patch);
    else await this.repo.insert({ ...row, ...patch });
    const refused = { ...row, ...patch };
    this.logger.warn(
      `alert=${row.id} refused rule=${patch.rule} sender=${JSON.stringify(row.sender)}: ${patch.reason}`,
    );
    await this.audit.record({
      actor: 'alerts',
      action: 'alert.refuse',
      subject: row.id,
      detail: {
        source: row.source,
        sourceRef: row.sourceRef,
        sender: row.sender,
        identifier: row.identifier,
        rule: patch.rule,
        reason: patch.reason,
      },
    });
    this.publish(refused);
    const message = `Alert refused (${patch.rule}): ${patch.reason}`;
    const details = { rule: patch.rule, alertId: row.id };
    return r.kind === 'unprocessable'
      ? new DomainError<AlertErrorCode>('unprocessable', 'ALERT_OUT_OF_AREA', message, details)
      : new DomainError<AlertErrorCode>('invalid', 'ALERT_REFUSED', message, details);
  }

  private async settle(row: AlertEntity, d: Decision): Promise<AlertEntity> {
    const patch: Partial<AlertEntity> = {
      outcome: d.outcome,
      reason: d.reason?.slice(0, 1000) ?? null,
      clipId: d.clipId ?? row.clipId,
      draftId: d.draftId ?? null,
      broadcastId: d.broadcastId ?? null,
      replacedBroadcastId: d.replacedBroadcastId ?? null,
      // Like a refusal, a failure does not block the same message sent again: it is tried anew.
      // An interrupted one keeps its identity: the message sent again takes it over (takeOver).
      ...(d.outcome === 'failed' && d.reason !== INTERRUPTED ? { dedupKey: null } : {}),
      updatedAt: this.clock.now().getTime(),
    };
    await this.repo.update(row.id, patch);
    const done = { ...row, ...patch };
    this.publish(done);
    return done;
  }

  private duplicate(first: AlertEntity): AlertEntity {
    this.logger.log(`alert=${first.id} received again: duplicate, nothing changed`);
    return { ...first, outcome: 'duplicate', reason: `the same message as alert ${first.id}` };
  }

  /** An alert whose draft was approved since shows the broadcast it became. */
  private async refreshed(a: AlertEntity): Promise<AlertEntity> {
    if (a.outcome !== 'drafted' || !a.draftId || a.broadcastId) return a;
    const draft = await this.drafts.stateOf(a.draftId);
    return draft?.resultId ? { ...a, broadcastId: draft.resultId } : a;
  }

  private publish(a: AlertEntity): void {
    this.live.publish(
      'alerts',
      { changed: [a.id], outcome: a.outcome, broadcastId: a.broadcastId, draftId: a.draftId },
      isCountyStaff,
    );
  }

  private async require(id: string): Promise<AlertEntity> {
    const a = await this.repo.find(id);
    if (!a) throw new NotFoundError('alert', id);
    return a;
  }
}

/**
 * A stop cut this message off and only the same message sent again can act on it: marked so at
 * the next start, or (a superior's EBM, whose package only its link keeps) still `being
 * processed`, which inside the sender's turn means no one in this process is acting on it (the
 * resend may come before the restart sweep reaches it).
 */
function interrupted(a: AlertEntity): boolean {
  if (a.outcome === 'failed') return a.reason === INTERRUPTED;
  return a.source === 'superior' && a.outcome === 'recorded' && a.reason === PROCESSING;
}

/** Whether the sender's policy refuses a message with this signature; null when it may pass. */
function senderRefusal(
  sender: AlertSenderEntity | null,
  state: SignatureState,
  why: string | null,
): Refusal | null {
  if (sender?.policy === 'refuse')
    return new Refusal('sender.refused', `sender ${sender.sender} is refused by this station`);
  // A broken signature is refused whatever the policy: the message was changed or forged.
  if (state === 'invalid')
    return new Refusal(
      'signature.invalid',
      `the XML signature does not verify${why ? `: ${why}` : ''}`,
    );
  if (sender?.policy === 'require_signature' && state !== 'valid')
    return state === 'untrusted'
      ? new Refusal(
          'signature.untrusted',
          `signed by a certificate not trusted for ${sender.sender}${why ? `: ${why}` : ''}`,
        )
      : new Refusal('signature.required', `sender ${sender.sender} must sign its alerts`);
  return null;
}

/** The message's own identity fields, for its record. */
function identity(alert: CapAlert): Partial<AlertEntity> {
  return {
    sender: alert.sender.slice(0, 255),
    identifier: alert.identifier.slice(0, 255),
    sent: alert.sent.text.slice(0, 40),
    sentAt: alert.sent.ms,
    status: alert.status,
    msgType: alert.msgType,
    referencesJson: alert.references.length
      ? JSON.stringify(alert.references.map((r) => `${r.sender},${r.identifier},${r.sent}`))
      : null,
  };
}

function join(parts: (string | null | undefined)[]): string {
  return parts.filter(Boolean).join('; ');
}

export function toAlertDto(a: AlertEntity): AlertDto {
  return {
    id: a.id,
    source: a.source,
    sourceRef: a.sourceRef,
    sender: a.sender,
    identifier: a.identifier,
    sent: a.sent,
    status: a.status,
    msgType: a.msgType,
    language: a.language,
    event: a.event,
    urgency: a.urgency,
    severity: a.severity,
    certainty: a.certainty,
    headline: a.headline,
    level: a.level,
    references: a.referencesJson ? (JSON.parse(a.referencesJson) as string[]) : [],
    villages: a.villagesJson ? (JSON.parse(a.villagesJson) as string[]).length : 0,
    signature: a.signature,
    signer: a.signer,
    outcome: a.outcome,
    rule: a.rule,
    reason: a.reason,
    clipId: a.clipId,
    draftId: a.draftId,
    broadcastId: a.broadcastId,
    replacedBroadcastId: a.replacedBroadcastId,
    receivedAt: isoTime(a.receivedAt),
    updatedAt: isoTime(a.updatedAt),
  };
}

function toSenderDto(s: AlertSenderEntity): AlertSenderDto {
  return {
    sender: s.sender,
    name: s.name,
    policy: s.policy,
    certificates: (JSON.parse(s.certificatesJson) as string[]).map((pem) => {
      const c = new X509Certificate(pem);
      return {
        subject: c.subject,
        issuer: c.issuer,
        validTo: new Date(c.validTo).toISOString(),
        fingerprint256: c.fingerprint256,
      };
    }),
    autoSeverities: JSON.parse(s.autoSeveritiesJson) as CapSeverity[],
    updatedBy: s.updatedBy,
    updatedAt: isoTime(s.updatedAt),
  };
}
