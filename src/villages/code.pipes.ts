import { Injectable, PipeTransform } from '@nestjs/common';
import { ValidationFailedError } from '../common/domain-error.js';
import { isTownCode, isVillageCode } from './admin-codes.js';

@Injectable()
export class VillageCodePipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (isVillageCode(value)) return value;
    throw new ValidationFailedError([
      { field: 'code', rule: 'isVillageCode', message: 'code must be 12 digits (统计用区划代码)' },
    ]);
  }
}

@Injectable()
export class TownCodePipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (isTownCode(value)) return value;
    throw new ValidationFailedError([
      { field: 'code', rule: 'isTownCode', message: 'code must be 9 digits' },
    ]);
  }
}
