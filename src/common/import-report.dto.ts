import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { FieldProblemDto } from './api-errors.js';
import type { EncodingSource } from './csv-encoding.js';
import { PREVIEW_ROWS } from './csv.js';

/** One data line as the import read it. */
export class ImportPreviewRowDto {
  @ApiProperty({ description: 'Line number in the file (1 is the header)' }) line!: number;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string' },
    example: { code: '611026001201', name: '石坪村' },
  })
  values!: Record<string, string>;
}

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
  @ApiProperty({
    type: String,
    nullable: true,
    example: 'gb18030',
    description:
      'The encoding the file was read in; null when it could not be read with confidence',
  })
  encoding!: string | null;
  @ApiProperty({
    enum: ['bom', 'parameter', 'charset', 'detected'],
    nullable: true,
    description:
      'What decided the encoding: a byte-order mark, `?encoding=`, the charset of the Content-Type, or detection',
  })
  encodingSource!: EncodingSource | null;
  @ApiPropertyOptional({
    type: [ImportPreviewRowDto],
    description: `Dry run only: the first ${PREVIEW_ROWS} data lines as read, to check the text came out right`,
  })
  preview?: ImportPreviewRowDto[];
}
