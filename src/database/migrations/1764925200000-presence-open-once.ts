import { MigrationInterface, QueryRunner, TableIndex } from 'typeorm';

/**
 * At most one open presence interval per device. Every server hears every device's presence
 * (several servers on one broker) and writes the same interval: the index lets the second insert
 * do nothing instead of counting the device online twice. Duplicates already stored are closed
 * where the next one starts.
 */
export class PresenceOpenOnce1764925200000 implements MigrationInterface {
  name = 'PresenceOpenOnce1764925200000';

  async up(q: QueryRunner): Promise<void> {
    // Raw SQL names its table with the configured schema (DATABASE_SCHEMA on PostgreSQL).
    const schema = (q.connection.options as { schema?: string }).schema;
    const table = schema ? `"${schema}"."presence_intervals"` : '"presence_intervals"';
    await q.query(
      `UPDATE ${table} SET ended_at = started_at, end_reason = 'duplicate'
       WHERE ended_at IS NULL AND EXISTS (
         SELECT 1 FROM ${table} o
         WHERE o.device_id = ${table}.device_id AND o.ended_at IS NULL AND o.id < ${table}.id)`,
    );
    await q.createIndex(
      'presence_intervals',
      new TableIndex({
        name: 'UQ_presence_intervals_open',
        columnNames: ['device_id'],
        isUnique: true,
        where: 'ended_at IS NULL',
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('presence_intervals', 'UQ_presence_intervals_open');
  }
}
