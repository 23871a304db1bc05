import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';
import type { DeliveryState, Level } from '../contract/messages.js';
import type { BroadcastStatus } from './broadcast.entity.js';

/** Changes other parts of the server follow live (the dashboard's event stream, tests). */
export type BroadcastChange =
  | { kind: 'broadcast'; broadcastId: string; status: BroadcastStatus; at: number }
  | {
      kind: 'delivery';
      broadcastId: string;
      deliveryId: string;
      deviceId: string;
      villageCode: string;
      state: DeliveryState;
      at: number;
    }
  | {
      kind: 'confirmation';
      broadcastId: string;
      villageCode: string;
      deviceId: string | null;
      at: number;
    };

/** A broadcast sent at once although its level needs a second person (override). */
export interface OverrideNotice {
  broadcastId: string;
  title: string;
  level: Level;
  by: string;
  reason: string;
  at: number;
}

@Injectable()
export class BroadcastEvents implements OnModuleDestroy {
  private readonly subject = new Subject<BroadcastChange>();
  private readonly overrideSubject = new Subject<OverrideNotice>();

  /** Overrides as they happen: the dashboard tells the county's operators at once. */
  get overrides(): Observable<OverrideNotice> {
    return this.overrideSubject.asObservable();
  }

  emitOverride(notice: OverrideNotice): void {
    this.overrideSubject.next(notice);
  }

  get changes(): Observable<BroadcastChange> {
    return this.subject.asObservable();
  }

  emit(change: BroadcastChange): void {
    this.subject.next(change);
  }

  onModuleDestroy(): void {
    this.subject.complete();
    this.overrideSubject.complete();
  }
}
