import { MigrationInterface, QueryRunner, TableColumn, TableIndex } from 'typeorm';

/**
 * A broadcast resent to the villages another one did not cover names that one, so staff can follow
 * an alert through its resends and the board can tell a resend from a new alert.
 */
export class BroadcastResendOf1765184400000 implements MigrationInterface {
  name = 'BroadcastResendOf1765184400000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn(
      'broadcasts',
      new TableColumn({ name: 'resend_of', type: 'varchar', length: '36', isNullable: true }),
    );
    await q.createIndex(
      'broadcasts',
      new TableIndex({ name: 'IDX_broadcasts_resend_of', columnNames: ['resend_of'] }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('broadcasts', 'IDX_broadcasts_resend_of');
    await q.dropColumn('broadcasts', 'resend_of');
  }
}
