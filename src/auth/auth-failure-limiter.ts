import { Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { Clock } from '../common/clock.js';
import { FailureWindow } from '../common/failure-window.js';

/**
 * Failed token attempts per client address. Once an address reaches the limit, every request from
 * it is refused until its window ends, so guessing tokens is slow and the answer never says whether
 * a guess was right.
 */
@Injectable()
export class AuthFailureLimiter extends FailureWindow {
  constructor(@InjectConfig() config: AppConfig, clock: Clock) {
    super(config.auth.failLimit, config.auth.failWindowMs, clock);
  }
}
