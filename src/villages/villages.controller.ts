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
import { ApiCsvImport, CsvBody, CsvDownload, CsvFile, ImportQuery } from '../common/csv-http.js';
import { ImportReportDto } from '../common/import-report.dto.js';
import { Page } from '../common/pagination.js';
import { VillageCodePipe } from './code.pipes.js';
import {
  CreateVillageDto,
  UpdateVillageDto,
  VillageDto,
  VillagePageDto,
  VillageQuery,
} from './dto/village.dto.js';
import { VILLAGE_CSV_COLUMNS } from './village-import.js';
import { VillagesService } from './villages.service.js';

@ApiTags('villages')
@ApiBearerAuth()
@Controller('api/villages')
export class VillagesController {
  constructor(private readonly villages: VillagesService) {}

  @Get()
  @TownScoped()
  @ApiOperation({
    summary: 'List villages, filtered by town or name, paged (a town official: their towns only)',
  })
  @ApiOkResponse({ type: VillagePageDto })
  @ApiErrors(400, 401)
  list(@Query() query: VillageQuery, @CurrentPrincipal() p: Principal): Promise<Page<VillageDto>> {
    return this.villages.list(query, townsOf(p));
  }

  @Get('export')
  @TownScoped()
  @CsvDownload('villages.csv')
  @ApiOperation({ summary: 'Export villages as CSV (same filters as the list)' })
  @ApiErrors(400, 401)
  export(@Query() query: VillageQuery, @CurrentPrincipal() p: Principal): Promise<string> {
    return this.villages.exportCsv(query, townsOf(p));
  }

  @Post('import')
  @HttpCode(200)
  @ApiCsvImport(VILLAGE_CSV_COLUMNS.join(', '))
  @ApiOperation({
    summary: 'Import (upsert) villages from CSV (operator)',
    description:
      'All or nothing: when any line has a problem nothing is imported and every problem is listed with its line. ' +
      'With dryRun=true the report says what would change and nothing is written. A town_code not yet registered is ' +
      'created from town_name.',
  })
  @ApiOkResponse({ type: ImportReportDto })
  @ApiErrors(400, 401, 403, 413, 415)
  import(@CsvBody() csv: CsvFile, @Query() query: ImportQuery): Promise<ImportReportDto> {
    return this.villages.importCsv({ ...csv, encoding: query.encoding }, query.dryRun ?? false);
  }

  @Post()
  @ApiOperation({ summary: 'Create a village (operator)' })
  @ApiCreatedResponse({ type: VillageDto })
  @ApiErrors(400, 401, 403, 409)
  create(@Body() body: CreateVillageDto): Promise<VillageDto> {
    return this.villages.create(body);
  }

  @Get(':code')
  @TownScoped()
  @ApiOperation({ summary: 'Get a village (a town official: in their towns, else 404)' })
  @ApiOkResponse({ type: VillageDto })
  @ApiErrors(400, 401, 404)
  get(
    @Param('code', VillageCodePipe) code: string,
    @CurrentPrincipal() p: Principal,
  ): Promise<VillageDto> {
    return this.villages.get(code, townsOf(p));
  }

  @Patch(':code')
  @ApiOperation({ summary: 'Change a village (operator); null clears lat/lon/quietHours' })
  @ApiOkResponse({ type: VillageDto })
  @ApiErrors(400, 401, 403, 404)
  update(
    @Param('code', VillageCodePipe) code: string,
    @Body() body: UpdateVillageDto,
  ): Promise<VillageDto> {
    return this.villages.update(code, body);
  }

  @Delete(':code')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a village that has no devices (operator)' })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiErrors(400, 401, 403, 404, 409)
  remove(@Param('code', VillageCodePipe) code: string): Promise<void> {
    return this.villages.remove(code);
  }
}
