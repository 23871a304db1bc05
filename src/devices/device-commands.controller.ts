import { Body, Controller, HttpCode, Param, Post } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiPropertyOptional,
  ApiTags,
} from '@nestjs/swagger';
import { IsInt, Max, Min } from 'class-validator';
import { ApiErrors } from '../common/api-errors.js';
import { DeviceIdPipe } from './device-id.pipe.js';
import { DeviceCommands } from './device-commands.js';

class PingResultDto {
  @ApiProperty({ description: 'From sending the ping to receiving the pong' }) roundTripMs!: number;
}

class VolumeDto {
  @ApiProperty({ minimum: 0, maximum: 100 })
  @IsInt()
  @Min(0)
  @Max(100)
  volume!: number;
}

class AckDto {
  @ApiProperty({ description: 'The device applied it' }) ok!: boolean;
  @ApiPropertyOptional({ description: 'Why not, in the device’s words' }) reason?: string;
}

@ApiTags('devices')
@ApiBearerAuth()
@Controller('api/devices/:id')
export class DeviceCommandsController {
  constructor(private readonly commands: DeviceCommands) {}

  @Post('ping')
  @HttpCode(200)
  @ApiOperation({ summary: 'Ping a device over MQTT and wait for its pong (operator)' })
  @ApiOkResponse({ type: PingResultDto })
  @ApiErrors(400, 401, 403, 404, 409, 503, 504)
  ping(@Param('id', DeviceIdPipe) id: string): Promise<PingResultDto> {
    return this.commands.ping(id);
  }

  @Post('volume')
  @HttpCode(200)
  @ApiOperation({ summary: 'Set a device’s output volume and wait for its ack (operator)' })
  @ApiOkResponse({ type: AckDto })
  @ApiErrors(400, 401, 403, 404, 409, 503, 504)
  volume(@Param('id', DeviceIdPipe) id: string, @Body() body: VolumeDto): Promise<AckDto> {
    return this.commands.setVolume(id, body.volume);
  }
}
