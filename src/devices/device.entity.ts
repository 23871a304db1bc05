import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import type { DeviceType } from '../contract/device.js';
import type { SignatureAlgorithm } from '../contract/signing.js';
import { timeColumn } from '../database/columns.js';
import { VillageEntity } from '../villages/village.entity.js';

/** A device in a village; its id is also its MQTT client id and username. */
@Entity('devices')
@Index('IDX_devices_village_code', ['villageCode'])
@Index('IDX_devices_type', ['type'])
@Index('UQ_devices_resource_code', ['resourceCode'], { unique: true })
export class DeviceEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  @Column({ type: 'varchar', length: 12, name: 'village_code' })
  villageCode!: string;

  @ManyToOne(() => VillageEntity, { onDelete: 'RESTRICT', onUpdate: 'NO ACTION' })
  @JoinColumn({ name: 'village_code', foreignKeyConstraintName: 'FK_devices_village' })
  village?: VillageEntity;

  @Column({ type: 'varchar', length: 32 })
  type!: DeviceType;

  @Column({ type: 'boolean' })
  enabled!: boolean;

  @Column({ type: 'varchar', length: 200, nullable: true })
  label!: string | null;

  @Column({ type: 'varchar', length: 2000, nullable: true })
  notes!: string | null;

  /** `sha256$salt$hash` (earlier: `scrypt$N$r$p$salt$hash`); never selected unless asked for by name. */
  @Column({ type: 'varchar', length: 200, name: 'secret_hash', select: false })
  secretHash?: string;

  /** The same secret as Mosquitto stores it (`$7$` PBKDF2-SHA512), for `mosquitto export`. */
  @Column({
    type: 'varchar',
    length: 200,
    name: 'mqtt_password_hash',
    nullable: true,
    select: false,
  })
  mqttPasswordHash?: string | null;

  @Column({ ...timeColumn, name: 'secret_rotated_at' })
  secretRotatedAt!: number;

  @Column({ ...timeColumn, name: 'created_at' })
  createdAt!: number;

  @Column({ ...timeColumn, name: 'updated_at' })
  updatedAt!: number;

  /** Protocol 1.1: the algorithm of the device's own key, pinned from its first hello with one. */
  @Column({ type: 'varchar', length: 16, name: 'device_key_alg', nullable: true })
  deviceKeyAlg?: SignatureAlgorithm | null;

  /** The device's own public key (base64url), which its signed `playing`/`played` must verify with. */
  @Column({ type: 'varchar', length: 100, name: 'device_public_key', nullable: true })
  devicePublicKey?: string | null;

  @Column({ ...timeColumn, name: 'device_key_at', nullable: true })
  deviceKeyAt?: number | null;

  /** Its resource code (EBRID, 18 or 23 digits) as the province assigned it; reports name it so. */
  @Column({ type: 'varchar', length: 23, name: 'resource_code', nullable: true })
  resourceCode?: string | null;
}
