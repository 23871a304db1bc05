import { MigrationInterface, QueryRunner, Table, TableForeignKey, TableIndex } from 'typeorm';

const time = (name: string) => ({ name, type: 'bigint' });

/** Clips (uploaded recordings and their delivery-format audio) and their attention-tone renditions. */
export class Clips1764489600000 implements MigrationInterface {
  name = 'Clips1764489600000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'clips',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'title', type: 'varchar', length: '200' },
          { name: 'status', type: 'varchar', length: '16' },
          { name: 'failure_reason', type: 'varchar', length: '500', isNullable: true },
          { name: 'source_sha256', type: 'varchar', length: '64' },
          { name: 'original_name', type: 'varchar', length: '255', isNullable: true },
          { name: 'original_format', type: 'varchar', length: '200', isNullable: true },
          { name: 'original_bytes', type: 'integer' },
          { name: 'sha256', type: 'varchar', length: '64', isNullable: true },
          { name: 'bytes', type: 'integer', isNullable: true },
          { name: 'duration_ms', type: 'integer', isNullable: true },
          { name: 'loudness_before_lufs', type: 'double precision', isNullable: true },
          { name: 'loudness_after_lufs', type: 'double precision', isNullable: true },
          { name: 'true_peak_after_db', type: 'double precision', isNullable: true },
          { name: 'created_by', type: 'varchar', length: '100' },
          time('created_at'),
          time('updated_at'),
        ],
        indices: [
          new TableIndex({ name: 'IDX_clips_source_sha256', columnNames: ['source_sha256'] }),
          new TableIndex({ name: 'IDX_clips_sha256', columnNames: ['sha256'] }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'clip_renditions',
        columns: [
          { name: 'clip_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'tone', type: 'varchar', length: '16', isPrimary: true },
          { name: 'sha256', type: 'varchar', length: '64' },
          { name: 'bytes', type: 'integer' },
          { name: 'duration_ms', type: 'integer' },
          time('created_at'),
        ],
        foreignKeys: [
          new TableForeignKey({
            name: 'FK_clip_renditions_clip',
            columnNames: ['clip_id'],
            referencedTableName: 'clips',
            referencedColumnNames: ['id'],
            onDelete: 'CASCADE',
            onUpdate: 'NO ACTION',
          }),
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('clip_renditions');
    await q.dropTable('clips');
  }
}
