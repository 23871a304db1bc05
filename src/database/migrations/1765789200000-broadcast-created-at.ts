import { MigrationInterface, QueryRunner, TableIndex } from 'typeorm';

/**
 * Broadcasts by creation time: the list reads them newest first, and a superior platform names
 * one of them by the instant it was made (its EBMID).
 */
export class BroadcastCreatedAt1765789200000 implements MigrationInterface {
  name = 'BroadcastCreatedAt1765789200000';

  async up(q: QueryRunner): Promise<void> {
    await q.createIndex(
      'broadcasts',
      new TableIndex({ name: 'IDX_broadcasts_created_at', columnNames: ['created_at'] }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('broadcasts', 'IDX_broadcasts_created_at');
  }
}
