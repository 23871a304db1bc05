import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal, Principal, TownScoped, townsOf } from '../auth/auth.decorators.js';
import { ApiErrors } from '../common/api-errors.js';
import { Page } from '../common/pagination.js';
import { TownCodePipe } from './code.pipes.js';
import { CreateTownDto, TownDto, TownPageDto, TownQuery, UpdateTownDto } from './dto/town.dto.js';
import { VillagesService } from './villages.service.js';

@ApiTags('towns')
@ApiBearerAuth()
@Controller('api/towns')
export class TownsController {
  constructor(private readonly villages: VillagesService) {}

  @Get()
  @TownScoped()
  @ApiOperation({ summary: 'List towns with their village counts (a town official: theirs)' })
  @ApiOkResponse({ type: TownPageDto })
  @ApiErrors(400, 401)
  list(@Query() query: TownQuery, @CurrentPrincipal() p: Principal): Promise<Page<TownDto>> {
    return this.villages.listTowns(query, townsOf(p));
  }

  @Post()
  @ApiOperation({ summary: 'Create a town (operator)' })
  @ApiCreatedResponse({ type: TownDto })
  @ApiErrors(400, 401, 403, 409)
  create(@Body() body: CreateTownDto): Promise<TownDto> {
    return this.villages.createTown(body);
  }

  @Get(':code')
  @TownScoped()
  @ApiOperation({ summary: 'Get a town (a town official: one of theirs, else 404)' })
  @ApiOkResponse({ type: TownDto })
  @ApiErrors(400, 401, 404)
  get(
    @Param('code', TownCodePipe) code: string,
    @CurrentPrincipal() p: Principal,
  ): Promise<TownDto> {
    return this.villages.getTown(code, townsOf(p));
  }

  @Patch(':code')
  @ApiOperation({ summary: 'Rename a town (operator)' })
  @ApiOkResponse({ type: TownDto })
  @ApiErrors(400, 401, 403, 404)
  update(@Param('code', TownCodePipe) code: string, @Body() body: UpdateTownDto): Promise<TownDto> {
    return this.villages.updateTown(code, body);
  }

  @Delete(':code')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a town that has no villages (operator)' })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiErrors(400, 401, 403, 404, 409)
  remove(@Param('code', TownCodePipe) code: string): Promise<void> {
    return this.villages.deleteTown(code);
  }
}
