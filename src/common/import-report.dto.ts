import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { FieldProblemDto } from './api-errors.js';

/** What a CSV import did, or (with `dryRun`) would do. */
export class ImportReportDto {
  @ApiProperty({ description: 'True when nothing was written' }) dryRun!: boolean;
  @ApiProperty({ description: 'False when any line has a problem; then nothing is imported' })
  ok!: boolean;
  @ApiProperty({ description: 'Data lines read (header excluded)' }) rows!: number;
  @ApiProperty() created!: number;
  @ApiProperty() updated!: number;
  @ApiProperty() unchanged!: number;
  @ApiPropertyOptional({ description: 'Towns created from town_code/town_name (villages import)' })
  townsCreated?: number;
  @ApiPropertyOptional({ description: 'Towns renamed from town_name (villages import)' })
  townsUpdated?: number;
  @ApiProperty({ type: [FieldProblemDto], description: 'Every problem, with its line number' })
  problems!: FieldProblemDto[];
}
