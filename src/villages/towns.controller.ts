import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
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
  @ApiOperation({ summary: 'List towns with their village counts' })
  @ApiOkResponse({ type: TownPageDto })
  @ApiErrors(400, 401)
  list(@Query() query: TownQuery): Promise<Page<TownDto>> {
    return this.villages.listTowns(query);
  }

  @Post()
  @ApiOperation({ summary: 'Create a town (operator)' })
  @ApiCreatedResponse({ type: TownDto })
  @ApiErrors(400, 401, 403, 409)
  create(@Body() body: CreateTownDto): Promise<TownDto> {
    return this.villages.createTown(body);
  }

  @Get(':code')
  @ApiOperation({ summary: 'Get a town' })
  @ApiOkResponse({ type: TownDto })
  @ApiErrors(400, 401, 404)
  get(@Param('code', TownCodePipe) code: string): Promise<TownDto> {
    return this.villages.getTown(code);
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
