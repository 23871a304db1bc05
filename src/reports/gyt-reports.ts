import { Injectable } from '@nestjs/common';

/**
 * GY/T-style XML (EBM, EBMStateResponse, EBMBrdLog, terminal states) made from Dalaba's own data.
 * STAND-IN: the reports helper replaces this body (spec: /work/spec19.md).
 */
@Injectable()
export class GytReports {
  /** The EBM of a broadcast (the `<EBM>` element, no package wrapper). */
  ebm(_broadcastId: string): Promise<string> {
    throw new Error('STAND-IN: GytReports.ebm');
  }

  /** The broadcast's state (`<EBMStateResponse>`). */
  ebmStateResponse(_broadcastId: string): Promise<string> {
    throw new Error('STAND-IN: GytReports.ebmStateResponse');
  }

  /** The broadcast log of a period (`<EBMBrdLog>`). */
  ebmBrdLog(_from: number, _to: number): Promise<string> {
    throw new Error('STAND-IN: GytReports.ebmBrdLog');
  }

  /** Terminal state reports (`<EBRDTState>`) of the given devices, or all. */
  terminalStates(_deviceIds?: string[]): Promise<string> {
    throw new Error('STAND-IN: GytReports.terminalStates');
  }
}
