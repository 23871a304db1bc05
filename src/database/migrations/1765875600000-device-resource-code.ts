import { MigrationInterface, QueryRunner, TableColumn, TableIndex } from 'typeorm';

/**
 * A terminal's resource code (EBRID) as the province assigns it: reports up name the terminal by
 * it, and a superior platform knows it by nothing else. At most one device per code.
 */
export class DeviceResourceCode1765875600000 implements MigrationInterface {
  name = 'DeviceResourceCode1765875600000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn(
      'devices',
      new TableColumn({ name: 'resource_code', type: 'varchar', length: '23', isNullable: true }),
    );
    await q.createIndex(
      'devices',
      new TableIndex({
        name: 'UQ_devices_resource_code',
        columnNames: ['resource_code'],
        isUnique: true,
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('devices', 'UQ_devices_resource_code');
    await q.dropColumn('devices', 'resource_code');
  }
}
