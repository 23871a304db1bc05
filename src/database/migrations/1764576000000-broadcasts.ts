import { MigrationInterface, QueryRunner, Table, TableForeignKey, TableIndex } from 'typeorm';

const time = (name: string, isNullable = false) => ({ name, type: 'bigint', isNullable });
const str = (name: string, length: number, isNullable = false) => ({
  name,
  type: 'varchar',
  length: String(length),
  isNullable,
});
const fk = (
  name: string,
  column: string,
  table: string,
  refColumn: string,
  onDelete: 'CASCADE' | 'RESTRICT',
) =>
  new TableForeignKey({
    name,
    columnNames: [column],
    referencedTableName: table,
    referencedColumnNames: [refColumn],
    onDelete,
    onUpdate: 'NO ACTION',
  });

/** Broadcasts, their deliveries and event log, manual confirmations, schedules and firings, the audit log. */
export class Broadcasts1764576000000 implements MigrationInterface {
  name = 'Broadcasts1764576000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'broadcasts',
        columns: [
          { ...str('id', 36), isPrimary: true },
          str('title', 200),
          str('clip_id', 36),
          str('level', 8),
          { name: 'target', type: 'text' },
          time('start_at'),
          time('expires_at'),
          { name: 'repeat', type: 'integer' },
          { name: 'volume', type: 'integer', isNullable: true },
          { name: 'attention_tone', type: 'boolean' },
          str('status', 16),
          str('audio_sha256', 64, true),
          { name: 'audio_bytes', type: 'integer', isNullable: true },
          { name: 'audio_duration_ms', type: 'integer', isNullable: true },
          str('schedule_id', 36, true),
          time('fire_at', true),
          str('created_by', 100),
          str('end_reason', 200, true),
          time('created_at'),
          time('updated_at'),
          time('dispatched_at', true),
          time('ended_at', true),
        ],
        indices: [
          new TableIndex({ name: 'IDX_broadcasts_status', columnNames: ['status'] }),
          new TableIndex({
            name: 'UQ_broadcasts_schedule_fire',
            columnNames: ['schedule_id', 'fire_at'],
            isUnique: true,
          }),
        ],
        foreignKeys: [fk('FK_broadcasts_clip', 'clip_id', 'clips', 'id', 'RESTRICT')],
      }),
    );
    await q.createTable(
      new Table({
        name: 'broadcast_villages',
        columns: [
          { ...str('broadcast_id', 36), isPrimary: true },
          { ...str('village_code', 12), isPrimary: true },
        ],
        foreignKeys: [
          fk('FK_broadcast_villages_broadcast', 'broadcast_id', 'broadcasts', 'id', 'CASCADE'),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'deliveries',
        columns: [
          { ...str('id', 36), isPrimary: true },
          str('broadcast_id', 36),
          str('device_id', 64),
          str('village_code', 12),
          str('state', 16),
          str('reason', 200, true),
          { name: 'attempts', type: 'integer' },
          time('next_send_at', true),
          time('sent_at', true),
          time('received_at', true),
          time('played_at', true),
          time('updated_at'),
        ],
        indices: [
          new TableIndex({
            name: 'IDX_deliveries_broadcast_state',
            columnNames: ['broadcast_id', 'state'],
          }),
          new TableIndex({
            name: 'IDX_deliveries_device_state',
            columnNames: ['device_id', 'state'],
          }),
          new TableIndex({
            name: 'IDX_deliveries_state_next_send',
            columnNames: ['state', 'next_send_at'],
          }),
        ],
        foreignKeys: [
          fk('FK_deliveries_broadcast', 'broadcast_id', 'broadcasts', 'id', 'CASCADE'),
          fk('FK_deliveries_device', 'device_id', 'devices', 'id', 'RESTRICT'),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'delivery_events',
        columns: [
          {
            name: 'id',
            type: 'integer',
            isPrimary: true,
            isGenerated: true,
            generationStrategy: 'increment',
          },
          str('delivery_id', 36),
          str('from_state', 16),
          str('to_state', 16),
          str('source', 8),
          time('device_ts', true),
          time('server_ts'),
          str('reason', 200, true),
        ],
        indices: [
          new TableIndex({ name: 'IDX_delivery_events_delivery', columnNames: ['delivery_id'] }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'manual_confirmations',
        columns: [
          { ...str('id', 36), isPrimary: true },
          str('broadcast_id', 36),
          str('village_code', 12),
          str('device_id', 64, true),
          time('confirmed_at'),
          str('confirmed_by', 100),
          str('note', 500, true),
          time('created_at'),
        ],
        indices: [
          new TableIndex({
            name: 'IDX_manual_confirmations_broadcast',
            columnNames: ['broadcast_id'],
          }),
        ],
        foreignKeys: [
          fk('FK_manual_confirmations_broadcast', 'broadcast_id', 'broadcasts', 'id', 'CASCADE'),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'schedules',
        columns: [
          { ...str('id', 36), isPrimary: true },
          str('name', 200),
          str('cron', 100),
          str('time_zone', 64),
          { name: 'enabled', type: 'boolean' },
          { name: 'template', type: 'text' },
          time('last_fire_at', true),
          str('created_by', 100),
          time('created_at'),
          time('updated_at'),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'schedule_firings',
        columns: [
          { ...str('schedule_id', 36), isPrimary: true },
          { ...time('fire_at'), isPrimary: true },
          str('outcome', 16),
          str('broadcast_id', 36, true),
          str('reason', 300, true),
          time('created_at'),
        ],
        foreignKeys: [
          fk('FK_schedule_firings_schedule', 'schedule_id', 'schedules', 'id', 'CASCADE'),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'audit_log',
        columns: [
          {
            name: 'id',
            type: 'integer',
            isPrimary: true,
            isGenerated: true,
            generationStrategy: 'increment',
          },
          time('at'),
          str('actor', 100),
          str('actor_role', 16, true),
          str('action', 120),
          str('subject', 120, true),
          { name: 'status', type: 'integer', isNullable: true },
          { name: 'detail', type: 'text', isNullable: true },
          str('request_id', 64, true),
        ],
        indices: [new TableIndex({ name: 'IDX_audit_log_at', columnNames: ['at'] })],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of [
      'audit_log',
      'schedule_firings',
      'schedules',
      'manual_confirmations',
      'delivery_events',
      'deliveries',
      'broadcast_villages',
      'broadcasts',
    ]) {
      await q.dropTable(t);
    }
  }
}
