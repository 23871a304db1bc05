import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';

/**
 * Registry changes other modules react to without the devices module knowing them; the MQTT
 * gateway, for one, disconnects a device whose secret was rotated or which was disabled.
 */
export type DeviceChange =
  | { kind: 'created'; deviceId: string }
  | { kind: 'updated'; deviceId: string; enabled: boolean }
  | { kind: 'secret-rotated'; deviceId: string }
  | { kind: 'deleted'; deviceId: string };

@Injectable()
export class DeviceEvents implements OnModuleDestroy {
  private readonly subject = new Subject<DeviceChange>();

  get changes(): Observable<DeviceChange> {
    return this.subject.asObservable();
  }

  emit(change: DeviceChange): void {
    this.subject.next(change);
  }

  onModuleDestroy(): void {
    this.subject.complete();
  }
}
