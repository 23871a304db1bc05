import { MigrationInterface, QueryRunner, Table, TableColumn, TableIndex } from 'typeorm';

const time = (name: string, isNullable = false) => ({ name, type: 'bigint', isNullable });

/**
 * Signed commands (issue 17): the server's signing keys, shared by every server on the database so
 * each signs with the same key; the per-device command sequence, in the database so it survives
 * restarts and several servers never hand out one number twice; and which signature algorithms
 * each device says it verifies (its hello), so the board can tell who checks signatures.
 */
export class CommandSigning1765270800000 implements MigrationInterface {
  name = 'CommandSigning1765270800000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'server_keys',
        columns: [
          { name: 'kid', type: 'varchar', length: '64', isPrimary: true },
          { name: 'alg', type: 'varchar', length: '16' },
          { name: 'public_key', type: 'varchar', length: '100' },
          { name: 'private_key', type: 'varchar', length: '100' },
          { name: 'status', type: 'varchar', length: '16' },
          time('created_at'),
          time('retire_at', true),
          time('revoked_at', true),
          { name: 'endorsed_by', type: 'varchar', length: '64', isNullable: true },
          { name: 'endorsement', type: 'varchar', length: '100', isNullable: true },
        ],
        indices: [
          // One active key at a time: two servers creating the first key at once cannot both win.
          new TableIndex({
            name: 'UQ_server_keys_active',
            columnNames: ['status'],
            isUnique: true,
            where: "status = 'active'",
          }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'command_sequences',
        columns: [
          { name: 'device_id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'last_seq', type: 'bigint' },
        ],
      }),
    );
    await q.addColumn(
      'device_presence',
      new TableColumn({ name: 'verifies', type: 'varchar', length: '32', isNullable: true }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('device_presence', 'verifies');
    await q.dropTable('command_sequences');
    await q.dropTable('server_keys');
  }
}
