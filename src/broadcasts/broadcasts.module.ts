import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ClipsModule } from '../clips/clips.module.js';
import { DevicesModule } from '../devices/devices.module.js';
import { EvidenceModule } from '../evidence/evidence.module.js';
import { VillagesModule } from '../villages/villages.module.js';
import { ApprovalPolicyController } from './approval-policy.controller.js';
import { ApprovalPolicyRepository } from './approval-policy.repository.js';
import { ApprovalPolicyService } from './approval-policy.js';
import { ApprovalRuleEntity } from './approval-rule.entity.js';
import { BroadcastEvents } from './broadcast-events.js';
import {
  BroadcastEntity,
  BroadcastVillageEntity,
  DeliveryEntity,
  DeliveryEventEntity,
  ManualConfirmationEntity,
} from './broadcast.entity.js';
import { BroadcastFactsRepository } from './broadcast-facts.repository.js';
import { BroadcastReadsRepository } from './broadcast-reads.repository.js';
import { BroadcastHistoryRepository } from './broadcast-history.repository.js';
import { BroadcastsController } from './broadcasts.controller.js';
import { BroadcastsRepository } from './broadcasts.repository.js';
import { BroadcastScope } from './broadcast-scope.js';
import { BroadcastsService } from './broadcasts.service.js';
import { ConfirmationsRepository } from './confirmations.repository.js';
import { ConfirmationsService } from './confirmations.service.js';
import { DeliveryIngest } from './delivery-ingest.js';
import { DeliveryLedger } from './delivery-ledger.js';
import { DeliverySender } from './delivery-sender.js';
import { DeviceProofsRepository } from './device-proofs.repository.js';
import { BroadcastDispatcher } from './dispatcher.js';
import { ReconnectReplay } from './reconnect-replay.js';

@Module({
  imports: [
    TypeOrmModule.forFeature([
      ApprovalRuleEntity,
      BroadcastEntity,
      BroadcastVillageEntity,
      DeliveryEntity,
      DeliveryEventEntity,
      ManualConfirmationEntity,
    ]),
    ClipsModule,
    DevicesModule,
    EvidenceModule,
    VillagesModule,
  ],
  controllers: [BroadcastsController, ApprovalPolicyController],
  providers: [
    ApprovalPolicyRepository,
    ApprovalPolicyService,
    BroadcastsRepository,
    BroadcastReadsRepository,
    BroadcastFactsRepository,
    BroadcastHistoryRepository,
    DeviceProofsRepository,
    BroadcastScope,
    BroadcastsService,
    ConfirmationsRepository,
    ConfirmationsService,
    BroadcastEvents,
    // The pipeline, each depending only on those below it: the dispatcher drives the sender, the
    // ingest and the replay; the replay sends through the sender; all of them write through the
    // ledger.
    DeliveryLedger,
    DeliverySender,
    DeliveryIngest,
    ReconnectReplay,
    BroadcastDispatcher,
  ],
  // The facts and history repositories are read-only: how coverage reads these tables without
  // owning them.
  exports: [
    BroadcastScope,
    ApprovalPolicyService,
    BroadcastsService,
    BroadcastDispatcher,
    BroadcastEvents,
    BroadcastFactsRepository,
    BroadcastHistoryRepository,
    DeviceProofsRepository,
  ],
})
export class BroadcastsModule {}
