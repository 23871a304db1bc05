import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { decode } from './decode.js';
import { outranks } from './messages.js';
import { deviceTopic, parseDeviceTopic } from './topics.js';

const state = {
  v: 1,
  type: 'state',
  id: 's-1',
  ts: 1,
  status: 'online',
  session: 'abc',
  hello: { deviceType: 'flood_pa', firmware: 'x', codecs: ['mp3'], volume: 50 },
};

describe('decode', () => {
  it('accepts a valid message on its own topic kind', () => {
    const r = decode('state', JSON.stringify(state));
    assert.equal(r.ok, true);
    assert.equal(r.ok && r.message.status, 'online');
    assert.equal(
      decode('evt', Buffer.from(JSON.stringify({ v: 1, type: 'pong', id: 'p', ts: 2, ref: 'c' })))
        .ok,
      true,
    );
  });

  it('names why a payload is refused', () => {
    const reason = (kind: 'state' | 'evt' | 'telemetry', payload: string, max?: number) => {
      const r = decode(kind, payload, max);
      return r.ok ? 'ok' : r.reason;
    };
    assert.equal(reason('state', JSON.stringify(state), 10), 'too_large');
    assert.equal(reason('state', '{"v":1,'), 'bad_json');
    assert.equal(reason('state', '[1,2]'), 'not_object');
    assert.equal(reason('state', 'null'), 'not_object');
    assert.equal(reason('state', JSON.stringify({ ...state, v: 2 })), 'bad_version');
    assert.equal(reason('state', JSON.stringify({ ...state, type: 'hack' })), 'unknown_type');
    assert.equal(reason('state', JSON.stringify({ ...state, type: '__proto__' })), 'unknown_type');
    assert.equal(reason('evt', JSON.stringify(state)), 'wrong_topic');
    assert.equal(reason('state', JSON.stringify({ ...state, status: 'sleepy' })), 'invalid');
    assert.equal(reason('state', JSON.stringify({ ...state, extra: 1 })), 'invalid');
    assert.equal(
      reason('state', JSON.stringify({ ...state, hello: { ...state.hello, volume: 101 } })),
      'invalid',
    );
    assert.equal(reason('state', JSON.stringify({ ...state, id: 'has space' })), 'invalid');
    assert.equal(
      reason('telemetry', JSON.stringify({ v: 1, type: 'telemetry', id: 't', ts: -5 })),
      'invalid',
    );
    const bad = decode('state', JSON.stringify({ ...state, status: 'sleepy' }));
    assert.ok(!bad.ok && /status/.test(bad.detail), 'the detail names the field');
  });

  it('checks the size in bytes, not characters', () => {
    const name = '村'.repeat(20); // 60 bytes in UTF-8
    const msg = JSON.stringify({ v: 1, type: 'pong', id: 'p', ts: 1, ref: name });
    const r = decode('evt', msg, msg.length + 10);
    assert.ok(!r.ok && r.reason === 'too_large');
  });
});

describe('topics', () => {
  it('builds and parses device topics, refusing anything else', () => {
    assert.equal(deviceTopic('dalaba/v1', 'vl-1', 'cmd'), 'dalaba/v1/d/vl-1/cmd');
    assert.deepEqual(parseDeviceTopic('dalaba/v1', 'dalaba/v1/d/vl-1/evt'), {
      deviceId: 'vl-1',
      kind: 'evt',
    });
    for (const t of [
      'dalaba/v1/d/vl-1/evt/x',
      'dalaba/v2/d/vl-1/evt',
      'dalaba/v1/d/vl-1/other',
      'dalaba/v1/d/+/evt',
      'dalaba/v1/d//evt',
      'dalaba/v1/x/vl-1/evt',
    ]) {
      assert.equal(parseDeviceTopic('dalaba/v1', t), null, t);
    }
  });

  it('orders levels I > II > III > IV > routine > test', () => {
    assert.equal(outranks('I', 'routine'), true);
    assert.equal(outranks('IV', 'III'), false);
    assert.equal(outranks('routine', 'routine'), false);
    assert.equal(outranks('routine', 'test'), true);
  });
});
