import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { TownScoped } from '../auth/auth.decorators.js';
import { ApiErrors } from '../common/api-errors.js';
import { KeysDto, toKeysDto } from './dto/keys.dto.js';
import { ServerKeys } from './server-keys.js';

@ApiTags('keys')
@ApiBearerAuth()
@Controller('api/keys')
export class KeysController {
  constructor(
    private readonly keys: ServerKeys,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  @Get()
  // Public keys, the same for every town: nothing to filter.
  @TownScoped()
  @ApiOperation({
    summary: "The server's public signing keys (never a private key)",
    description:
      'What devices verify commands with and what a coverage certificate is checked with (docs/operations.md, "Command signing and keys"); the same as `npm run cli -- keys list --json`.',
  })
  @ApiOkResponse({ type: KeysDto })
  @ApiErrors(401)
  async list(): Promise<KeysDto> {
    return toKeysDto(await this.keys.list(), this.config.signing.mode);
  }
}
