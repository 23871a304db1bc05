import { applyDecorators } from '@nestjs/common';
import {
  ApiExtraModels,
  ApiProperty,
  ApiPropertyOptional,
  ApiResponse,
  getSchemaPath,
  type OpenAPIObject,
  type SchemaObject,
} from '@nestjs/swagger';

export class FieldProblemDto {
  @ApiProperty({ example: 'code' }) field!: string;
  @ApiProperty({
    example: 'isVillageCode',
    description: 'The rule broken; `unknownField` for a field no schema declares',
  })
  rule!: string;
  @ApiProperty({ example: 'code must be 12 digits' }) message!: string;
  @ApiPropertyOptional({ description: 'CSV line (1 = header) the problem is on' }) line?: number;
}

/** The body of every 4xx/5xx response. */
export class ErrorBodyDto {
  @ApiProperty({ example: 400 }) statusCode!: number;
  @ApiProperty({ example: 'VALIDATION_FAILED', description: 'Stable machine-readable code' })
  error!: string;
  @ApiProperty({ example: 'Invalid request: code must be 12 digits' }) message!: string;
  @ApiPropertyOptional({
    type: [FieldProblemDto],
    description: 'Per-field problems, for validation errors',
  })
  details?: FieldProblemDto[];
  @ApiPropertyOptional({ description: 'Also in the X-Request-Id response header' })
  requestId?: string;
}

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input: the field and the rule broken are in `details`',
  401: 'No token, or a token that is unknown or revoked',
  403: 'The token’s role does not allow this',
  404: 'No such resource',
  409: 'Conflicts with the current state (duplicate, still in use)',
  413: 'Request body over the size limit',
  415: 'Unsupported content type',
  429: 'Too many requests with a wrong token from this address',
};

/** Documents the error responses a route can give, all with {@link ErrorBodyDto}. */
export function ApiErrors(...statuses: number[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ApiExtraModels(ErrorBodyDto),
    ...statuses.map((status) =>
      ApiResponse({
        status,
        description: DESCRIPTIONS[status] ?? 'Error',
        schema: { $ref: getSchemaPath(ErrorBodyDto) },
      }),
    ),
  );
}

/**
 * Lists the error codes in the document: one string schema per feature's union (named as the
 * type, e.g. `VillageErrorCode`), and the `error` of {@link ErrorBodyDto} is any of them. The
 * lists come from the composition root, since common/ imports no feature.
 */
export function documentErrorCodes(
  document: OpenAPIObject,
  codes: Record<string, readonly string[]>,
): void {
  const schemas = ((document.components ??= {}).schemas ??= {});
  for (const [name, list] of Object.entries(codes)) {
    const feature = name.replace(/ErrorCode$/, '');
    schemas[name] = {
      type: 'string',
      enum: [...new Set(list)],
      description: `Codes of ${feature} errors (the \`error\` of an error body)`,
    };
  }
  const body = schemas[ErrorBodyDto.name] as SchemaObject | undefined;
  if (!body?.properties) throw new Error(`${ErrorBodyDto.name} is not in the OpenAPI document`);
  body.properties.error = {
    ...body.properties.error,
    description:
      'Stable machine-readable code: one of the `…ErrorCode` lists, or `HTTP_<status>` for a ' +
      'status none of them names',
    anyOf: [
      ...Object.keys(codes).map((name) => ({ $ref: getSchemaPath(name) })),
      { type: 'string', pattern: '^HTTP_\\d{3}$' },
    ],
  };
}
