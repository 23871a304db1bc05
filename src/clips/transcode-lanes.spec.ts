import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { Lane, LaneRun, planLanes, RunState, TranscodeTicket } from './transcode-lanes.js';

let orders = 0;
const run = (ticket: TranscodeTicket, state: RunState = 'waiting'): LaneRun & { name: string } => ({
  ticket,
  order: orders++,
  state,
  name: ticket.label,
});
const job = (lane: Lane, label: string) => new TranscodeTicket(lane, label);
const names = (runs: { name: string }[]) => runs.map((r) => r.name);

describe('planLanes', () => {
  it('suspends a background run the moment urgent work arrives and no slot is free', () => {
    const long = run(job('background', 'long'), 'running');
    const alert = run(job('urgent', 'alert'));
    const plan = planLanes([long, alert], 1, true);
    assert.deepEqual(names(plan.suspend), ['long']);
    assert.deepEqual(names(plan.start), ['alert']);
    assert.deepEqual(plan.resume, []);
  });

  it('resumes the suspended run before starting newer work of its lane', () => {
    const long = run(job('background', 'long'), 'suspended');
    const later = run(job('background', 'later'));
    const plan = planLanes([later, long], 1, true);
    assert.deepEqual(names(plan.resume), ['long']);
    assert.deepEqual(plan.start, []);
  });

  it('orders the lanes urgent, routine, background, and jobs by arrival within a lane', () => {
    const first = job('routine', 'first');
    const second = job('routine', 'second');
    const runs = [
      run(job('background', 'bg')),
      run(second),
      run(first),
      run(job('urgent', 'urgent')),
    ];
    assert.deepEqual(names(planLanes(runs, 4, true).start), ['urgent', 'first', 'second', 'bg']);
    assert.deepEqual(names(planLanes(runs, 2, true).start), ['urgent', 'first']);
  });

  it('never suspends a run for another of its own lane', () => {
    const later = job('routine', 'later');
    const earlier = job('routine', 'earlier');
    // `later` took the free slot while `earlier` was between two of its runs.
    const plan = planLanes([run(later, 'running'), run(earlier)], 1, true);
    assert.deepEqual(plan.suspend, []);
    assert.deepEqual(plan.start, []);
  });

  it('lets a raised job overtake the lane it was in', () => {
    const rendition = job('background', 'rendition');
    const long = run(job('background', 'long'), 'running');
    const waiting = run(rendition);
    assert.deepEqual(planLanes([long, waiting], 1, true).start, []);
    assert.equal(rendition.raise('urgent'), true);
    assert.equal(rendition.raise('routine'), false, 'never lowered');
    const plan = planLanes([long, waiting], 1, true);
    assert.deepEqual(names(plan.start), ['rendition']);
    assert.deepEqual(names(plan.suspend), ['long']);
  });

  it('without suspension, keeps running runs and gives only free slots by lane', () => {
    const long = run(job('background', 'long'), 'running');
    const routine = run(job('routine', 'routine'));
    const alert = run(job('urgent', 'alert'));
    assert.deepEqual(planLanes([long, routine, alert], 1, false), {
      start: [],
      resume: [],
      suspend: [],
    });
    assert.deepEqual(names(planLanes([long, routine, alert], 2, false).start), ['alert']);
  });
});
