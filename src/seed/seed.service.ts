import { Injectable, Logger } from '@nestjs/common';
import { join } from 'node:path';
import { ClipsService } from '../clips/clips.service.js';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { Clock } from '../common/clock.js';
import { AppMetaRepository } from '../database/app-meta.repository.js';
import { DevicesService } from '../devices/devices.service.js';
import { VillagesService } from '../villages/villages.service.js';
import { DeviceCredential, readCredentials, writeCredentials } from './credentials-file.js';
import { sampleCounty } from './sample-county.js';
import { withDetailsAtDebug } from '../common/logging.js';
import { StartupError } from '../common/startup-error.js';

const SEEDED_KEY = 'sample_seeded_at';
/** Set when the county is seeded; cleared once the sample clip exists (it may take a restart). */
const CLIP_PENDING_KEY = 'sample_clip_pending';
const CLIP_KEY = 'sample_clip_id';
const SAMPLE_CLIP_FILE = 'sample-announcement.mp3';
/** Staff see it in the clip list. */
const SAMPLE_CLIP_TITLE = '示例广播：各位村民请注意（样例录音）';
/** Towns of the sample county as earlier versions seeded it, under the wrong county code 610126. */
const OLD_SAMPLE_TOWNS = Array.from({ length: 9 }, (_, t) => `610126${100 + t}`);
/** Device secrets are hashed a few at a time (the Mosquitto-format hash runs on the thread pool). */
const DEVICE_CONCURRENCY = 4;

export interface SeedResult {
  towns: number;
  villages: number;
  devices: number;
  /** Sample devices given a new secret because the credentials file had none for them. */
  rotated: number;
  /** Sample devices whose secret is unknown (not in the credentials file, not rotated). */
  missingSecrets: string[];
  credentialsFile: string;
}

/** Seeds the sample county (see sample-county.ts): on first start, and on demand with `npm run seed`. */
@Injectable()
export class SeedService {
  private readonly logger = new Logger('seed');

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly villages: VillagesService,
    private readonly devices: DevicesService,
    private readonly meta: AppMetaRepository,
    private readonly clock: Clock,
    private readonly clips: ClipsService,
  ) {}

  /** Seeds when the registry has never been seeded and holds no towns or villages. */
  async seedIfEmpty(): Promise<SeedResult | null> {
    if (!this.config.seedSample || (await this.meta.get(SEEDED_KEY))) return null;
    const counts = await this.villages.counts();
    if (counts.towns > 0 || counts.villages > 0) return null;
    return this.seed();
  }

  /**
   * Adds the shipped sample announcement as a clip once the sample county has been seeded, so the
   * dashboard can send a first broadcast without an upload. Transcoded like a routine upload with
   * its attention-tone renditions (an emergency goes first); a start that stops before it is
   * accepted leaves it pending for the next. Never throws: the server runs without it.
   */
  async addSampleClipIfPending(): Promise<void> {
    if (!this.config.seedSampleClip) return;
    try {
      if ((await this.meta.get(CLIP_PENDING_KEY)) !== 'true') return;
      const clip = await this.clips.addShipped(
        join(this.config.audio.soundsDir, SAMPLE_CLIP_FILE),
        SAMPLE_CLIP_TITLE,
        'seed',
      );
      await this.meta.set(CLIP_KEY, clip.id);
      await this.meta.set(CLIP_PENDING_KEY, 'false');
      this.logger.log(`sample clip=${clip.id} added (${clip.status}): ${SAMPLE_CLIP_TITLE}`);
    } catch (err) {
      this.logger.warn(
        `sample clip not added yet (tried again at the next start): ${(err as Error).message}`,
      );
    }
  }

  /**
   * Adds whatever part of the sample county is missing and never changes what exists, so running it
   * twice changes nothing. New devices' secrets go to the credentials file (mode 0600).
   */
  async seed(options: { rotateMissing?: boolean } = {}): Promise<SeedResult> {
    const result = await withDetailsAtDebug(() => this.addMissing(options));
    this.logger.log(
      `sample county: ${result.towns} town(s), ${result.villages} village(s), ${result.devices} device(s) added` +
        (result.rotated ? `, ${result.rotated} secret(s) rotated` : '') +
        `; device credentials in ${result.credentialsFile}`,
    );
    if (result.missingSecrets.length > 0) {
      this.logger.warn(
        `${result.missingSecrets.length} sample device(s) have no secret in ${result.credentialsFile}; run "npm run seed -- --rotate-missing" to issue new ones`,
      );
    }
    return result;
  }

  private async addMissing(options: { rotateMissing?: boolean }): Promise<SeedResult> {
    const county = sampleCounty();
    const path = this.config.sampleCredentialsFile;
    const result: SeedResult = {
      towns: 0,
      villages: 0,
      devices: 0,
      rotated: 0,
      missingSecrets: [],
      credentialsFile: path,
    };

    const existingTowns = new Set(
      (await this.villages.listTowns({ limit: 500 })).items.map((t) => t.code),
    );
    if (OLD_SAMPLE_TOWNS.some((code) => existingTowns.has(code))) {
      // Adding the corrected county would put a second, identical-looking one beside it.
      throw new StartupError(
        'This database holds the sample county under its old code 610126 (towns 610126100…108); ' +
          'the seed would add a second copy under 611026. It keeps working as it is: leave it, ' +
          'or delete its villages and towns first to seed the corrected one.',
      );
    }
    for (const town of county.towns) {
      if (existingTowns.has(town.code)) continue;
      await this.villages.createTown(town);
      result.towns++;
    }
    const existingVillages = await this.villages.existingVillageCodes(
      county.villages.map((v) => v.code),
    );
    for (const village of county.villages) {
      if (existingVillages.has(village.code)) continue;
      await this.villages.create(village);
      result.villages++;
    }

    const known = new Map((await readCredentials(path)).map((c) => [c.id, c]));
    const credentials: DeviceCredential[] = [];
    const missing = county.devices.filter((d) => !known.has(d.id));
    for (let i = 0; i < missing.length; i += DEVICE_CONCURRENCY) {
      await Promise.all(
        missing.slice(i, i + DEVICE_CONCURRENCY).map(async (d) => {
          if (!(await this.devices.exists(d.id))) {
            const created = await this.devices.create({ ...d, enabled: true });
            credentials.push({
              id: d.id,
              secret: created.secret,
              villageCode: d.villageCode,
              type: d.type,
            });
            result.devices++;
          } else if (options.rotateMissing) {
            const rotated = await this.devices.rotateSecret(d.id);
            credentials.push({
              id: d.id,
              secret: rotated.secret,
              villageCode: d.villageCode,
              type: d.type,
            });
            result.rotated++;
          } else {
            result.missingSecrets.push(d.id);
          }
        }),
      );
    }
    if (credentials.length > 0) {
      for (const c of credentials) known.set(c.id, c);
      await writeCredentials(path, [...known.values()]);
    }
    if (!(await this.meta.get(CLIP_KEY))) await this.meta.set(CLIP_PENDING_KEY, 'true');
    await this.meta.set(SEEDED_KEY, this.clock.now().toISOString());
    return result;
  }
}
