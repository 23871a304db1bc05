import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import type { DeviceAgent } from '../devices/agent.js';
import { DraftsRepository } from '../src/approvals/drafts.repository.js';
import { SchedulesService } from '../src/schedules/schedules.service.js';
import { newClip } from './support/broadcasts.js';
import { fixtures } from './support/fixtures.js';
import { eventually, mqttUrl, startAgentOnline } from './support/mqtt.js';
import { api, startTestServer, tempDir, TestServer, tokenFor } from './support/server.js';
import { openEvents, SseStream } from './support/sse.js';
import { staffMember, StaffMember, townOfficial } from './support/staff.js';

const MIN = 60_000;

describe('two-person approval', () => {
  const dataDir = tempDir();
  let s: TestServer;
  let town: string;
  let village: string;
  let device: { id: string; secret: string };
  let agent: DeviceAgent | undefined;
  let clip: { id: string; durationMs: number };
  /** The drafter, a second person, and an account sharing the drafter's phone. */
  let ana: StaffMember;
  let ben: StaffMember;
  let anaAgain: StaffMember;
  const streams: SseStream[] = [];

  const as = (who: { token: string } | string) =>
    api(s.url, typeof who === 'string' ? who : who.token);
  const broadcastBody = (title: string, extra: Record<string, unknown> = {}) => ({
    title,
    clipId: clip.id,
    level: 'I',
    target: { villages: [village] },
    ...extra,
  });
  const draft = async (who: StaffMember, title: string) =>
    (
      await as(who)
        .post('/api/drafts')
        .send({ broadcast: broadcastBody(title) })
        .expect(201)
    ).body as { id: string; status: string; expiresAt: string };
  /** Every command the device accepted: a dispatch can reach it before the HTTP answer does. */
  const commands: { broadcastId: string; level: string }[] = [];
  const listen = (a: DeviceAgent) =>
    a.on('command', (c: { broadcastId: string; level: string }) => commands.push(c));
  /** Resolves with the command the device accepted for this broadcast. */
  const commandFor = async (broadcastId: () => string) => {
    await eventually(
      async () => commands.some((c) => c.broadcastId === broadcastId()),
      30_000,
      'the play command on the device',
    );
    return commands.find((c) => c.broadcastId === broadcastId())!;
  };

  beforeAll(async () => {
    s = await startTestServer({ dataDir, approvals: true });
    const fx = fixtures(s.url, s.adminToken);
    town = (await fx.newTown()).code;
    village = (await fx.newVillage(town)).code;
    device = await fx.newDevice(village);
    clip = await newClip(s);
    agent = await startAgentOnline(s, mqttUrl(s), device, { speed: 0 });
    listen(agent);
    ana = await staffMember(s, 'operator', [], { phone: '13800000001' });
    ben = await staffMember(s, 'operator', [], { phone: '13800000002' });
    anaAgain = await staffMember(s, 'admin', [], { phone: '13800000001' });
  });
  afterAll(async () => {
    for (const st of streams) st.close();
    await agent?.stop();
    await s?.close();
  });

  it('has a policy anyone may read and only an admin may change', async () => {
    const viewer = await tokenFor(s, 'viewer');
    const policy = (await as(viewer).get('/api/approval-policy').expect(200)).body;
    assert.deepEqual(
      policy.levels.filter((l: { needsApproval: boolean }) => l.needsApproval),
      [
        { level: 'I', needsApproval: true, maxWaitMin: 15 },
        { level: 'II', needsApproval: true, maxWaitMin: 15 },
      ],
    );
    // A town official's form needs it too: it holds no town's data.
    const official = await townOfficial(s, [town]);
    await as(official).get('/api/approval-policy').expect(200);
    const change = { levels: [{ level: 'III', needsApproval: true, maxWaitMin: 30 }] };
    await as(ben).put('/api/approval-policy').send(change).expect(403);
    const changed = (await as(s.adminToken).put('/api/approval-policy').send(change).expect(200))
      .body;
    assert.deepEqual(changed.levels[2], { level: 'III', needsApproval: true, maxWaitMin: 30 });
    const refused = await as(ben)
      .post('/api/broadcasts')
      .send(broadcastBody('III', { level: 'III' }));
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error, 'APPROVAL_REQUIRED');
    await as(s.adminToken)
      .put('/api/approval-policy')
      .send({ levels: [{ level: 'III', needsApproval: false, maxWaitMin: 15 }] })
      .expect(200);
    await as(ben)
      .post('/api/broadcasts')
      .send(broadcastBody('III', { level: 'III' }))
      .expect(201);
  });

  it('refuses a level I broadcast without a second person or an override, and makes nothing', async () => {
    const before = (await as(ben).get('/api/broadcasts?level=I').expect(200)).body.total;
    const res = await as(ben).post('/api/broadcasts').send(broadcastBody('无人审批')).expect(409);
    assert.equal(res.body.error, 'APPROVAL_REQUIRED');
    assert.match(res.body.message, /POST \/api\/drafts/);
    assert.equal((await as(ben).get('/api/broadcasts?level=I').expect(200)).body.total, before);
    const short = await as(ben)
      .post('/api/broadcasts')
      .send(broadcastBody('x', { override: { reason: 'no' } }))
      .expect(400);
    assert.equal(short.body.details[0].field, 'override.reason');
  });

  it('sends an override at once, flagged on the broadcast, in the audit log, the live feed, the coverage report, its CSV and the certificate', async () => {
    const live = await openEvents(s.url, ana.token);
    streams.push(live);
    let id = '';
    const played = commandFor(() => id);
    const reason = '堤坝溃口，等不及第二人审批';
    const b = (
      await as(ben)
        .post('/api/broadcasts')
        .send(broadcastBody('越级紧急', { override: { reason } }))
        .expect(201)
    ).body;
    id = b.id;
    assert.equal((await played).level, 'I');
    assert.equal(b.approval.mode, 'override');
    assert.equal(b.approval.reason, reason);
    assert.equal(b.approval.by, b.createdBy);
    assert.equal(b.approval.draftId, null);
    const pushed = await live.next((f) => f.event === 'override', 5000, 'override event');
    assert.equal((pushed.data as { broadcastId: string }).broadcastId, id);
    const audit = (await as(s.adminToken).get('/api/audit?action=broadcast.override').expect(200))
      .body.items;
    assert.ok(
      audit.some(
        (e: { subject: string; detail: { reason: string } }) =>
          e.subject === id && e.detail.reason === reason,
      ),
    );
    const report = (await as(ben).get(`/api/broadcasts/${id}/coverage`).expect(200)).body;
    assert.equal(report.broadcast.approval.mode, 'override');
    assert.equal(report.broadcast.approval.reason, reason);
    const csv = (await as(ben).get(`/api/broadcasts/${id}/coverage?format=csv&lang=en`).expect(200))
      .text;
    assert.match(csv, /override_reason,堤坝溃口/);
    const cert = (await as(ben).get(`/api/broadcasts/${id}/certificate`).expect(200)).body;
    assert.equal(cert.certificate.broadcast.approval.mode, 'override');
  });

  it('sends a draft once a second person approves it: the device gets the play command, the broadcast names both', async () => {
    const queue = await openEvents(s.url, ben.token);
    streams.push(queue);
    const d = (
      await as(ana)
        .post('/api/drafts')
        .send({ broadcast: broadcastBody('山洪 I 级预警') })
        .expect(201)
    ).body;
    assert.equal(d.status, 'pending');
    assert.equal(d.kind, 'broadcast');
    assert.equal(d.clip.id, clip.id);
    assert.equal(d.clip.durationMs, clip.durationMs);
    assert.equal(typeof d.clip.name, 'string');
    assert.deepEqual(d.reach, { villages: 1, devices: 1, online: 1 });
    assert.equal(d.mayApprove, false, 'not for its drafter');
    assert.match(d.whyNot, /second person/);
    const told = await queue.next(
      (f) => f.event === 'drafts' && (f.data as { changed: string[] }).changed.includes(d.id),
      5000,
      'drafts event',
    );
    assert.ok((told.data as { pending: number }).pending >= 1);
    const seen = (await as(ben).get(`/api/drafts/${d.id}`).expect(200)).body;
    assert.equal(seen.mayApprove, true);
    assert.ok(
      (await as(ben).get('/api/drafts').expect(200)).body.items.some(
        (x: { id: string }) => x.id === d.id,
      ),
    );
    let id = '';
    const command = commandFor(() => id);
    const approved = (await as(ben).post(`/api/drafts/${d.id}/approve`).expect(200)).body;
    id = approved.broadcast.id;
    assert.equal((await command).broadcastId, id);
    assert.equal(approved.draft.status, 'approved');
    assert.equal(approved.draft.resultId, id);
    assert.equal(approved.broadcast.createdBy, `Test ${ana.username}`);
    assert.deepEqual(
      { ...approved.broadcast.approval, at: undefined },
      { mode: 'approved', by: `Test ${ben.username}`, at: undefined, reason: null, draftId: d.id },
    );
    const again = await as(ben).post(`/api/drafts/${d.id}/approve`).expect(409);
    assert.equal(again.body.error, 'DRAFT_NOT_PENDING');
    const audit = (await as(s.adminToken).get('/api/audit?action=draft.approve').expect(200)).body
      .items;
    const entry = audit.find((e: { subject: string }) => e.subject === d.id);
    assert.equal(entry.detail.draftedBy, `Test ${ana.username}`);
    assert.equal(entry.detail.approvedBy, `Test ${ben.username}`);
  });

  it('refuses approval by the drafter, by another account with the drafter’s phone, and by a token no person owns', async () => {
    const d = await draft(ana, '自批');
    const self = await as(ana).post(`/api/drafts/${d.id}/approve`).expect(403);
    assert.equal(self.body.error, 'SELF_APPROVAL');
    const samePhone = await as(anaAgain).post(`/api/drafts/${d.id}/approve`).expect(403);
    assert.equal(samePhone.body.error, 'SELF_APPROVAL');
    assert.equal(
      (await as(anaAgain).get(`/api/drafts/${d.id}`).expect(200)).body.mayApprove,
      false,
    );
    const machine = await as(s.adminToken).post(`/api/drafts/${d.id}/approve`).expect(403);
    assert.equal(machine.body.error, 'APPROVER_NOT_A_PERSON');
    const rejectSelf = await as(ana)
      .post(`/api/drafts/${d.id}/reject`)
      .send({ reason: 'x' })
      .expect(403);
    assert.equal(rejectSelf.body.error, 'SELF_APPROVAL');
    assert.equal((await as(ben).get(`/api/drafts/${d.id}`).expect(200)).body.status, 'pending');
    // The phone written another way is still the drafter's.
    const anaPlus = await staffMember(s, 'operator', [], { phone: '+86 138-0000-0001' });
    const plus = await as(anaPlus).post(`/api/drafts/${d.id}/approve`).expect(403);
    assert.equal(plus.body.error, 'SELF_APPROVAL');
    // Only the drafter is offered the withdraw button.
    assert.equal((await as(ana).get(`/api/drafts/${d.id}`).expect(200)).body.mayWithdraw, true);
    assert.equal((await as(ben).get(`/api/drafts/${d.id}`).expect(200)).body.mayWithdraw, false);
  });

  it('refuses a draft from a token no person owns: its user could approve it as themselves', async () => {
    const res = await as(s.adminToken)
      .post('/api/drafts')
      .send({ broadcast: broadcastBody('机器起草') })
      .expect(403);
    assert.equal(res.body.error, 'DRAFTER_NOT_A_PERSON');
  });

  it('never lets a town official override, even where their own level needs approval', async () => {
    const official = await townOfficial(s, [town]);
    const routine = broadcastBody('村务通知', { level: 'routine' });
    await as(s.adminToken)
      .put('/api/approval-policy')
      .send({ levels: [{ level: 'routine', needsApproval: true, maxWaitMin: 15 }] })
      .expect(200);
    try {
      const plain = await as(official).post('/api/broadcasts').send(routine).expect(409);
      assert.equal(plain.body.error, 'APPROVAL_REQUIRED');
      const overridden = await as(official)
        .post('/api/broadcasts')
        .send({ ...routine, override: { reason: '乡镇自行越级发送' } })
        .expect(403);
      assert.equal(overridden.body.error, 'OUT_OF_SCOPE');
    } finally {
      await as(s.adminToken)
        .put('/api/approval-policy')
        .send({ levels: [{ level: 'routine', needsApproval: false, maxWaitMin: 15 }] })
        .expect(200);
    }
  });

  it('rejects with a reason, and lets only the drafter withdraw', async () => {
    const d = await draft(ana, '驳回');
    await as(ben).post(`/api/drafts/${d.id}/reject`).send({}).expect(400);
    const rejected = (
      await as(ben).post(`/api/drafts/${d.id}/reject`).send({ reason: '音频有误' }).expect(200)
    ).body;
    assert.equal(rejected.status, 'rejected');
    assert.equal(rejected.reason, '音频有误');
    assert.equal(rejected.decidedBy, `Test ${ben.username}`);
    const late = await as(ben).post(`/api/drafts/${d.id}/approve`).expect(409);
    assert.equal(late.body.error, 'DRAFT_NOT_PENDING');

    const w = await draft(ana, '撤回');
    const notMine = await as(ben).post(`/api/drafts/${w.id}/withdraw`).expect(403);
    assert.equal(notMine.body.error, 'NOT_THE_DRAFTER');
    assert.equal(
      (await as(ana).post(`/api/drafts/${w.id}/withdraw`).expect(200)).body.status,
      'withdrawn',
    );
  });

  it('checks a draft as the broadcast would be checked before storing it, and refuses one that needs no approval', async () => {
    const before = (await as(ana).get('/api/drafts?status=all').expect(200)).body.total;
    const bad = await as(ana)
      .post('/api/drafts')
      .send({ broadcast: broadcastBody('x', { target: { villages: ['611026999999'] } }) })
      .expect(400);
    assert.equal(bad.body.details[0].field, 'target.villages');
    const routine = await as(ana)
      .post('/api/drafts')
      .send({ broadcast: broadcastBody('x', { level: 'routine' }) })
      .expect(409);
    assert.equal(routine.body.error, 'APPROVAL_NOT_NEEDED');
    await as(ana).post('/api/drafts').send({}).expect(400);
    assert.equal((await as(ana).get('/api/drafts?status=all').expect(200)).body.total, before);
  });

  it('expires a draft nobody decided in time', async () => {
    const d = await draft(ana, '过期');
    assert.equal(Date.parse(d.expiresAt) - s.clock.now().getTime() <= 15 * MIN, true);
    // Past its expiry but before any tick: approving says why, and expires it.
    s.clock.advance(16 * MIN);
    const late = await as(ben).post(`/api/drafts/${d.id}/approve`).expect(409);
    assert.equal(late.body.error, 'DRAFT_EXPIRED');
    const d2 = await draft(ana, '过期 2');
    await s.advance(16 * MIN);
    assert.equal((await as(ben).get(`/api/drafts/${d2.id}`).expect(200)).body.status, 'expired');
    assert.equal((await as(ben).get(`/api/drafts/${d.id}`).expect(200)).body.status, 'expired');
  });

  it('finishes an approval a stop interrupted between the claim and the broadcast, once', async () => {
    const d = await draft(ana, '中断的批准');
    // As if the server died right after claiming it for ben: approving, no broadcast yet.
    const claimed = await s.server.app.get(DraftsRepository).transition(d.id, 'pending', {
      status: 'approving',
      decidedBy: `Test ${ben.username}`,
      decidedByUserId: ben.userId,
      decidedAt: s.clock.now().getTime(),
    });
    assert.equal(claimed, true);
    await agent!.stop();
    agent = undefined;
    await s.close();
    s = await startTestServer({ dataDir, adminToken: s.adminToken, approvals: true });
    const done = (await as(ben).get(`/api/drafts/${d.id}`).expect(200)).body;
    assert.equal(done.status, 'approved');
    const b = (await as(ben).get(`/api/broadcasts/${done.resultId}`).expect(200)).body;
    assert.equal(b.approval.draftId, d.id);
    assert.equal(b.approval.by, `Test ${ben.username}`);
    // A second finishing run (another server, the next tick) makes no second broadcast.
    await s.tick();
    const mine = (
      await as(ben).get('/api/broadcasts?level=I&limit=500').expect(200)
    ).body.items.filter((x: { title: string }) => x.title === '中断的批准');
    assert.equal(mine.length, 1);
    agent = await startAgentOnline(s, mqttUrl(s), device, { speed: 0 });
    listen(agent);
  });

  it('approves a level I schedule once; its firings go out without asking again', async () => {
    const schedule = {
      name: '每日演练',
      cron: '0 * * * *',
      template: {
        title: '整点 I 级',
        clipId: clip.id,
        level: 'I',
        target: { villages: [village] },
      },
    };
    const direct = await as(ana).post('/api/schedules').send(schedule).expect(409);
    assert.equal(direct.body.error, 'APPROVAL_REQUIRED');
    const d = (await as(ana).post('/api/drafts').send({ schedule }).expect(201)).body;
    assert.equal(d.kind, 'schedule.create');
    assert.deepEqual(d.reach, { villages: 1, devices: 1, online: 1 });
    const approved = (await as(ben).post(`/api/drafts/${d.id}/approve`).expect(200)).body;
    const id = approved.schedule.id as string;
    assert.equal(approved.schedule.approvedBy, `Test ${ben.username}`);
    let fired = '';
    const command = commandFor(() => fired);
    const next = Date.parse(approved.schedule.nextFireAt);
    s.clock.advance(next - s.clock.now().getTime() + 1000);
    await s.server.app.get(SchedulesService).tick();
    const firings = (await as(ben).get(`/api/schedules/${id}/firings`).expect(200)).body.items;
    assert.equal(firings[0].outcome, 'fired');
    fired = firings[0].broadcastId;
    assert.equal((await command).broadcastId, fired);
    const b = (await as(ben).get(`/api/broadcasts/${fired}`).expect(200)).body;
    assert.equal(b.approval.mode, 'approved');
    assert.equal(b.approval.by, `Test ${ben.username}`);

    const renamed = await as(ana).patch(`/api/schedules/${id}`).send({ name: '改名' }).expect(409);
    assert.equal(renamed.body.error, 'APPROVAL_REQUIRED');
    const change = (
      await as(ana)
        .post('/api/drafts')
        .send({ scheduleId: id, changes: { name: '改名' } })
        .expect(201)
    ).body;
    assert.equal(change.kind, 'schedule.update');
    const changed = (await as(ben).post(`/api/drafts/${change.id}/approve`).expect(200)).body;
    assert.equal(changed.schedule.name, '改名');
    // Stopping or deleting it sends nothing: no second person needed.
    await as(ana).patch(`/api/schedules/${id}`).send({ enabled: false }).expect(200);
    await as(ana).delete(`/api/schedules/${id}`).expect(204);
  });
});
