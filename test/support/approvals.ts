// Most tests are about delivery, coverage or the dashboard, not about who approved a broadcast:
// they run with the two-person rule off (test/approvals.test.ts and the approval browser tests
// keep the station's default, I and II need a second person).
import { LEVELS } from '../../src/contract/messages.js';
import { ApprovalPolicyService } from '../../src/broadcasts/approval-policy.js';
import type { RunningServer } from '../../src/server.js';
import { api } from './server.js';

/** The policy body with no level needing a second person. */
export const NO_APPROVALS = {
  levels: LEVELS.map((level) => ({ level, needsApproval: false, maxWaitMin: 15 })),
};

/** Turns the two-person rule off in an in-process server. */
export async function approvalsOffIn(server: RunningServer): Promise<void> {
  await server.app.get(ApprovalPolicyService).put(NO_APPROVALS.levels, 'test setup');
}

/** Turns the two-person rule off through the API (servers in another process). */
export async function approvalsOff(url: string, adminToken: string): Promise<void> {
  await api(url, adminToken).put('/api/approval-policy').send(NO_APPROVALS).expect(200);
}
