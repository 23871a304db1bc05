import { Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { Clock } from '../common/clock.js';
import { FailureWindow } from '../common/failure-window.js';

/**
 * Failed token attempts per client address. Once an address reaches the limit, its wrong tokens
 * get 429 until its window ends, so guessing is slow; valid tokens from it are still let in.
 */
@Injectable()
export class AuthFailureLimiter extends FailureWindow {
  constructor(@InjectConfig() config: AppConfig, clock: Clock) {
    super(config.auth.failLimit, config.auth.failWindowMs, clock);
  }
}
