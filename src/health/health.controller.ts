import { Controller, Get, Res } from '@nestjs/common';
import {
  ApiExtraModels,
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiServiceUnavailableResponse,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { Public } from '../auth/auth.decorators.js';
import { ReadinessChecks } from '../common/readiness-checks.js';

class LivenessDto {
  @ApiProperty({ example: 'ok' })
  status!: 'ok';

  @ApiProperty({ description: 'Seconds since the process started', example: 12.5 })
  uptimeS!: number;
}

class CheckResultDto {
  @ApiProperty() ok!: boolean;
  @ApiProperty({ description: 'How long the check took' }) ms!: number;
  @ApiProperty({ required: false, description: 'Why the check failed' }) error?: string;
  @ApiProperty({
    description: 'False for a feature the server runs without (clip upload needs ffmpeg)',
  })
  critical!: boolean;
}

class ReadinessDto {
  @ApiProperty({
    enum: ['ready', 'degraded', 'not_ready'],
    description:
      'degraded: a non-critical check failed (HTTP 200); not_ready: a critical one (HTTP 503)',
  })
  status!: 'ready' | 'degraded' | 'not_ready';

  @ApiProperty({
    type: 'object',
    additionalProperties: { $ref: getSchemaPath(CheckResultDto) },
    example: { database: { ok: true, ms: 1, critical: true } },
  })
  checks!: Record<string, CheckResultDto>;
}

@ApiTags('health')
@ApiExtraModels(CheckResultDto)
@Public()
@Controller('health')
export class HealthController {
  constructor(private readonly readiness: ReadinessChecks) {}

  @Get()
  @ApiOperation({ summary: 'Liveness: the process is running (no token needed)' })
  @ApiOkResponse({ type: LivenessDto })
  live(): LivenessDto {
    return { status: 'ok', uptimeS: Math.round(process.uptime() * 10) / 10 };
  }

  @Get('ready')
  @ApiOperation({ summary: 'Readiness: every dependency (database, …) answers (no token needed)' })
  @ApiOkResponse({ type: ReadinessDto })
  @ApiServiceUnavailableResponse({ type: ReadinessDto, description: 'A dependency is down' })
  async ready(@Res({ passthrough: true }) res: Response): Promise<ReadinessDto> {
    const { ready, degraded, checks } = await this.readiness.runAll();
    res.status(ready ? 200 : 503);
    return { status: ready ? (degraded ? 'degraded' : 'ready') : 'not_ready', checks };
  }
}
