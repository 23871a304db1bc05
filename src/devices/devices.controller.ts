import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Patch,
  Post,
  Query,
  Req,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { Request } from 'express';
import {
  CurrentPrincipal,
  Principal,
  RequireRole,
  TownScoped,
  townsOf,
} from '../auth/auth.decorators.js';
import { ApiErrors } from '../common/api-errors.js';
import { ApiCsvImport, CsvBody, CsvDownload, CsvFile, ImportQuery } from '../common/csv-http.js';
import { Page } from '../common/pagination.js';
import { DEVICE_CSV_COLUMNS } from './device-import.js';
import { DeviceIdPipe } from './device-id.pipe.js';
import { DeviceProvisioning } from './device-provisioning.js';
import { DevicesService } from './devices.service.js';
import { DeviceImportReportDto } from './dto/device-import-report.dto.js';
import {
  CreateDeviceDto,
  DeviceDetailDto,
  PresenceHistoryQuery,
  PresenceIntervalDto,
  DeviceDto,
  DevicePageDto,
  DeviceQuery,
  UpdateDeviceDto,
} from './dto/device.dto.js';
import { ProvisionedDeviceDto, ProvisioningBundleDto } from './dto/provisioning.dto.js';
import { SecurityEventDto, SecurityEventQuery } from './dto/security-event.dto.js';
import { SecurityEvents } from './security-events.js';

@ApiTags('devices')
@ApiBearerAuth()
@Controller('api/devices')
export class DevicesController {
  constructor(
    private readonly devices: DevicesService,
    private readonly provisioning: DeviceProvisioning,
    private readonly security: SecurityEvents,
  ) {}

  @Get()
  @TownScoped()
  @ApiOperation({
    summary:
      'List devices, filtered by town, village, type, enabled; paged (a town official: their towns only)',
  })
  @ApiOkResponse({ type: DevicePageDto })
  @ApiErrors(400, 401)
  list(@Query() query: DeviceQuery, @CurrentPrincipal() p: Principal): Promise<Page<DeviceDto>> {
    return this.devices.list(query, townsOf(p));
  }

  @Get('export')
  @TownScoped()
  @CsvDownload('devices.csv')
  @ApiOperation({ summary: 'Export devices as CSV (same filters as the list; never secrets)' })
  @ApiErrors(400, 401)
  export(@Query() query: DeviceQuery, @CurrentPrincipal() p: Principal): Promise<string> {
    return this.devices.exportCsv(query, townsOf(p));
  }

  @Post('import')
  @HttpCode(200)
  @ApiCsvImport(DEVICE_CSV_COLUMNS.join(', '))
  @ApiOperation({
    summary: 'Import (upsert) devices from CSV (operator)',
    description:
      'All or nothing, like the villages import. Devices it creates get secrets, listed in `secrets` of this ' +
      'response only. Existing devices keep their secrets. Import villages first.',
  })
  @ApiOkResponse({ type: DeviceImportReportDto })
  @ApiErrors(400, 401, 403, 409, 413, 415)
  import(@CsvBody() csv: CsvFile, @Query() query: ImportQuery): Promise<DeviceImportReportDto> {
    return this.devices.importCsv({ ...csv, encoding: query.encoding }, query.dryRun ?? false);
  }

  @Post()
  @ApiOperation({
    summary:
      'Register a device (operator); the response holds its secret and provisioning bundle, once',
  })
  @ApiCreatedResponse({ type: ProvisionedDeviceDto })
  @ApiErrors(400, 401, 403, 409)
  create(@Body() body: CreateDeviceDto, @Req() req: Request): Promise<ProvisionedDeviceDto> {
    return this.provisioning.create(body, req.hostname);
  }

  @Get(':id')
  @TownScoped()
  @ApiOperation({ summary: 'Get a device with its presence and latest telemetry' })
  @ApiOkResponse({ type: DeviceDetailDto })
  @ApiErrors(400, 401, 404)
  get(
    @Param('id', DeviceIdPipe) id: string,
    @CurrentPrincipal() p: Principal,
  ): Promise<DeviceDetailDto> {
    return this.devices.get(id, townsOf(p));
  }

  @Get(':id/presence')
  @TownScoped()
  @ApiOperation({ summary: 'Online/offline history of a device, newest first' })
  @ApiOkResponse({ type: [PresenceIntervalDto] })
  @ApiErrors(400, 401, 404)
  presence(
    @Param('id', DeviceIdPipe) id: string,
    @Query() query: PresenceHistoryQuery,
    @CurrentPrincipal() p: Principal,
  ): Promise<PresenceIntervalDto[]> {
    return this.devices.presenceHistory(id, query.limit, townsOf(p));
  }

  @Get(':id/provisioning')
  @RequireRole('operator')
  @ApiOperation({
    summary: 'The provisioning bundle of a device (operator), as JSON and a QR code; no secret',
    description:
      'Device id, broker URL, topic prefix, protocol version, signing mode and the server’s public keys. ' +
      '`secret` is null: only create and rotate-secret return it (once).',
  })
  @ApiOkResponse({ type: ProvisioningBundleDto })
  @ApiErrors(400, 401, 403, 404)
  provisioningBundle(
    @Param('id', DeviceIdPipe) id: string,
    @Req() req: Request,
  ): Promise<ProvisioningBundleDto> {
    return this.provisioning.get(id, req.hostname);
  }

  @Get(':id/security-events')
  @TownScoped()
  @ApiOperation({
    summary: 'Security events of a device, newest first: commands it refused, keys refused',
  })
  @ApiOkResponse({ type: [SecurityEventDto] })
  @ApiErrors(400, 401, 404)
  async securityEvents(
    @Param('id', DeviceIdPipe) id: string,
    @Query() query: SecurityEventQuery,
    @CurrentPrincipal() p: Principal,
  ): Promise<SecurityEventDto[]> {
    await this.devices.requireVisible(id, townsOf(p));
    return this.security.list(id, query.limit);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Change a device (operator); enabled=false locks it out' })
  @ApiOkResponse({ type: DeviceDto })
  @ApiErrors(400, 401, 403, 404, 409)
  update(@Param('id', DeviceIdPipe) id: string, @Body() body: UpdateDeviceDto): Promise<DeviceDto> {
    return this.devices.update(id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a device (operator)' })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiErrors(400, 401, 403, 404)
  remove(@Param('id', DeviceIdPipe) id: string): Promise<void> {
    return this.devices.remove(id);
  }

  @Post(':id/rotate-secret')
  @ApiOperation({
    summary:
      'Issue a new device secret (operator); the old one stops working; secret and provisioning bundle shown once',
  })
  @ApiCreatedResponse({ type: ProvisionedDeviceDto })
  @ApiErrors(400, 401, 403, 404)
  rotateSecret(
    @Param('id', DeviceIdPipe) id: string,
    @Req() req: Request,
  ): Promise<ProvisionedDeviceDto> {
    return this.provisioning.rotateSecret(id, req.hostname);
  }
}
