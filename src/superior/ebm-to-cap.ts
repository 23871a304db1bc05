/**
 * An EBM from the superior platform (GD/J 082 / GY/T 385 message, inside an EBD package) read as
 * a {@link CapAlert}, so the one intake (AlertsService.accept) decides what to broadcast exactly
 * as for CAP. Pure: no Nest, no I/O.
 */
import {
  type CapAlert,
  type CapInfo,
  CapRefusal,
  type CapResource,
  type CapTime,
} from '../alerts/cap/cap-model.js';
import {
  CAP_GEOCODE_VALUE_NAME,
  capOfEbmMsgType,
  capSeverityOfEbm,
  EBM_MSG_TYPES,
} from '../reports/gyt-mapping.js';
import { beijingTime, children, parseBeijingTime, pathText } from './ebd-package.js';

/** The station sender name alerts from the superior carry when the EBM names none. */
export function superiorSender(superiorEbrId: string): string {
  return `ebr:${superiorEbrId}`;
}

function time(text: string | null, what: string): CapTime | null {
  if (text === null) return null;
  const ms = parseBeijingTime(text);
  if (ms === null) throw new CapRefusal('ebm.time', `${what}: not a time: ${text.slice(0, 40)}`);
  return { text: `${beijingTime(ms).replace(' ', 'T')}+08:00`, ms };
}

function need(ebm: Element, path: string): string {
  const value = pathText(ebm, path);
  if (value === null) throw new CapRefusal('ebm.required', `EBM: ${path} is missing`);
  return value;
}

/** A CAP identifier from an EBM id: CAP forbids spaces, commas, `<` and `&`. */
function identifierOf(ebmId: string): string {
  if (!/^[0-9A-Za-z_.:-]{1,64}$/.test(ebmId))
    throw new CapRefusal('ebm.id', `EBMID not usable as an identifier: ${ebmId.slice(0, 80)}`);
  return ebmId;
}

/**
 * The EBM as a CAP alert, its codes read with gyt-mapping.ts: MsgType 1 → Alert (Update when it
 * names a RelatedEBM), 2 → Cancel of the related (or its own) EBMID, 3–5 → an Exercise (a drill);
 * Severity 1–4 → Extreme…Minor, else Unknown (the operator decides); the message text as headline and
 * description; AreaCode (comma-separated administrative codes) as geocodes; an audio Auxiliary
 * shipped in the package as an inline resource. Urgency Immediate and certainty Observed: a
 * superior platform's order is not a forecast. `attachments` are the package's other files.
 */
export function ebmToCap(
  ebm: Element,
  o: { superiorEbrId: string; attachments: { name: string; data: Buffer }[] },
): CapAlert {
  const ebmId = identifierOf(need(ebm, 'EBMID'));
  const msgType = need(ebm, 'MsgBasicInfo/MsgType');
  const related = pathText(ebm, 'RelatedEBM/EBMID');
  const sender = pathText(ebm, 'MsgBasicInfo/SenderCode') ?? superiorSender(o.superiorEbrId);
  // GD/J 2018 writes SendTime (as Dalaba does); some 2016–2017 interfaces wrote SentTime.
  const sendTime = pathText(ebm, 'MsgBasicInfo/SendTime') ?? pathText(ebm, 'MsgBasicInfo/SentTime');
  if (sendTime === null)
    throw new CapRefusal('ebm.required', 'EBM: MsgBasicInfo/SendTime is missing');
  const sent = time(sendTime, 'SendTime')!;
  const reference = (id: string) => ({ sender, identifier: identifierOf(id), sent: sent.text });

  // The codes are read with the reports module's table (gyt-mapping.ts), the one Dalaba writes with.
  const read = capOfEbmMsgType(msgType);
  if (!read) throw new CapRefusal('ebm.msg-type', `EBM MsgType ${msgType} is not 1 to 5`);
  let capType: CapAlert['msgType'] = read.msgType;
  let references: CapAlert['references'] = [];
  if (msgType === EBM_MSG_TYPES.cancel) {
    references = [reference(related ?? ebmId)];
  } else if (related) {
    // A new EBM naming an earlier one replaces it: running broadcasts stop, the new one plays.
    capType = 'Update';
    references = [reference(related)];
  }

  const title = pathText(ebm, 'MsgContent/MsgTitle');
  const description = pathText(ebm, 'MsgContent/MsgDesc');
  const areaCodes = (pathText(ebm, 'MsgContent/AreaCode') ?? '').split(/[,，;\s]+/).filter(Boolean);
  if (capType !== 'Cancel' && areaCodes.length === 0)
    throw new CapRefusal('ebm.area', 'EBM: MsgContent/AreaCode names no area');
  const bad = areaCodes.find((c) => !/^\d{6}(\d{3}(\d{3})?)?$/.test(c));
  if (bad) throw new CapRefusal('ebm.area', `EBM: not an administrative code: ${bad.slice(0, 20)}`);

  const info: CapInfo = {
    language: 'zh-CN',
    categories: ['Safety'],
    event: pathText(ebm, 'MsgBasicInfo/EventType') ?? title ?? '应急广播',
    responseTypes: [],
    urgency: 'Immediate',
    severity: capSeverityOfEbm(pathText(ebm, 'MsgBasicInfo/Severity') ?? ''),
    certainty: 'Observed',
    eventCodes: [],
    effective: time(pathText(ebm, 'MsgBasicInfo/StartTime'), 'StartTime'),
    onset: null,
    expires: time(pathText(ebm, 'MsgBasicInfo/EndTime'), 'EndTime'),
    senderName: pathText(ebm, 'MsgBasicInfo/SenderName'),
    headline: title,
    description,
    instruction: null,
    web: null,
    contact: null,
    parameters: [{ valueName: 'EBMID', value: ebmId }],
    resources: auxiliaries(ebm, o.attachments),
    areas: areaCodes.length
      ? [
          {
            areaDesc: pathText(ebm, 'MsgContent/AreaName') ?? areaCodes.join(','),
            polygons: [],
            circles: [],
            geocodes: areaCodes.map((value) => ({
              valueName: CAP_GEOCODE_VALUE_NAME,
              value,
            })),
          },
        ]
      : [],
  };
  return {
    identifier: ebmId,
    sender,
    sent,
    status: read.status,
    msgType: capType,
    source: `superior ${o.superiorEbrId}`,
    scope: 'Public',
    restriction: null,
    addresses: null,
    codes: [],
    note: null,
    references,
    incidents: null,
    infos: [info],
  };
}

/** Audio Auxiliary entries whose file came in the package, as inline CAP resources. */
function auxiliaries(ebm: Element, attachments: { name: string; data: Buffer }[]): CapResource[] {
  const content = children(ebm, 'MsgContent')[0];
  if (!content) return [];
  const out: CapResource[] = [];
  for (const aux of children(content, 'Auxiliary')) {
    const name = pathText(aux, 'AuxiliaryDesc');
    const file = name ? attachments.find((a) => a.name === name) : undefined;
    if (!file) continue;
    const size = Number(pathText(aux, 'Size') ?? NaN);
    out.push({
      resourceDesc: name!,
      mimeType: name!.toLowerCase().endsWith('.wav') ? 'audio/wav' : 'audio/mpeg',
      size: Number.isSafeInteger(size) ? size : file.data.length,
      uri: null,
      derefUri: file.data.toString('base64'),
      // The EBM's Digest is SM3 or MD5 by vendor; CAP's is SHA-1: the intake checks size only.
      digest: null,
    });
  }
  return out;
}
