import { BroadcastChange, BroadcastEvents } from '../../src/broadcasts/broadcast-events.js';
import type { BroadcastStatus } from '../../src/broadcasts/broadcast.entity.js';
import { ClipsService } from '../../src/clips/clips.service.js';
import type { AppConfig } from '../../src/config/app-config.js';
import { APP_CONFIG } from '../../src/config/config.module.js';
import { makeAudio } from './audio.js';
import { eventually, next } from './mqtt.js';
import { api, TestServer, tempDir } from './server.js';

/**
 * Delivery settings the broadcast tests count with: a resend 1 s after an unanswered send, at most
 * two resends ("no answer after 3 sends"), and a deadline 1 s after expiry. They set no timer: the
 * server's periodic jobs are off in tests, which reach these times with `s.advance(ms)`.
 */
export const DELIVERY_ENV: Record<string, string> = {
  ACK_TIMEOUT_S: '1',
  MAX_RESENDS: '2',
  BROADCAST_GRACE_S: '1',
};

/** Moves the server's clock just past the broadcast's deadline (expiry plus grace) and ticks. */
export async function passDeadline(s: TestServer, b: Record<string, unknown>): Promise<void> {
  const { graceMs } = s.server.app.get<AppConfig>(APP_CONFIG).broadcasts;
  const deadline = Date.parse(b.expiresAt as string) + graceMs;
  await s.advance(Math.max(0, deadline + 1 - s.clock.now().getTime()));
}

/** A ready clip of `seconds` of noise, uploaded through the API. */
export async function newClip(
  s: TestServer,
  seconds = 2,
): Promise<{ id: string; durationMs: number }> {
  const path = await makeAudio(
    tempDir('dalaba-clip-'),
    `clip-${seconds}s-${Math.random().toString(36).slice(2, 8)}`,
    { signal: 'noise', seconds, gainDb: -14 - Math.random() },
  );
  const res = await api(s.url, s.adminToken)
    .post('/api/clips?wait=true')
    .attach('file', path)
    .expect(201);
  if (res.body.status !== 'ready') throw new Error(`clip not ready: ${res.body.failureReason}`);
  // As a clip uploaded ahead is: its emergency version made too, so a level I-IV send goes at once.
  const clips = s.server.app.get(ClipsService);
  await eventually(
    async () => (await clips.readyAudio(res.body.id as string, 'emergency')) !== null,
    60_000,
    'the emergency version of the clip',
  );
  return { id: res.body.id as string, durationMs: res.body.durationMs as number };
}

/** Resolves when the broadcast reaches `status` (set up before the action that causes it). */
export function statusReached(
  s: TestServer,
  broadcastId: () => string,
  status: BroadcastStatus,
  ms = 30_000,
): Promise<BroadcastChange> {
  return next(
    s.server.app.get(BroadcastEvents).changes,
    (c) => c.kind === 'broadcast' && c.broadcastId === broadcastId() && c.status === status,
    ms,
  );
}

/** Resolves when a delivery of the broadcast reaches `state`. */
export function deliveryReached(
  s: TestServer,
  broadcastId: () => string,
  deviceId: string,
  state: string,
  ms = 30_000,
): Promise<BroadcastChange> {
  return next(
    s.server.app.get(BroadcastEvents).changes,
    (c) =>
      c.kind === 'delivery' &&
      c.broadcastId === broadcastId() &&
      c.deviceId === deviceId &&
      c.state === state,
    ms,
  );
}

export interface CreatedBroadcast {
  id: string;
  status: BroadcastStatus;
  deliveries: Record<string, number>;
  [key: string]: unknown;
}

export async function createBroadcast(
  s: TestServer,
  body: Record<string, unknown>,
  token = s.adminToken,
): Promise<CreatedBroadcast> {
  const res = await api(s.url, token).post('/api/broadcasts').send(body);
  if (res.status !== 201) throw new Error(`broadcast not created: ${res.status} ${res.text}`);
  return res.body as CreatedBroadcast;
}

export async function deliveriesOf(
  s: TestServer,
  broadcastId: string,
): Promise<
  {
    deviceId: string;
    state: string;
    reason: string | null;
    attempts: number;
    resumes: number;
    heldUntil: string | null;
    startedAt: string | null;
    id: string;
    villageCode: string;
  }[]
> {
  const res = await api(s.url, s.adminToken)
    .get(`/api/broadcasts/${broadcastId}/deliveries?limit=500`)
    .expect(200);
  return res.body.items;
}
