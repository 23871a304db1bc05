import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { TownEntity } from './town.entity.js';
import { TownsController } from './towns.controller.js';
import { VillageEntity } from './village.entity.js';
import { VillagesController } from './villages.controller.js';
import { VillagesRepository } from './villages.repository.js';
import { VillagesService } from './villages.service.js';

@Module({
  imports: [TypeOrmModule.forFeature([TownEntity, VillageEntity])],
  controllers: [TownsController, VillagesController],
  providers: [VillagesRepository, VillagesService],
  exports: [VillagesService],
})
export class VillagesModule {}
