import { Controller, Get, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiExtraModels,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal, Principal, TownScoped, townsOf } from '../auth/auth.decorators.js';
import { ApiErrors } from '../common/api-errors.js';
import { TypeCountDto, VillageStatusPageDto, VillageStatusQuery } from './status.dto.js';
import { StatusService } from './status.service.js';

@ApiTags('status')
@ApiBearerAuth()
@ApiExtraModels(TypeCountDto)
@Controller('api/status')
export class StatusController {
  constructor(private readonly status: StatusService) {}

  @Get('villages')
  @TownScoped()
  @ApiOperation({
    summary: 'Each village with its devices: total and online by type, last heard, worst problem',
    description:
      'Filters: town, q (name or code), problem. `summary` counts across every page. A town official sees ' +
      'their towns only, and `summary` counts over them.',
  })
  @ApiOkResponse({ type: VillageStatusPageDto })
  @ApiErrors(400, 401)
  villages(
    @Query() query: VillageStatusQuery,
    @CurrentPrincipal() p: Principal,
  ): Promise<VillageStatusPageDto> {
    return this.status.villageStatus(query, townsOf(p));
  }
}
