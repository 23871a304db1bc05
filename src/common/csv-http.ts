import { applyDecorators, createParamDecorator, ExecutionContext, Header } from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiOkResponse,
  ApiProduces,
  ApiPropertyOptional,
} from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsOptional } from 'class-validator';
import type { Request } from 'express';
import { encodingOf } from './csv-encoding.js';
import type { CsvUpload } from './csv.js';
import { DomainError, type CommonErrorCode } from './domain-error.js';
import { toBoolean } from './query.js';
import { ValidatesAs } from './validators.js';

export class ImportQuery {
  @ApiPropertyOptional({
    description: 'Check the file and report what would change, writing nothing',
    default: false,
  })
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean()
  dryRun?: boolean;

  @ApiPropertyOptional({
    description:
      "The file's encoding, e.g. `gb18030` (or `gbk`) or `utf-8`. Absent: a BOM decides, then " +
      'the charset of the Content-Type, then detection (UTF-8 or GB18030); a file that cannot be ' +
      'read with confidence is refused, naming the problem',
    example: 'gb18030',
  })
  @IsOptional()
  @ValidatesAs(
    'isEncoding',
    (v) => typeof v === 'string' && encodingOf(v) !== null,
    'must be a text encoding such as gb18030, gbk or utf-8',
  )
  encoding?: string;
}

/** The CSV file of an import request; `?encoding=` comes from {@link ImportQuery}. */
export type CsvFile = Omit<CsvUpload, 'encoding'>;

/** The bytes of an import request's CSV file (`Content-Type: text/csv`), decoded later. */
export const CsvBody = createParamDecorator((_: unknown, ctx: ExecutionContext): CsvFile => {
  const req = ctx.switchToHttp().getRequest<Request>();
  if (!req.is('text/csv') && !req.is('text/plain')) {
    throw new DomainError<CommonErrorCode>(
      'unsupported',
      'CSV_REQUIRED',
      'Send the file as the request body with Content-Type: text/csv',
    );
  }
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers['content-type'] ?? '')?.[1];
  if (charset !== undefined && encodingOf(charset) === null) {
    throw new DomainError<CommonErrorCode>(
      'unsupported',
      'UNSUPPORTED_CHARSET',
      `Unknown charset "${charset}"; send UTF-8 or GBK, or leave the charset out`,
    );
  }
  if (!Buffer.isBuffer(req.body) || req.body.length === 0) {
    throw new DomainError<CommonErrorCode>(
      'invalid',
      'CSV_EMPTY',
      'The CSV body is empty: expected a header line',
    );
  }
  return { bytes: req.body, charset };
});

/** OpenAPI for an import route taking `text/csv`. */
export function ApiCsvImport(columns: string): MethodDecorator {
  return applyDecorators(
    ApiConsumes('text/csv'),
    ApiBody({
      description: `CSV with a header line, in UTF-8 (BOM optional) or GBK/GB18030 (as Excel on Chinese Windows saves it; see \`encoding\`). Columns: ${columns}`,
      schema: { type: 'string' },
    }),
  );
}

/** OpenAPI and headers for a route answering a CSV download. */
export function CsvDownload(filename: string): MethodDecorator {
  return applyDecorators(
    Header('Content-Type', 'text/csv; charset=utf-8'),
    Header('Content-Disposition', `attachment; filename="${filename}"`),
    ApiProduces('text/csv'),
    ApiOkResponse({
      description: 'UTF-8 CSV with BOM; the same columns the import takes',
      schema: { type: 'string' },
    }),
  );
}
