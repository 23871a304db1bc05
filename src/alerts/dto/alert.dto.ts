import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { PageMetaDto, PageQuery } from '../../common/pagination.js';
import { IsDisplayName } from '../../common/validators.js';
import { LEVELS, type Level } from '../../contract/messages.js';
import {
  ALERT_OUTCOMES,
  ALERT_SOURCES,
  SENDER_POLICIES,
  SIGNATURE_STATES,
  type AlertOutcome,
  type AlertSource,
  type SenderPolicy,
} from '../alert.entity.js';
import { CAP_SEVERITIES, type CapSeverity } from '../cap/cap-model.js';

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);

/** One alert as the inbox shows it: what came in, and what Dalaba did with it and why. */
export class AlertDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ enum: ALERT_SOURCES }) source!: string;
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Who handed it over: token name (api), feed id, superior id',
  })
  sourceRef!: string | null;
  @ApiProperty({ type: String, nullable: true }) sender!: string | null;
  @ApiProperty({ type: String, nullable: true }) identifier!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'CAP `sent` as given' })
  sent!: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'Actual' }) status!: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'Alert' }) msgType!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'Language of the info block used' })
  language!: string | null;
  @ApiProperty({ type: String, nullable: true }) event!: string | null;
  @ApiProperty({ type: String, nullable: true }) urgency!: string | null;
  @ApiProperty({ type: String, nullable: true }) severity!: string | null;
  @ApiProperty({ type: String, nullable: true }) certainty!: string | null;
  @ApiProperty({ type: String, nullable: true }) headline!: string | null;
  @ApiProperty({
    enum: LEVELS,
    nullable: true,
    description: 'The level it maps to (docs/alerts.md, "Mapping")',
  })
  level!: Level | null;
  @ApiProperty({ type: [String], description: 'CAP references: "sender,identifier,sent"' })
  references!: string[];
  @ApiProperty({ description: 'Villages of this county the area touches' }) villages!: number;
  @ApiProperty({ enum: SIGNATURE_STATES }) signature!: string;
  @ApiProperty({ type: String, nullable: true, description: 'Subject of the signing certificate' })
  signer!: string | null;
  @ApiProperty({
    enum: ALERT_OUTCOMES,
    description:
      '`refused` (see rule), `duplicate`, `recorded` (nothing to broadcast; also a `needs_level` alert that ' +
      'expired or was superseded before anyone picked its level), `needs_level` (an operator picks it), ' +
      '`drafted` (waiting for approval: draftId; once approved, broadcastId), `broadcast` (broadcastId), ' +
      '`cancelled` (a Cancel that ended broadcasts), `failed` (accepted but no broadcast could be made: see reason)',
  })
  outcome!: AlertOutcome;
  @ApiProperty({
    type: String,
    nullable: true,
    example: 'xml.doctype',
    description: 'The rule a refusal names',
  })
  rule!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'Why, in words' })
  reason!: string | null;
  @ApiProperty({ type: String, nullable: true, format: 'uuid' }) clipId!: string | null;
  @ApiProperty({ type: String, nullable: true, format: 'uuid' }) draftId!: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    format: 'uuid',
    description: 'Its broadcast (made directly, or by approving its draft)',
  })
  broadcastId!: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    format: 'uuid',
    description:
      'The running broadcast an Update replaced (at once, or once its draft was approved) or a Cancel cancelled',
  })
  replacedBroadcastId!: string | null;
  @ApiProperty({ format: 'date-time' }) receivedAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class AlertDetailDto extends AlertDto {
  @ApiProperty({ type: [String], description: 'The village codes the area touches' })
  villageCodes!: string[];
  @ApiProperty({ description: 'The message as received' }) xml!: string;
}

export class AlertPageDto extends PageMetaDto {
  @ApiProperty({ type: [AlertDto] }) items!: AlertDto[];
}

export class AlertQuery extends PageQuery {
  @ApiPropertyOptional({ enum: ALERT_OUTCOMES })
  @IsOptional()
  @IsIn(ALERT_OUTCOMES)
  outcome?: AlertOutcome;

  @ApiPropertyOptional({ enum: ALERT_SOURCES })
  @IsOptional()
  @IsIn(ALERT_SOURCES)
  source?: AlertSource;
}

export class PickLevelDto {
  @ApiProperty({ enum: LEVELS, description: 'The level the operator decided on' })
  @IsIn(LEVELS)
  level!: Level;
}

/** A trusted certificate as the API shows it (the PEM itself is kept, not shown). */
export class SenderCertificateDto {
  @ApiProperty() subject!: string;
  @ApiProperty() issuer!: string;
  @ApiProperty({ format: 'date-time' }) validTo!: string;
  @ApiProperty({ description: 'SHA-256 fingerprint' }) fingerprint256!: string;
}

export class AlertSenderDto {
  @ApiProperty({ description: 'CAP `sender` exactly' }) sender!: string;
  @ApiProperty() name!: string;
  @ApiProperty({
    enum: SENDER_POLICIES,
    description:
      '`require_signature`: only alerts signed by one of `certificates`; `accept_unsigned`: unsigned ones too ' +
      '(a bad signature is still refused), but only signed ones go out without a person; `refuse`: none',
  })
  policy!: SenderPolicy;
  @ApiProperty({ type: [SenderCertificateDto] }) certificates!: SenderCertificateDto[];
  @ApiProperty({
    enum: CAP_SEVERITIES,
    isArray: true,
    description:
      'Severities sent without a person (only with urgency Immediate/Expected and certainty Observed/Likely)',
  })
  autoSeverities!: CapSeverity[];
  @ApiProperty() updatedBy!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class PutAlertSenderDto {
  @ApiProperty({ maxLength: 100, example: '柞水县气象局' })
  @Transform(trim)
  @IsDisplayName(100)
  name!: string;

  @ApiProperty({ enum: SENDER_POLICIES })
  @IsIn(SENDER_POLICIES)
  policy!: SenderPolicy;

  @ApiProperty({ type: [String], description: 'PEM certificates trusted to sign (X.509)' })
  @IsArray()
  @ArrayMaxSize(20)
  @IsString({ each: true })
  @MaxLength(20_000, { each: true })
  certificates!: string[];

  @ApiProperty({ enum: CAP_SEVERITIES, isArray: true })
  @IsArray()
  @ArrayMaxSize(CAP_SEVERITIES.length)
  @IsIn(CAP_SEVERITIES, { each: true })
  autoSeverities!: CapSeverity[];
}
