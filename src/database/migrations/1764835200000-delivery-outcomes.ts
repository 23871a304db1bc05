import { MigrationInterface, QueryRunner, TableColumn, TableIndex } from 'typeorm';

const COVERAGE_COLUMNS = [
  'broadcast_id',
  'village_code',
  'device_type',
  'state',
  'sent_at',
  'started_at',
  'played_at',
];

/**
 * What a delivery and a broadcast came to, in words that are what happened: a delivery counts its
 * resumptions after `preempted` and the sends of its current command (its resend back-off), and keeps the end of the quiet hours that held it (in the covering
 * index, so coverage can say `quiet_hours` without reading rows, and with its broadcast in an index
 * of its own, so the period report finds the few held past expiry); an event keeps the protocol
 * anomaly it showed; a broadcast keeps its outcome and its time-to-first-sound and time-to-played
 * milestones. Broadcasts that ended before this get their outcome from their deliveries and
 * manual confirmations; their milestones stay unknown.
 */
export class DeliveryOutcomes1764835200000 implements MigrationInterface {
  name = 'DeliveryOutcomes1764835200000';

  async up(q: QueryRunner): Promise<void> {
    // Raw SQL names its tables with the configured schema (DATABASE_SCHEMA on PostgreSQL).
    const schema = (q.connection.options as { schema?: string }).schema;
    const t = (name: string) => (schema ? `"${schema}"."${name}"` : `"${name}"`);
    await q.addColumns('deliveries', [
      new TableColumn({ name: 'resumes', type: 'integer', default: 0 }),
      // A delivery made before this had one command: all its sends were of it (set below).
      new TableColumn({ name: 'command_sends', type: 'integer', default: 0 }),
      new TableColumn({ name: 'held_until', type: 'bigint', isNullable: true }),
    ]);
    await q.addColumn(
      'delivery_events',
      new TableColumn({ name: 'anomaly', type: 'varchar', length: '100', isNullable: true }),
    );
    await q.addColumns('broadcasts', [
      new TableColumn({ name: 'outcome', type: 'varchar', length: '24', isNullable: true }),
      ...['first_sound', 'played'].flatMap((what) =>
        ['p50', 'p90', 'p100'].map(
          (p) => new TableColumn({ name: `${what}_${p}_ms`, type: 'bigint', isNullable: true }),
        ),
      ),
    ]);
    await q.query(`UPDATE ${t('deliveries')} SET command_sends = attempts`);
    await q.dropIndex('deliveries', 'IDX_deliveries_coverage');
    await q.createIndex(
      'deliveries',
      new TableIndex({
        name: 'IDX_deliveries_coverage',
        columnNames: [...COVERAGE_COLUMNS, 'held_until'],
      }),
    );
    await q.createIndex(
      'deliveries',
      new TableIndex({
        name: 'IDX_deliveries_held',
        columnNames: ['broadcast_id', 'held_until', 'village_code'],
      }),
    );
    const heard = `(EXISTS (SELECT 1 FROM ${t('deliveries')} d
        WHERE d.broadcast_id = b.id AND d.village_code = bv.village_code AND d.state = 'played')
      OR EXISTS (SELECT 1 FROM ${t('manual_confirmations')} c
        WHERE c.broadcast_id = b.id AND c.village_code = bv.village_code))`;
    const villages = `SELECT 1 FROM ${t('broadcast_villages')} bv WHERE bv.broadcast_id = b.id`;
    await q.query(
      `UPDATE ${t('broadcasts')} AS b SET outcome = CASE
         WHEN b.status IN ('cancelled', 'expired') THEN b.status
         WHEN NOT EXISTS (${villages} AND ${heard}) THEN 'failed'
         WHEN EXISTS (${villages} AND NOT ${heard}) THEN 'partially_completed'
         ELSE 'completed' END
       WHERE b.status IN ('completed', 'cancelled', 'expired')`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('deliveries', 'IDX_deliveries_held');
    await q.dropIndex('deliveries', 'IDX_deliveries_coverage');
    await q.createIndex(
      'deliveries',
      new TableIndex({ name: 'IDX_deliveries_coverage', columnNames: COVERAGE_COLUMNS }),
    );
    await q.dropColumns('broadcasts', [
      'outcome',
      ...['first_sound', 'played'].flatMap((what) =>
        ['p50', 'p90', 'p100'].map((p) => `${what}_${p}_ms`),
      ),
    ]);
    await q.dropColumn('delivery_events', 'anomaly');
    await q.dropColumns('deliveries', ['held_until', 'resumes', 'command_sends']);
  }
}
