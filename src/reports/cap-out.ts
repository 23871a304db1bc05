import { Injectable } from '@nestjs/common';
import type { AlertEntity } from '../alerts/alert.entity.js';
import { CAP_CERTAINTIES, CAP_URGENCIES } from '../alerts/cap/cap-model.js';
import { makeGbtIdentifier } from '../alerts/cap/gbt35965.js';
import { el, raw, xmlDocument, xmlns, type XmlNode } from '../common/xml-writer.js';
import { CAP_GEOCODE_VALUE_NAME, KIND_MAPPING, severityOf } from './gyt-mapping.js';
import { capTime } from './report-time.js';
import { Clock } from '../common/clock.js';
import type { CapMessageKind } from './cap-message.entity.js';
import { CapMessagesRepository } from './cap-messages.repository.js';
import { BroadcastFacts, ReportSources } from './report-sources.js';

export const CAP_NAMESPACE = 'urn:oasis:names:tc:emergency:cap:1.2';
export const CAP_CONTENT_TYPE = 'application/cap+xml';
const ATOM_NAMESPACE = 'http://www.w3.org/2005/Atom';

/** Entries of the Atom feed: the county's latest broadcasts. */
export const FEED_ENTRIES = 50;
/** Where the feed is served (reports.controller.ts). */
export const FEED_PATH = '/api/feeds/alerts.atom';

/** One CAP message of a broadcast: its `sender,identifier,sent` and the XML. */
export interface CapMessage {
  identifier: string;
  sender: string;
  sent: string;
  xml: string;
}

/**
 * A broadcast as CAP 1.2, and the county's latest as an Atom feed: what a city platform or a
 * public app reads (docs/reports.md, "CAP out").
 */
@Injectable()
export class CapOut {
  constructor(
    private readonly sources: ReportSources,
    private readonly messages: CapMessagesRepository,
    private readonly clock: Clock,
  ) {}

  /**
   * The broadcast's current message: an Alert, or for a cancelled broadcast a Cancel (sent when it
   * was cancelled) referencing that Alert. Status from its level and alert (gyt-mapping.ts).
   */
  async capOf(broadcastId: string): Promise<CapMessage> {
    return this.message(await this.sources.broadcast(broadcastId));
  }

  /** `known`: identifiers already read for this and other broadcasts (the feed reads them at once). */
  private async message(f: BroadcastFacts, known?: Map<string, string>): Promise<CapMessage> {
    const b = f.broadcast;
    const cancelled = b.status === 'cancelled';
    const [sender, county, digest, given] = await Promise.all([
      this.sources.sender(),
      this.sources.countyCode(),
      f.clip.sha256 ? this.sources.audioSha1(f.clip.sha256) : Promise.resolve(undefined),
      known ?? this.messages.identifiers([b.id]),
    ]);
    const identifier = async (kind: CapMessageKind, at: number, fallback: string) =>
      given.get(`${b.id}:${kind}`) ??
      (await this.messages.claim(
        b.id,
        kind,
        identifierCandidates(county, at, fallback),
        this.clock.now().getTime(),
      )) ??
      // Unreachable: the last candidate names the broadcast, which no other message does.
      `dalaba-${fallback}`;
    return capMessage(f, {
      sender,
      county,
      digest,
      audioUrl: this.sources.clipAudioUrl(f.clip.id),
      identifiers: {
        alert: await identifier('alert', Date.parse(b.createdAt), b.id),
        cancel: cancelled ? await identifier('cancel', cancelTimeOf(b), `${b.id}-cancel`) : null,
      },
    });
  }

  /**
   * Atom 1.0 feed of the county's latest broadcasts (newest first), each entry carrying its CAP
   * inline (`content type="application/cap+xml"`), as CAP feed readers take it.
   */
  async feed(): Promise<string> {
    const sender = await this.sources.sender();
    const selfUrl = this.sources.url(FEED_PATH);
    const entries: XmlNode[] = [];
    let updated = 0;
    const latestBroadcasts = await this.sources.latest(FEED_ENTRIES);
    const known = await this.messages.identifiers(latestBroadcasts.map((b) => b.id));
    for (const latest of latestBroadcasts) {
      const f = await this.sources.broadcast(latest.id);
      const cap = await this.message(f, known);
      const id = latest.id;
      // A broadcast changes (sent, ended, cancelled) without an updatedAt of its own in the API.
      const updatedAt = Math.max(
        ...[latest.createdAt, latest.dispatchedAt, latest.endedAt]
          .filter((t): t is string => t !== null)
          .map((t) => Date.parse(t)),
      );
      updated = Math.max(updated, updatedAt);
      entries.push(
        el(
          'entry',
          {},
          el('id', {}, `urn:dalaba:broadcast:${id}:${cap.identifier}`),
          el('title', {}, f.broadcast.title),
          el('updated', {}, capTime(updatedAt)),
          el('link', {
            rel: 'alternate',
            type: CAP_CONTENT_TYPE,
            href: this.sources.url(`/api/broadcasts/${id}/cap`),
          }),
          el('content', { type: CAP_CONTENT_TYPE }, raw(withoutDeclaration(cap.xml))),
        ),
      );
    }
    return xmlDocument(
      el(
        'feed',
        xmlns(ATOM_NAMESPACE),
        el('id', {}, `urn:dalaba:feed:${sender}`),
        el('title', {}, `${sender} 应急广播`),
        el('updated', {}, capTime(updated || 0)),
        el('author', {}, el('name', {}, sender)),
        el('link', { rel: 'self', href: selfUrl }),
        entries,
      ),
    );
  }
}

