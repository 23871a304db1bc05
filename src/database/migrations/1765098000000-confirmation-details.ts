import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/**
 * A manual confirmation says how the village heard it (loudspeaker by hand, speaker cart, door to
 * door, phone) and which token recorded it, and can be withdrawn by an admin (kept, with who and
 * why, so the record stays whole); a cancelled broadcast keeps who cancelled it. Confirmations
 * made before this have no method (null) and were recorded by their `confirmed_by`.
 */
export class ConfirmationDetails1765098000000 implements MigrationInterface {
  name = 'ConfirmationDetails1765098000000';

  async up(q: QueryRunner): Promise<void> {
    const schema = (q.connection.options as { schema?: string }).schema;
    const t = (name: string) => (schema ? `"${schema}"."${name}"` : `"${name}"`);
    await q.addColumns('manual_confirmations', [
      new TableColumn({ name: 'method', type: 'varchar', length: '24', isNullable: true }),
      new TableColumn({ name: 'recorded_by', type: 'varchar', length: '100', isNullable: true }),
      new TableColumn({ name: 'withdrawn_at', type: 'bigint', isNullable: true }),
      new TableColumn({ name: 'withdrawn_by', type: 'varchar', length: '100', isNullable: true }),
      new TableColumn({
        name: 'withdraw_reason',
        type: 'varchar',
        length: '200',
        isNullable: true,
      }),
    ]);
    await q.query(`UPDATE ${t('manual_confirmations')} SET recorded_by = confirmed_by`);
    await q.addColumn(
      'broadcasts',
      new TableColumn({ name: 'cancelled_by', type: 'varchar', length: '100', isNullable: true }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('broadcasts', 'cancelled_by');
    for (const c of ['withdraw_reason', 'withdrawn_by', 'withdrawn_at', 'recorded_by', 'method'])
      await q.dropColumn('manual_confirmations', c);
  }
}
