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
import { DomainError } from './domain-error.js';
import { toBoolean } from './query.js';

export class ImportQuery {
  @ApiPropertyOptional({
    description: 'Check the file and report what would change, writing nothing',
    default: false,
  })
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean()
  dryRun?: boolean;
}

/** The raw CSV text of an import request (`Content-Type: text/csv`). */
export const CsvBody = createParamDecorator((_: unknown, ctx: ExecutionContext): string => {
  const req = ctx.switchToHttp().getRequest<Request>();
  if (!req.is('text/csv') && !req.is('text/plain')) {
    throw new DomainError(
      'unsupported',
      'CSV_REQUIRED',
      'Send the file as the request body with Content-Type: text/csv (UTF-8)',
    );
  }
  if (typeof req.body !== 'string' || req.body.length === 0) {
    throw new DomainError('invalid', 'CSV_EMPTY', 'The CSV body is empty: expected a header line');
  }
  return req.body;
});

/** OpenAPI for an import route taking `text/csv`. */
export function ApiCsvImport(columns: string): MethodDecorator {
  return applyDecorators(
    ApiConsumes('text/csv'),
    ApiBody({
      description: `UTF-8 CSV (BOM optional) with a header line. Columns: ${columns}`,
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
