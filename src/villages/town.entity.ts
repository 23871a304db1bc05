import { Column, Entity, PrimaryColumn } from 'typeorm';
import { timeColumn } from '../database/columns.js';

/** A town or sub-district (镇/街道), keyed by its 9-digit administrative code. */
@Entity('towns')
export class TownEntity {
  @PrimaryColumn({ type: 'varchar', length: 9 })
  code!: string;

  @Column({ type: 'varchar', length: 100 })
  name!: string;

  @Column({ ...timeColumn, name: 'created_at' })
  createdAt!: number;

  @Column({ ...timeColumn, name: 'updated_at' })
  updatedAt!: number;
}
