import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';

/** The evidence hash chain (docs/evidence.md). */
export class EvidenceChain1765443600000 implements MigrationInterface {
  name = 'EvidenceChain1765443600000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'evidence_entries',
        columns: [
          { name: 'seq', type: 'bigint', isPrimary: true },
          { name: 'at', type: 'bigint' },
          { name: 'kind', type: 'varchar', length: '24' },
          { name: 'broadcast_id', type: 'varchar', length: '36' },
          { name: 'subject', type: 'varchar', length: '64' },
          { name: 'body', type: 'text' },
          { name: 'prev_hash', type: 'varchar', length: '64' },
          { name: 'hash', type: 'varchar', length: '64' },
        ],
        indices: [
          new TableIndex({
            name: 'IDX_evidence_entries_broadcast',
            columnNames: ['broadcast_id', 'seq'],
          }),
          new TableIndex({ name: 'IDX_evidence_entries_at', columnNames: ['at'] }),
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('evidence_entries');
  }
}
