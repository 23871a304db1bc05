/**
 * Deliveries grouped per village (and device type, state or reason): what the facts repository
 * answers and what coverage, period reports and the board compute from, in one shape for both
 * modules.
 */
import type { DeviceType } from '../contract/device.js';
import type { DeliveryState } from '../contract/messages.js';
import type { ConfirmationMethod } from './broadcast.entity.js';

/** The deliveries of one broadcast in one village, of one device type, in one state. */
export interface DeliveryGroup {
  villageCode: string;
  /** Null for deliveries made before the type was kept. */
  deviceType: DeviceType | null;
  state: DeliveryState;
  count: number;
  /** Of those, how many were never sent (their device was not online while the broadcast was open). */
  neverSent: number;
  /** Of those, how many began playing. */
  started: number;
  /**
   * Of those, how many quiet hours hold: waiting for the village's quiet hours to end, or held
   * until after the broadcast expired.
   */
  heldByQuiet: number;
  /** The first `playing` (or `played`, from a device that reported no `playing`). */
  firstSoundAt: number | null;
  /** The first `played`. */
  playedAt: number | null;
}

export interface FailureGroup {
  villageCode: string;
  deviceType: DeviceType | null;
  reason: string;
  count: number;
}

export interface ManualGroup {
  villageCode: string;
  firstAt: number;
  /** Who confirmed the first one, and how (null: recorded before the method was asked). */
  firstBy: string;
  firstMethod: ConfirmationMethod | null;
  count: number;
}

/** What a broadcast's deliveries add up to: the input of every coverage figure. */
export interface DeliveryFactsOf {
  groups: DeliveryGroup[];
  failures: FailureGroup[];
}
