import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';

const time = (name: string, isNullable = false) => ({ name, type: 'bigint', isNullable });
const text = (name: string, length: number | null, isNullable = true) =>
  length === null
    ? { name, type: 'text', isNullable }
    : { name, type: 'varchar', length: String(length), isNullable };

/**
 * Alerts in and reports up: every CAP / GB/T 35965 alert received and what was done with it, the
 * station's trusted senders, the CAP feeds it polls, and the packages exchanged with a superior
 * platform (with their receipts).
 */
export class Alerts1765702800000 implements MigrationInterface {
  name = 'Alerts1765702800000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'alerts',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          text('source', 16, false),
          text('source_ref', 200),
          text('dedup_key', 800),
          text('sender', 255),
          text('identifier', 255),
          text('sent', 40),
          time('sent_at', true),
          text('status', 16),
          text('msg_type', 16),
          text('language', 16),
          text('event', 255),
          text('urgency', 16),
          text('severity', 16),
          text('certainty', 16),
          text('headline', 500),
          text('level', 8),
          text('references_json', null),
          text('villages_json', null),
          text('signature', 16, false),
          text('signer', 255),
          text('outcome', 16, false),
          text('rule', 64),
          text('reason', 1000),
          text('clip_id', 36),
          text('draft_id', 36),
          text('broadcast_id', 36),
          text('replaced_broadcast_id', 36),
          text('xml_sha256', 64, false),
          text('xml', null, false),
          time('received_at'),
          time('updated_at'),
        ],
        indices: [
          new TableIndex({ name: 'UQ_alerts_dedup', columnNames: ['dedup_key'], isUnique: true }),
          new TableIndex({ name: 'IDX_alerts_received', columnNames: ['received_at'] }),
          new TableIndex({ name: 'IDX_alerts_broadcast', columnNames: ['broadcast_id'] }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'alert_senders',
        columns: [
          { name: 'sender', type: 'varchar', length: '255', isPrimary: true },
          text('name', 100, false),
          text('policy', 24, false),
          text('certificates_json', null, false),
          text('auto_severities_json', null, false),
          text('updated_by', 100, false),
          time('updated_at'),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'alert_feeds',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          text('name', 100, false),
          text('url', 2000, false),
          { name: 'interval_s', type: 'integer' },
          { name: 'enabled', type: 'boolean' },
          text('etag', 500),
          text('last_modified', 100),
          time('next_poll_at'),
          time('last_polled_at', true),
          time('last_ok_at', true),
          { name: 'failures', type: 'integer' },
          text('last_error', 500),
          text('created_by', 100, false),
          time('created_at'),
          time('updated_at'),
        ],
        indices: [new TableIndex({ name: 'IDX_alert_feeds_next', columnNames: ['next_poll_at'] })],
      }),
    );
    await q.createTable(
      new Table({
        name: 'superior_packages',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          text('ebd_id', 64, false),
          text('direction', 4, false),
          text('type', 32, false),
          text('subject', 64),
          text('status', 16, false),
          text('body', null, false),
          { name: 'attempts', type: 'integer' },
          time('next_attempt_at', true),
          text('last_error', 500),
          text('receipt', null),
          text('result_code', 16),
          time('created_at'),
          time('updated_at'),
        ],
        indices: [
          new TableIndex({
            name: 'IDX_superior_packages_due',
            columnNames: ['status', 'next_attempt_at'],
          }),
          new TableIndex({
            name: 'UQ_superior_packages_ebd',
            columnNames: ['direction', 'ebd_id'],
            isUnique: true,
          }),
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('superior_packages');
    await q.dropTable('alert_feeds');
    await q.dropTable('alert_senders');
    await q.dropTable('alerts');
  }
}
