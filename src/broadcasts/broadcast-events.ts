import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';
import type { DeliveryState } from '../contract/messages.js';
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

@Injectable()
export class BroadcastEvents implements OnModuleDestroy {
  private readonly subject = new Subject<BroadcastChange>();

  get changes(): Observable<BroadcastChange> {
    return this.subject.asObservable();
  }

  emit(change: BroadcastChange): void {
    this.subject.next(change);
  }

  onModuleDestroy(): void {
    this.subject.complete();
  }
}
