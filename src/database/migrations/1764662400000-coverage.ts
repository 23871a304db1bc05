import { MigrationInterface, QueryRunner, TableColumn, TableIndex } from 'typeorm';

/**
 * Coverage: each delivery keeps its device's type (fixed at dispatch, like its village) and when it
 * started playing; one covering index answers a broadcast's coverage from the index alone, and
 * the period reports get indexes on a broadcast's start, a delivery's play time, a targeted
 * village (its history) and an interval's end.
 */
export class Coverage1764662400000 implements MigrationInterface {
  name = 'Coverage1764662400000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumns('deliveries', [
      new TableColumn({ name: 'device_type', type: 'varchar', length: '32', isNullable: true }),
      new TableColumn({ name: 'started_at', type: 'bigint', isNullable: true }),
    ]);
    await q.createIndex(
      'deliveries',
      new TableIndex({
        name: 'IDX_deliveries_coverage',
        columnNames: [
          'broadcast_id',
          'village_code',
          'device_type',
          'state',
          'sent_at',
          'started_at',
          'played_at',
        ],
      }),
    );
    await q.createIndex(
      'deliveries',
      new TableIndex({ name: 'IDX_deliveries_played', columnNames: ['played_at', 'village_code'] }),
    );
    await q.createIndex(
      'broadcasts',
      new TableIndex({ name: 'IDX_broadcasts_start_at', columnNames: ['start_at'] }),
    );
    await q.createIndex(
      'broadcast_villages',
      new TableIndex({ name: 'IDX_broadcast_villages_village', columnNames: ['village_code'] }),
    );
    await q.createIndex(
      'presence_intervals',
      new TableIndex({ name: 'IDX_presence_intervals_ended', columnNames: ['ended_at'] }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('presence_intervals', 'IDX_presence_intervals_ended');
    await q.dropIndex('broadcast_villages', 'IDX_broadcast_villages_village');
    await q.dropIndex('broadcasts', 'IDX_broadcasts_start_at');
    await q.dropIndex('deliveries', 'IDX_deliveries_played');
    await q.dropIndex('deliveries', 'IDX_deliveries_coverage');
    await q.dropColumns('deliveries', ['started_at', 'device_type']);
  }
}
