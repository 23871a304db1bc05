import { Injectable } from '@nestjs/common';
import type { AlertEntity, AlertSource, SignatureState } from './alert.entity.js';
import type { CapAlert } from './cap/cap-model.js';

/** Who handed an alert over, for the record. */
export interface AlertOrigin {
  source: AlertSource;
  /** The token or person (api), the feed id (feed), the superior platform's id (superior). */
  ref: string | null;
  /** The name kept as the broadcast's creator, e.g. `alert:<sender>`. */
  by: string;
}

/**
 * The one intake for alerts: CAP XML from the API or a feed (`receive`), or an alert already read
 * from another format such as a superior platform's EBM (`accept`).
 * STAND-IN: the intake helper replaces this body (spec: /work/spec19.md).
 */
@Injectable()
export class AlertsService {
  /** Parses, checks and acts on CAP XML; a refusal is recorded and thrown as a DomainError (400/422). */
  receive(_xml: Buffer, _origin: AlertOrigin): Promise<AlertEntity> {
    throw new Error('STAND-IN: AlertsService.receive');
  }

  /** Acts on an alert read and checked elsewhere (an EBM from the superior platform). */
  accept(
    _alert: CapAlert,
    _raw: { xml: string },
    _signature: { state: SignatureState; signer: string | null },
    _origin: AlertOrigin,
  ): Promise<AlertEntity> {
    throw new Error('STAND-IN: AlertsService.accept');
  }

  /** The alert a broadcast was made from (directly, or through its draft), if any. */
  alertOfBroadcast(_broadcastId: string): Promise<AlertEntity | null> {
    return Promise.resolve(null);
  }
}
