import { Controller, Delete, Get, HttpCode, Param } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { ApiErrors } from '../common/api-errors.js';
import { isoTime } from '../common/time.js';
import { DeviceIdPipe } from './device-id.pipe.js';
import { DeviceKeys } from './device-keys.js';
import { DeviceKeyDto } from './dto/device-key.dto.js';

@ApiTags('devices')
@ApiBearerAuth()
@Controller('api/devices')
export class DeviceKeysController {
  constructor(private readonly keys: DeviceKeys) {}

  @Get(':id/device-key')
  @ApiOperation({
    summary: "The device's own public key, pinned from its first hello that carried one",
    description:
      'Protocol 1.1: its signed `playing`/`played` events are checked with this key. 404 ' +
      '`DEVICE_KEY_NOT_PINNED` when the device has announced none.',
  })
  @ApiOkResponse({ type: DeviceKeyDto })
  @ApiErrors(400, 401, 404)
  async get(@Param('id', DeviceIdPipe) id: string): Promise<DeviceKeyDto> {
    const k = await this.keys.get(id);
    return { ...k, pinnedAt: isoTime(k.pinnedAt) };
  }

  @Delete(':id/device-key')
  @HttpCode(204)
  @ApiOperation({
    summary: "Forget a device's pinned key (operator), e.g. after its key was replaced",
    description:
      'A device that offers a different key than the pinned one is refused (security event ' +
      '`device_key_changed`) and its signed events with the new key are refused as ' +
      '`bad_device_signature`. After this, its next hello with a key pins that key. Audited.',
  })
  @ApiNoContentResponse({ description: 'Cleared' })
  @ApiErrors(400, 401, 403, 404)
  clear(@Param('id', DeviceIdPipe) id: string): Promise<void> {
    return this.keys.clear(id);
  }
}
