import { Column, Entity, PrimaryColumn } from 'typeorm';

/** Small facts about this installation (e.g. when the sample county was seeded). */
@Entity('app_meta')
export class AppMetaEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  key!: string;

  @Column({ type: 'text' })
  value!: string;
}
