/**
 * The one place that reads the wall clock. Services take a `Clock` so tests can drive time
 * instead of waiting for it.
 */
export abstract class Clock {
  abstract now(): Date;
}

export class SystemClock extends Clock {
  now(): Date {
    return new Date();
  }
}
