/**
 * The Dalaba device contract: topics, messages, validation. Imported by the server (`src/`) and the
 * device agent (`devices/`); it imports nothing of either. `docs/protocol.md` is its published form.
 */
export * from './decode.js';
export * from './device.js';
export * from './messages.js';
export * from './topics.js';
export * from './failure-reasons.js';
export * from './signing.js';