/** Who publishes, and the clip's audio as a resource. */
export interface CapContext {
  sender: string;
  /** The county's 6-digit code (the identifier's area). */
  county: string;
  /** SHA-1 of the clip's audio, hex; undefined when the file is gone. */
  digest: string | undefined;
  audioUrl: string;
  /**
   * The identifiers its Alert and (cancelled) its Cancel were first published under (kept in
   * `cap_messages`, see {@link identifierCandidates}).
   */
  identifiers: { alert: string; cancel: string | null };
}

/** When a cancelled broadcast's Cancel was sent: when it ended. */
export function cancelTimeOf(b: { createdAt: string; endedAt: string | null }): number {
  return b.endedAt ? Date.parse(b.endedAt) : Date.parse(b.createdAt) + 1000;
}

/**
 * A broadcast's current CAP message (pure): an Alert, or for a cancelled broadcast a Cancel (sent
 * when it was cancelled) referencing that Alert. Status from its kind; event, urgency and
 * certainty its alert's when it came from one, else its kind's; severity by severityOf
 * (gyt-mapping.ts).
 */
export function capMessage(f: BroadcastFacts, ctx: CapContext): CapMessage {
  const b = f.broadcast;
  const cancelled = b.status === 'cancelled';
  const original = { identifier: ctx.identifiers.alert, sent: capTime(Date.parse(b.createdAt)) };
  const message =
    cancelled && ctx.identifiers.cancel !== null
      ? { identifier: ctx.identifiers.cancel, sent: capTime(cancelTimeOf(b)) }
      : original;
  const m = KIND_MAPPING[f.kind];
  const alert = f.alert;
  const info = el(
    'info',
    {},
    el('language', {}, 'zh-CN'),
    el('category', {}, 'Other'),
    el('event', {}, alert?.event ?? m.event),
    el('urgency', {}, capValue(alert?.urgency, CAP_URGENCIES, m.capUrgency)),
    el('severity', {}, severityOf(f.kind, alert?.severity).cap),
    el('certainty', {}, capValue(alert?.certainty, CAP_CERTAINTIES, m.capCertainty)),
    el('effective', {}, capTime(Date.parse(b.startAt))),
    el('expires', {}, capTime(Date.parse(b.expiresAt))),
    el('senderName', {}, ctx.sender),
    el('headline', {}, b.title),
    el('description', {}, describe(f, alert)),
    cancelled && b.endReason && el('instruction', {}, `已取消：${b.endReason}`),
    f.clip.sha256 &&
      el(
        'resource',
        {},
        el('resourceDesc', {}, '广播音频'),
        el('mimeType', {}, 'audio/mpeg'),
        f.clip.bytes !== null && el('size', {}, f.clip.bytes),
        el('uri', {}, ctx.audioUrl),
        ctx.digest && el('digest', {}, ctx.digest),
      ),
    area(f),
  );
  const root = el(
    'alert',
    xmlns(CAP_NAMESPACE),
    el('identifier', {}, message.identifier),
    el('sender', {}, ctx.sender),
    el('sent', {}, message.sent),
    el('status', {}, m.capStatus),
    el('msgType', {}, cancelled ? 'Cancel' : 'Alert'),
    el('source', {}, `Dalaba broadcast ${b.id}`),
    el('scope', {}, 'Public'),
    cancelled && el('references', {}, `${ctx.sender},${original.identifier},${original.sent}`),
    alert && el('incidents', {}, alert.identifier),
    info,
  );
  return {
    identifier: message.identifier,
    sender: ctx.sender,
    sent: message.sent,
    xml: xmlDocument(root),
  };
}

/**
 * The identifiers a message may be published under, in the order they are tried (the first no
 * other message has is kept for good): GB/T 35965.1's, whose one-digit sequence N numbers a
 * second's messages, with the tenth of that second first (what Dalaba wrote before identifiers
 * were kept, so those already published stay the same), then the other digits; past ten in one
 * second, `dalaba-<broadcast id>` (`-cancel` for a Cancel), unique but not in the national form.
 */
export function identifierCandidates(county: string, at: number, fallback: string): string[] {
  const tenth = Math.floor((at % 1000) / 100);
  const order = [tenth, ...Array.from({ length: 10 }, (_, n) => n).filter((n) => n !== tenth)];
  return [
    ...order.map((sequence) =>
      makeGbtIdentifier({ areaCode6: county, at: new Date(at), sequence }),
    ),
    `dalaba-${fallback}`,
  ];
}

/** The alert's own CAP value when it is one of the enumeration, else the mapped one. */
function capValue<T extends string>(
  given: string | null | undefined,
  allowed: readonly T[],
  mapped: T,
): T {
  return allowed.includes(given as T) ? (given as T) : mapped;
}

function describe(f: BroadcastFacts, alert: AlertEntity | null): string {
  if (alert?.headline && alert.headline !== f.broadcast.title) return alert.headline;
  return f.broadcast.title;
}

/** The villages it reaches: names in areaDesc, 12-digit codes as geocodes. */
function area(f: BroadcastFacts): XmlNode {
  const names = f.areaCodes.map((c) => f.villages.get(c)?.name ?? c);
  return el(
    'area',
    {},
    el('areaDesc', {}, names.join('、')),
    f.areaCodes.map((code) =>
      el('geocode', {}, el('valueName', {}, CAP_GEOCODE_VALUE_NAME), el('value', {}, code)),
    ),
  );
}

/** A document this module wrote, as an element to embed: without its XML declaration. */
function withoutDeclaration(xml: string): string {
  return xml.replace(/^<\?xml[^>]*\?>\s*/, '');
}
