import { applyDecorators } from '@nestjs/common';
import {
  ApiExtraModels,
  ApiProperty,
  ApiPropertyOptional,
  ApiResponse,
  getSchemaPath,
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
