import { ApiPropertyOptional } from '@nestjs/swagger';
import { ImportReportDto } from '../../common/import-report.dto.js';
import { DeviceSecretDto } from './device.dto.js';

export class DeviceImportReportDto extends ImportReportDto {
  @ApiPropertyOptional({
    type: [DeviceSecretDto],
    description: 'Secrets of the devices this import created. Shown once, in this response only.',
  })
  secrets?: DeviceSecretDto[];
}
