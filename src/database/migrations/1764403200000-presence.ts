import {
  MigrationInterface,
  QueryRunner,
  Table,
  TableColumn,
  TableForeignKey,
  TableIndex,
} from 'typeorm';

const time = (name: string, isNullable = false) => ({ name, type: 'bigint', isNullable });

/** Device presence and its history; the Mosquitto-format hash of each device secret. */
export class Presence1764403200000 implements MigrationInterface {
  name = 'Presence1764403200000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn(
      'devices',
      new TableColumn({
        name: 'mqtt_password_hash',
        type: 'varchar',
        length: '200',
        isNullable: true,
      }),
    );

    await q.createTable(
      new Table({
        name: 'device_presence',
        columns: [
          { name: 'device_id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'online', type: 'boolean' },
          { name: 'session', type: 'varchar', length: '64', isNullable: true },
          time('last_seen_at', true),
          time('online_since', true),
          { name: 'firmware', type: 'varchar', length: '64', isNullable: true },
          { name: 'codecs', type: 'varchar', length: '200', isNullable: true },
          { name: 'reported_type', type: 'varchar', length: '32', isNullable: true },
          { name: 'volume', type: 'integer', isNullable: true },
          { name: 'telemetry', type: 'text', isNullable: true },
          time('telemetry_at', true),
        ],
        foreignKeys: [
          new TableForeignKey({
            name: 'FK_device_presence_device',
            columnNames: ['device_id'],
            referencedTableName: 'devices',
            referencedColumnNames: ['id'],
            onDelete: 'CASCADE',
            onUpdate: 'NO ACTION',
          }),
        ],
      }),
    );

    await q.createTable(
      new Table({
        name: 'presence_intervals',
        columns: [
          {
            name: 'id',
            type: 'integer',
            isPrimary: true,
            isGenerated: true,
            generationStrategy: 'increment',
          },
          { name: 'device_id', type: 'varchar', length: '64' },
          time('started_at'),
          time('ended_at', true),
          { name: 'end_reason', type: 'varchar', length: '16', isNullable: true },
        ],
        indices: [
          new TableIndex({
            name: 'IDX_presence_intervals_device_started',
            columnNames: ['device_id', 'started_at'],
          }),
        ],
        foreignKeys: [
          new TableForeignKey({
            name: 'FK_presence_intervals_device',
            columnNames: ['device_id'],
            referencedTableName: 'devices',
            referencedColumnNames: ['id'],
            onDelete: 'CASCADE',
            onUpdate: 'NO ACTION',
          }),
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('presence_intervals');
    await q.dropTable('device_presence');
    await q.dropColumn('devices', 'mqtt_password_hash');
  }
}
