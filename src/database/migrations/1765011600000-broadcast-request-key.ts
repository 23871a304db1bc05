import { MigrationInterface, QueryRunner, TableColumn, TableIndex } from 'typeorm';

/**
 * A broadcast keeps the Idempotency-Key it was created with (hashed with who sent it), so a
 * client that got no answer (the server died mid-request) can send again without a second alert.
 */
export class BroadcastRequestKey1765011600000 implements MigrationInterface {
  name = 'BroadcastRequestKey1765011600000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn(
      'broadcasts',
      new TableColumn({ name: 'request_key', type: 'varchar', length: '64', isNullable: true }),
    );
    await q.createIndex(
      'broadcasts',
      new TableIndex({
        name: 'UQ_broadcasts_request_key',
        columnNames: ['request_key'],
        isUnique: true,
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('broadcasts', 'UQ_broadcasts_request_key');
    await q.dropColumn('broadcasts', 'request_key');
  }
}
