/**
 * A CAP 1.2 alert as Dalaba reads it: the parser's output (cap-parse.ts) and what an EBM from a
 * superior platform is turned into (src/superior), so one intake (AlertsService) handles both.
 * Times are kept as given (with their offset) and as epoch ms.
 */
export const CAP_STATUSES = ['Actual', 'Exercise', 'System', 'Test', 'Draft'] as const;
export type CapStatus = (typeof CAP_STATUSES)[number];
export const CAP_MSG_TYPES = ['Alert', 'Update', 'Cancel', 'Ack', 'Error'] as const;
export type CapMsgType = (typeof CAP_MSG_TYPES)[number];
export const CAP_SCOPES = ['Public', 'Restricted', 'Private'] as const;
export type CapScope = (typeof CAP_SCOPES)[number];
export const CAP_URGENCIES = ['Immediate', 'Expected', 'Future', 'Past', 'Unknown'] as const;
export type CapUrgency = (typeof CAP_URGENCIES)[number];
export const CAP_SEVERITIES = ['Extreme', 'Severe', 'Moderate', 'Minor', 'Unknown'] as const;
export type CapSeverity = (typeof CAP_SEVERITIES)[number];
export const CAP_CERTAINTIES = ['Observed', 'Likely', 'Possible', 'Unlikely', 'Unknown'] as const;
export type CapCertainty = (typeof CAP_CERTAINTIES)[number];

export interface CapTime {
  /** As written, e.g. `2026-12-02T08:00:00+08:00`. */
  text: string;
  ms: number;
}

/** One entry of `references`: "sender,identifier,sent". */
export interface CapReference {
  sender: string;
  identifier: string;
  sent: string;
}

export interface CapResource {
  resourceDesc: string;
  mimeType: string;
  size: number | null;
  uri: string | null;
  /** Base64 content, when given inline. */
  derefUri: string | null;
  /** SHA-1 hex as CAP 1.2 specifies (lower case). */
  digest: string | null;
}

export interface CapGeocode {
  valueName: string;
  value: string;
}

export interface CapCircle {
  lat: number;
  lon: number;
  radiusKm: number;
}

export interface CapArea {
  areaDesc: string;
  /** Each polygon's points as [lat, lon], first equal to last. */
  polygons: [number, number][][];
  circles: CapCircle[];
  geocodes: CapGeocode[];
}

export interface CapInfo {
  language: string;
  categories: string[];
  event: string;
  responseTypes: string[];
  urgency: CapUrgency;
  severity: CapSeverity;
  certainty: CapCertainty;
  eventCodes: CapGeocode[];
  effective: CapTime | null;
  onset: CapTime | null;
  expires: CapTime | null;
  senderName: string | null;
  headline: string | null;
  description: string | null;
  instruction: string | null;
  web: string | null;
  contact: string | null;
  parameters: CapGeocode[];
  resources: CapResource[];
  areas: CapArea[];
}

export interface CapAlert {
  identifier: string;
  sender: string;
  sent: CapTime;
  status: CapStatus;
  msgType: CapMsgType;
  source: string | null;
  scope: CapScope;
  restriction: string | null;
  addresses: string | null;
  codes: string[];
  note: string | null;
  references: CapReference[];
  incidents: string | null;
  infos: CapInfo[];
}

/** A message refused before anything was done with it; `rule` names the rule it broke. */
export class CapRefusal extends Error {
  constructor(
    readonly rule: string,
    message: string,
  ) {
    super(message);
    this.name = 'CapRefusal';
  }
}
