import { MigrationInterface, QueryRunner, TableColumn, TableIndex } from 'typeorm';

/**
 * Coverage: each delivery keeps its device's type (fixed at dispatch, like its village), and one
 * covering index answers a broadcast's coverage from the index alone.
 */
export class Coverage1764662400000 implements MigrationInterface {
  name = 'Coverage1764662400000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn(
      'deliveries',
      new TableColumn({ name: 'device_type', type: 'varchar', length: '32', isNullable: true }),
    );
    await q.createIndex(
      'deliveries',
      new TableIndex({
        name: 'IDX_deliveries_coverage',
        columnNames: ['broadcast_id', 'village_code', 'state', 'device_type', 'played_at'],
      }),
    );
    await q.createIndex(
      'broadcasts',
      new TableIndex({ name: 'IDX_broadcasts_start_at', columnNames: ['start_at'] }),
    );
    await q.createIndex(
      'deliveries',
      new TableIndex({
        name: 'IDX_deliveries_village_played',
        columnNames: ['village_code', 'played_at'],
      }),
    );
    await q.createIndex(
      'presence_intervals',
      new TableIndex({ name: 'IDX_presence_intervals_ended', columnNames: ['ended_at'] }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('presence_intervals', 'IDX_presence_intervals_ended');
    await q.dropIndex('deliveries', 'IDX_deliveries_village_played');
    await q.dropIndex('broadcasts', 'IDX_broadcasts_start_at');
    await q.dropIndex('deliveries', 'IDX_deliveries_coverage');
    await q.dropColumn('deliveries', 'device_type');
  }
}
