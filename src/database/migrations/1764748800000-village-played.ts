import { MigrationInterface, QueryRunner, TableIndex } from 'typeorm';

/**
 * The period report asks, per village, "did a device here play anything between from and to?".
 * With the index on (played_at, village_code) that read every play of the period; on
 * (village_code, played_at) it is one probe per village.
 */
export class VillagePlayed1764748800000 implements MigrationInterface {
  name = 'VillagePlayed1764748800000';

  async up(q: QueryRunner): Promise<void> {
    await q.dropIndex('deliveries', 'IDX_deliveries_played');
    await q.createIndex(
      'deliveries',
      new TableIndex({
        name: 'IDX_deliveries_village_played',
        columnNames: ['village_code', 'played_at'],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('deliveries', 'IDX_deliveries_village_played');
    await q.createIndex(
      'deliveries',
      new TableIndex({ name: 'IDX_deliveries_played', columnNames: ['played_at', 'village_code'] }),
    );
  }
}
