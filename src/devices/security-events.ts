// STAND-IN: replaced by h17-prov at merge
import { Injectable, Logger } from '@nestjs/common';

/** What a security event is about (spec: Security events). */
export interface SecurityEventInput {
  deviceId: string;
  kind: 'command_rejected' | 'device_key_changed' | 'bad_device_signature';
  reason: string;
  detail?: string;
  commandId?: string;
  seq?: number;
  kid?: string;
  at: number;
}

/** Stand-in with the real service's `record` signature: logs only, stores nothing. */
@Injectable()
export class SecurityEvents {
  private readonly logger = new Logger('security');

  record(e: SecurityEventInput): Promise<void> {
    this.logger.warn(
      `device=${e.deviceId} ${e.kind}: ${e.reason}${e.detail ? ` (${e.detail})` : ''}${e.kid ? ` kid=${e.kid}` : ''}`,
    );
    return Promise.resolve();
  }
}
