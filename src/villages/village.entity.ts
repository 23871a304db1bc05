import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { timeColumn } from '../database/columns.js';
import { TownEntity } from './town.entity.js';

/** A village (行政村), keyed by its 12-digit administrative code (统计用区划代码). */
@Entity('villages')
@Index('IDX_villages_town_code', ['townCode'])
export class VillageEntity {
  @PrimaryColumn({ type: 'varchar', length: 12 })
  code!: string;

  @Column({ type: 'varchar', length: 100 })
  name!: string;

  @Column({ type: 'varchar', length: 9, name: 'town_code' })
  townCode!: string;

  @ManyToOne(() => TownEntity, { onDelete: 'RESTRICT', onUpdate: 'NO ACTION' })
  @JoinColumn({ name: 'town_code', foreignKeyConstraintName: 'FK_villages_town' })
  town?: TownEntity;

  @Column({ type: 'double precision', nullable: true })
  lat!: number | null;

  @Column({ type: 'double precision', nullable: true })
  lon!: number | null;

  /** `HH:MM-HH:MM` in the county's time zone; routine and test broadcasts wait outside it. */
  @Column({ type: 'varchar', length: 11, name: 'quiet_hours', nullable: true })
  quietHours!: string | null;

  @Column({ ...timeColumn, name: 'created_at' })
  createdAt!: number;

  @Column({ ...timeColumn, name: 'updated_at' })
  updatedAt!: number;
}
