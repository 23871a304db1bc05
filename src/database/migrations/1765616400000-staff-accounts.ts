import { MigrationInterface, QueryRunner, Table, TableColumn, TableIndex } from 'typeorm';

const LEVELS = ['I', 'II', 'III', 'IV', 'routine', 'test'];
/** How long a draft of these levels waits for its second person by default (15 min). */
const DEFAULT_MAX_WAIT_S = 900;

/**
 * People, not tokens: staff accounts with their towns, browser sessions, who owns each API token,
 * the person in each audit entry; and two-person approval: the per-level rule (I and II need a
 * second person), drafts waiting for one, and who approved or overrode each broadcast and schedule.
 */
export class StaffAccounts1765616400000 implements MigrationInterface {
  name = 'StaffAccounts1765616400000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'users',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'username', type: 'varchar', length: '64' },
          { name: 'display_name', type: 'varchar', length: '100' },
          { name: 'phone', type: 'varchar', length: '32', isNullable: true },
          { name: 'role', type: 'varchar', length: '16' },
          { name: 'password_hash', type: 'varchar', length: '200' },
          { name: 'must_change_password', type: 'boolean' },
          { name: 'failed_logins', type: 'integer' },
          { name: 'locked_until', type: 'bigint', isNullable: true },
          { name: 'password_changed_at', type: 'bigint' },
          { name: 'last_login_at', type: 'bigint', isNullable: true },
          { name: 'disabled_at', type: 'bigint', isNullable: true },
          { name: 'created_by', type: 'varchar', length: '100' },
          { name: 'created_at', type: 'bigint' },
          { name: 'updated_at', type: 'bigint' },
        ],
        indices: [
          new TableIndex({ name: 'UQ_users_username', columnNames: ['username'], isUnique: true }),
          new TableIndex({ name: 'IDX_users_phone', columnNames: ['phone'] }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'user_towns',
        columns: [
          { name: 'user_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'town_code', type: 'varchar', length: '9', isPrimary: true },
        ],
        foreignKeys: [
          {
            name: 'FK_user_towns_user',
            columnNames: ['user_id'],
            referencedTableName: 'users',
            referencedColumnNames: ['id'],
            onDelete: 'CASCADE',
            onUpdate: 'NO ACTION',
          },
        ],
        indices: [new TableIndex({ name: 'IDX_user_towns_town', columnNames: ['town_code'] })],
      }),
    );
    await q.createTable(
      new Table({
        name: 'sessions',
        columns: [
          { name: 'id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'user_id', type: 'varchar', length: '36' },
          { name: 'csrf_token', type: 'varchar', length: '64' },
          { name: 'created_at', type: 'bigint' },
          { name: 'last_seen_at', type: 'bigint' },
          { name: 'expires_at', type: 'bigint' },
          { name: 'revoked_at', type: 'bigint', isNullable: true },
          { name: 'address', type: 'varchar', length: '64', isNullable: true },
          { name: 'user_agent', type: 'varchar', length: '200', isNullable: true },
        ],
        foreignKeys: [
          {
            name: 'FK_sessions_user',
            columnNames: ['user_id'],
            referencedTableName: 'users',
            referencedColumnNames: ['id'],
            onDelete: 'CASCADE',
            onUpdate: 'NO ACTION',
          },
        ],
        indices: [new TableIndex({ name: 'IDX_sessions_user', columnNames: ['user_id'] })],
      }),
    );
    await q.addColumn(
      'api_tokens',
      new TableColumn({ name: 'owner_user_id', type: 'varchar', length: '36', isNullable: true }),
    );
    await q.addColumns('audit_log', [
      new TableColumn({ name: 'actor_user_id', type: 'varchar', length: '36', isNullable: true }),
      new TableColumn({ name: 'via_token', type: 'varchar', length: '100', isNullable: true }),
    ]);

    await q.createTable(
      new Table({
        name: 'approval_rules',
        columns: [
          { name: 'level', type: 'varchar', length: '8', isPrimary: true },
          { name: 'needs_approval', type: 'boolean' },
          { name: 'max_wait_s', type: 'integer' },
          { name: 'updated_by', type: 'varchar', length: '100', isNullable: true },
          { name: 'updated_at', type: 'bigint', isNullable: true },
        ],
      }),
    );
    // Constants only, so literals are safe; TRUE/FALSE read the same on SQLite and PostgreSQL.
    const rows = LEVELS.map(
      (level) =>
        `('${level}', ${level === 'I' || level === 'II' ? 'TRUE' : 'FALSE'}, ${DEFAULT_MAX_WAIT_S})`,
    );
    const schema = (q.connection.options as { schema?: string }).schema;
    const table = schema ? `"${schema}"."approval_rules"` : '"approval_rules"';
    await q.query(
      `INSERT INTO ${table} (level, needs_approval, max_wait_s) VALUES ${rows.join(', ')}`,
    );
    await q.createTable(
      new Table({
        name: 'drafts',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'kind', type: 'varchar', length: '16' },
          { name: 'status', type: 'varchar', length: '16' },
          { name: 'level', type: 'varchar', length: '8' },
          { name: 'title', type: 'varchar', length: '200' },
          { name: 'payload', type: 'text' },
          { name: 'schedule_id', type: 'varchar', length: '36', isNullable: true },
          { name: 'drafted_by', type: 'varchar', length: '100' },
          { name: 'drafted_by_user_id', type: 'varchar', length: '36', isNullable: true },
          { name: 'drafted_by_phone', type: 'varchar', length: '32', isNullable: true },
          { name: 'created_at', type: 'bigint' },
          { name: 'expires_at', type: 'bigint' },
          { name: 'decided_by', type: 'varchar', length: '100', isNullable: true },
          { name: 'decided_by_user_id', type: 'varchar', length: '36', isNullable: true },
          { name: 'decided_at', type: 'bigint', isNullable: true },
          { name: 'reason', type: 'varchar', length: '500', isNullable: true },
          { name: 'result_id', type: 'varchar', length: '36', isNullable: true },
        ],
        indices: [
          new TableIndex({
            name: 'IDX_drafts_status_expires',
            columnNames: ['status', 'expires_at'],
          }),
        ],
      }),
    );
    await q.addColumns('broadcasts', [
      new TableColumn({ name: 'approved_by', type: 'varchar', length: '100', isNullable: true }),
      new TableColumn({ name: 'approved_at', type: 'bigint', isNullable: true }),
      new TableColumn({ name: 'draft_id', type: 'varchar', length: '36', isNullable: true }),
      new TableColumn({
        name: 'override_reason',
        type: 'varchar',
        length: '500',
        isNullable: true,
      }),
    ]);
    await q.addColumns('schedules', [
      new TableColumn({ name: 'approved_by', type: 'varchar', length: '100', isNullable: true }),
      new TableColumn({ name: 'approved_at', type: 'bigint', isNullable: true }),
    ]);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('schedules', 'approved_at');
    await q.dropColumn('schedules', 'approved_by');
    for (const c of ['override_reason', 'draft_id', 'approved_at', 'approved_by'])
      await q.dropColumn('broadcasts', c);
    await q.dropTable('drafts');
    await q.dropTable('approval_rules');
    await q.dropColumn('audit_log', 'via_token');
    await q.dropColumn('audit_log', 'actor_user_id');
    await q.dropColumn('api_tokens', 'owner_user_id');
    await q.dropTable('sessions');
    await q.dropTable('user_towns');
    await q.dropTable('users');
  }
}
