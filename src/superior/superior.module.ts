import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SuperiorPackageEntity } from './superior-package.entity.js';

/** The optional live link to a superior (city or province) platform. */
@Module({
  imports: [TypeOrmModule.forFeature([SuperiorPackageEntity])],
})
export class SuperiorModule {}
