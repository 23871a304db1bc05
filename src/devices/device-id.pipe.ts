import { Injectable, PipeTransform } from '@nestjs/common';
import { isDeviceId } from '../contract/device.js';
import { ValidationFailedError } from '../common/domain-error.js';

@Injectable()
export class DeviceIdPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (isDeviceId(value)) return value;
    throw new ValidationFailedError([
      {
        field: 'id',
        rule: 'isDeviceId',
        message: 'id must be 1 to 64 characters of A-Z a-z 0-9 . _ -',
      },
    ]);
  }
}
