import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/**
 * Protocol 1.1: a device's own public key, pinned from its first hello that carries one, and the
 * proof (the canonical text it signed and its signature) stored with each delivery event it signed,
 * so a coverage certificate can show which villages the devices themselves confirmed.
 */
export class DeviceKeys1765530000000 implements MigrationInterface {
  name = 'DeviceKeys1765530000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumns('devices', [
      new TableColumn({ name: 'device_key_alg', type: 'varchar', length: '16', isNullable: true }),
      new TableColumn({
        name: 'device_public_key',
        type: 'varchar',
        length: '100',
        isNullable: true,
      }),
      new TableColumn({ name: 'device_key_at', type: 'bigint', isNullable: true }),
    ]);
    await q.addColumn(
      'delivery_events',
      new TableColumn({ name: 'device_proof', type: 'text', isNullable: true }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('delivery_events', 'device_proof');
    await q.dropColumn('devices', 'device_key_at');
    await q.dropColumn('devices', 'device_public_key');
    await q.dropColumn('devices', 'device_key_alg');
  }
}
