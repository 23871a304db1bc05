import { ApiProperty } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsString,
  Length,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import { Level, LEVELS } from '../../contract/messages.js';

export class ApprovalRuleDto {
  @ApiProperty({ enum: LEVELS })
  @IsIn(LEVELS)
  level!: Level;

  @ApiProperty({ description: 'A broadcast or schedule of this level needs a second person' })
  @IsBoolean()
  needsApproval!: boolean;

  @ApiProperty({
    minimum: 1,
    maximum: 1440,
    description: 'How long a draft of this level waits for approval before it expires',
  })
  @IsInt()
  @Min(1)
  @Max(1440)
  maxWaitMin!: number;
}

export class ApprovalPolicyDto {
  @ApiProperty({
    type: [ApprovalRuleDto],
    description: 'One rule per level; levels left out keep theirs',
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(LEVELS.length)
  @ValidateNested({ each: true })
  @Type(() => ApprovalRuleDto)
  levels!: ApprovalRuleDto[];
}

export class OverrideDto {
  @ApiProperty({
    minLength: 5,
    maxLength: 500,
    example: '堤坝溃口，来不及等审批',
    description:
      'Why it cannot wait for a second person; kept with the broadcast and in the audit log',
  })
  @IsString()
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value))
  @Length(5, 500, { message: 'override.reason: say why it cannot wait (5 to 500 characters)' })
  reason!: string;
}

/** How a broadcast that needed a second person got out. */
export class ApprovalDto {
  @ApiProperty({
    enum: ['approved', 'override'],
    description:
      '`approved`: a second person approved its draft or schedule; `override`: sent at once without one',
  })
  mode!: 'approved' | 'override';
  @ApiProperty({ description: 'Who approved it, or who overrode the approval' }) by!: string;
  @ApiProperty({ format: 'date-time' }) at!: string;
  @ApiProperty({ type: String, nullable: true, description: 'The override reason' })
  reason!: string | null;
  @ApiProperty({ type: String, format: 'uuid', nullable: true }) draftId!: string | null;
}
