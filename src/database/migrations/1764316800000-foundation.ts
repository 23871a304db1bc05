import { MigrationInterface, QueryRunner, Table, TableForeignKey, TableIndex } from 'typeorm';

const time = (name: string, isNullable = false) => ({ name, type: 'bigint', isNullable });

/** Towns, villages, devices, API tokens and installation facts. Portable: SQLite and PostgreSQL. */
export class Foundation1764316800000 implements MigrationInterface {
  name = 'Foundation1764316800000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'app_meta',
        columns: [
          { name: 'key', type: 'varchar', length: '64', isPrimary: true },
          { name: 'value', type: 'text' },
        ],
      }),
    );

    await q.createTable(
      new Table({
        name: 'towns',
        columns: [
          { name: 'code', type: 'varchar', length: '9', isPrimary: true },
          { name: 'name', type: 'varchar', length: '100' },
          time('created_at'),
          time('updated_at'),
        ],
      }),
    );

    await q.createTable(
      new Table({
        name: 'villages',
        columns: [
          { name: 'code', type: 'varchar', length: '12', isPrimary: true },
          { name: 'name', type: 'varchar', length: '100' },
          { name: 'town_code', type: 'varchar', length: '9' },
          { name: 'lat', type: 'double precision', isNullable: true },
          { name: 'lon', type: 'double precision', isNullable: true },
          { name: 'quiet_hours', type: 'varchar', length: '11', isNullable: true },
          time('created_at'),
          time('updated_at'),
        ],
        indices: [new TableIndex({ name: 'IDX_villages_town_code', columnNames: ['town_code'] })],
        foreignKeys: [
          new TableForeignKey({
            name: 'FK_villages_town',
            columnNames: ['town_code'],
            referencedTableName: 'towns',
            referencedColumnNames: ['code'],
            onDelete: 'RESTRICT',
            onUpdate: 'NO ACTION',
          }),
        ],
      }),
    );

    await q.createTable(
      new Table({
        name: 'devices',
        columns: [
          { name: 'id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'village_code', type: 'varchar', length: '12' },
          { name: 'type', type: 'varchar', length: '32' },
          { name: 'enabled', type: 'boolean' },
          { name: 'label', type: 'varchar', length: '200', isNullable: true },
          { name: 'notes', type: 'varchar', length: '2000', isNullable: true },
          { name: 'secret_hash', type: 'varchar', length: '200' },
          time('secret_rotated_at'),
          time('created_at'),
          time('updated_at'),
        ],
        indices: [
          new TableIndex({ name: 'IDX_devices_village_code', columnNames: ['village_code'] }),
          new TableIndex({ name: 'IDX_devices_type', columnNames: ['type'] }),
        ],
        foreignKeys: [
          new TableForeignKey({
            name: 'FK_devices_village',
            columnNames: ['village_code'],
            referencedTableName: 'villages',
            referencedColumnNames: ['code'],
            onDelete: 'RESTRICT',
            onUpdate: 'NO ACTION',
          }),
        ],
      }),
    );

    await q.createTable(
      new Table({
        name: 'api_tokens',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'name', type: 'varchar', length: '100' },
          { name: 'role', type: 'varchar', length: '16' },
          { name: 'token_hash', type: 'varchar', length: '64' },
          { name: 'token_prefix', type: 'varchar', length: '16' },
          { name: 'created_by', type: 'varchar', length: '100' },
          time('created_at'),
          time('last_used_at', true),
          time('revoked_at', true),
        ],
        indices: [
          new TableIndex({
            name: 'UQ_api_tokens_token_hash',
            columnNames: ['token_hash'],
            isUnique: true,
          }),
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['api_tokens', 'devices', 'villages', 'towns', 'app_meta']) {
      await q.dropTable(table);
    }
  }
}
