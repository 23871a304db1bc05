import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';

/** Security events of devices: commands they refused (`rejected`), keys and signatures refused. */
export class SecurityEvents1765357200000 implements MigrationInterface {
  name = 'SecurityEvents1765357200000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'security_events',
        columns: [
          {
            name: 'id',
            type: 'integer',
            isPrimary: true,
            isGenerated: true,
            generationStrategy: 'increment',
          },
          { name: 'device_id', type: 'varchar', length: '64' },
          { name: 'at', type: 'bigint' },
          { name: 'kind', type: 'varchar', length: '32' },
          { name: 'reason', type: 'varchar', length: '32' },
          { name: 'detail', type: 'varchar', length: '200', isNullable: true },
          { name: 'command_id', type: 'varchar', length: '64', isNullable: true },
          { name: 'seq', type: 'bigint', isNullable: true },
          { name: 'kid', type: 'varchar', length: '64', isNullable: true },
        ],
        indices: [
          new TableIndex({
            name: 'IDX_security_events_device_at',
            columnNames: ['device_id', 'at'],
          }),
          new TableIndex({ name: 'IDX_security_events_at', columnNames: ['at'] }),
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('security_events');
  }
}
