import { Injectable, Logger } from '@nestjs/common';
import type { DeliveryState } from '../contract/messages.js';
import { BroadcastEvents } from './broadcast-events.js';
import { BroadcastFactsRepository } from './broadcast-facts.repository.js';
import { milestoneTimes, settle, Settlement } from './broadcast-outcome.js';
import { BroadcastEntity, DeliveryEntity } from './broadcast.entity.js';
import { BroadcastsRepository, DeliveryChange } from './broadcasts.repository.js';
import { DeliveryInput, isTerminal, transition } from './delivery-state-machine.js';

/** A dispatch being saved: the broadcast as it will be, its villages, and the change to store. */
export interface DispatchWrite {
  broadcast: BroadcastEntity;
  villageCodes: string[];
  patch: Partial<BroadcastEntity>;
}

/**
 * The one write path for deliveries: every transition and its delivery event is stored here, live
 * listeners are told of it here, and a broadcast left with nothing open is completed here, with its
 * outcome worked out inside that write. Sending, ingest, dispatch and cancel only decide changes.
 */
@Injectable()
export class DeliveryLedger {
  private readonly logger = new Logger('dispatch');

  constructor(
    private readonly repo: BroadcastsRepository,
    private readonly facts: BroadcastFactsRepository,
    private readonly events: BroadcastEvents,
  ) {}

  /** A change the server decides itself (sent, expired, failed, cancelled), guarded on `d.state`. */
  change(d: DeliveryEntity, input: DeliveryInput, now: number, reason?: string): DeliveryChange {
    const result = transition(d.state, input, { broadcastOpen: false });
    const next: DeliveryState = result.ok ? result.next : d.state;
    return {
      id: d.id,
      expect: d.state,
      patch: { state: next, updatedAt: now, nextSendAt: null, ...(reason ? { reason } : {}) },
      event: this.event(d, d.state, next, now, reason),
      of: d,
    };
  }

  event(d: DeliveryEntity, from: DeliveryState, to: DeliveryState, now: number, reason?: string) {
    return {
      deliveryId: d.id,
      fromState: from,
      toState: to,
      source: 'system' as const,
      deviceTs: null,
      serverTs: now,
      reason: reason ?? null,
      anomaly: null,
    };
  }

  /**
   * Writes changes, tells listeners, and completes broadcasts with nothing left open; returns the
   * ids of the changes applied.
   */
  async commit(changes: DeliveryChange[], now: number): Promise<Set<string>> {
    if (!changes.length) return new Set();
    const applied = await this.repo.applyChanges(changes);
    const ended = this.announce(changes, applied, now);
    await this.completeIfDone([...ended], now);
    return applied;
  }

  /**
   * Inserts a dispatch's new deliveries with their first changes applied, then announces it; false
   * when the broadcast was no longer `dispatching` (nothing of it is stored then).
   */
  async saveDispatch(
    dispatch: DispatchWrite,
    deliveries: DeliveryEntity[],
    changes: DeliveryChange[],
    park: DeliveryEntity[],
    now: number,
  ): Promise<boolean> {
    const changed = new Map(changes.map((c) => [c.id, c]));
    const parked = new Set(park.map((d) => d.id));
    const rows = deliveries.map((d): DeliveryEntity => {
      const c = changed.get(d.id);
      if (c) return { ...d, ...c.patch };
      return parked.has(d.id) ? { ...d, nextSendAt: null } : d;
    });
    const b = dispatch.broadcast;
    const saved = await this.repo.saveDispatch(
      b.id,
      dispatch.villageCodes,
      rows,
      dispatch.patch,
      changes.map((c) => c.event),
    );
    if (!saved) return false;
    this.emitStatus(b.id, b.status, now);
    this.announce(changes, new Set(changes.map((c) => c.id)), now);
    // Quiet hours can expire every delivery at once.
    if (changes.some((c) => isTerminal(c.event.toState))) await this.completeIfDone([b.id], now);
    return true;
  }

  /**
   * Tells live listeners about the applied changes; returns the broadcasts where a delivery ended
   * (only those can be left with nothing open).
   */
  announce(changes: DeliveryChange[], applied: Set<string>, now: number): Set<string> {
    const ended = new Set<string>();
    for (const c of changes) {
      if (!applied.has(c.id)) continue;
      if (isTerminal(c.event.toState)) ended.add(c.of.broadcastId);
      if (c.event.fromState !== c.event.toState) {
        this.events.emit({
          kind: 'delivery',
          broadcastId: c.of.broadcastId,
          deliveryId: c.id,
          deviceId: c.of.deviceId,
          villageCode: c.of.villageCode,
          state: c.event.toState,
          at: now,
        });
      }
    }
    return ended;
  }

  async completeIfDone(broadcastIds: string[], now: number): Promise<void> {
    const stillOpen = await this.repo.withOpenDeliveries(broadcastIds);
    const done = await this.repo.findMany(broadcastIds.filter((id) => !stillOpen.has(id)));
    for (const b of done) {
      if (b.status !== 'active') continue;
      const settlement = await this.settleIfClosed(b, ['active'], now);
      if (settlement) {
        this.logger.log(
          `broadcast=${b.id} completed: every delivery has ended, ${settlement.outcome}`,
        );
        this.emitStatus(b.id, 'completed', now);
      }
    }
  }

  /**
   * Completes a broadcast in `from` that has no delivery left open, with its outcome and
   * milestones worked out inside that write: a delivery event or a manual confirmation queued
   * before it is in the figures, and one that reopened a delivery (preempted) keeps it open (a
   * change that lost to such an event is tried again by the next tick). Null if it did not.
   */
  settleIfClosed(
    b: BroadcastEntity,
    from: BroadcastEntity['status'][],
    now: number,
  ): Promise<Settlement | null> {
    return this.repo.transitionWith(b.id, from, async () => {
      if ((await this.repo.withOpenDeliveries([b.id])).size) return null;
      const settlement = await this.settlement(b, 'completed');
      return { status: 'completed' as const, ...settlement, endedAt: now, updatedAt: now };
    });
  }

  /** Staff confirming a village by hand after the end can change what came of a broadcast. */
  async refreshOutcome(b: BroadcastEntity): Promise<void> {
    await this.repo.transitionWith(b.id, ['completed'], async () => ({
      outcome: (await this.settlement(b, 'completed')).outcome,
    }));
  }

  /** The milestones of what went out before a cancel (whose outcome is already `cancelled`). */
  async recordMilestones(b: BroadcastEntity): Promise<void> {
    const facts = await this.facts.settlementFacts(b.id, b.expiresAt);
    await this.repo.update(b.id, milestoneTimes(b.startAt, facts.times, facts.targeted));
  }

  /** The outcome and milestones of a broadcast ending now in `status`, from its deliveries. */
  private async settlement(
    b: Pick<BroadcastEntity, 'id' | 'startAt' | 'expiresAt'>,
    status: 'completed',
  ): Promise<Settlement> {
    const facts = await this.facts.settlementFacts(b.id, b.expiresAt);
    return settle(status, b.startAt, facts.times, facts.targeted, facts.manual);
  }

  emitStatus(broadcastId: string, status: BroadcastEntity['status'], at: number): void {
    this.events.emit({ kind: 'broadcast', broadcastId, status, at });
  }
}
