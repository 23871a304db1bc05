import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { redactUrl } from './redact-url.js';

describe('redactUrl', () => {
  it('keeps scheme, host, port and path, and drops userinfo, query and fragment', () => {
    assert.equal(
      redactUrl('https://me:pw@alerts.example.cn:8443/cap/feed.xml?key=s3cret&x=1#top'),
      'https://alerts.example.cn:8443/cap/feed.xml?…',
    );
    assert.equal(
      redactUrl('http://alerts.example.cn/feed.xml'),
      'http://alerts.example.cn/feed.xml',
    );
    assert.equal(redactUrl('/relative/feed.xml?key=s3cret'), '/relative/feed.xml');
  });
});
