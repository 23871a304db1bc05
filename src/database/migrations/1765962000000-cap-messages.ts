import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';

/**
 * The identifier each CAP message of a broadcast was first published under, so it never changes
 * after (a reader dedups by it, and a Cancel references it). Unique: one identifier, one message.
 */
export class CapMessages1765962000000 implements MigrationInterface {
  name = 'CapMessages1765962000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'cap_messages',
        columns: [
          { name: 'broadcast_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'kind', type: 'varchar', length: '8', isPrimary: true },
          { name: 'identifier', type: 'varchar', length: '64' },
          { name: 'created_at', type: 'bigint' },
        ],
        indices: [
          new TableIndex({
            name: 'UQ_cap_messages_identifier',
            columnNames: ['identifier'],
            isUnique: true,
          }),
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('cap_messages');
  }
}
