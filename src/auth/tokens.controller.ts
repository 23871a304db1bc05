import { Body, Controller, Delete, Get, Param, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { ApiErrors } from '../common/api-errors.js';
import { uuidParam } from '../common/validation.js';
import { Page } from '../common/pagination.js';
import { ApiTokensService } from './api-tokens.service.js';
import { CurrentPrincipal, Principal, RequireRole, TownScoped } from './auth.decorators.js';
import { OpenBeforePasswordChange } from './token.guard.js';
import {
  CreatedTokenDto,
  CreateTokenDto,
  ListTokensQuery,
  PrincipalDto,
  TokenDto,
  TokenPageDto,
} from './dto/token.dto.js';

@ApiTags('auth')
@ApiBearerAuth()
@Controller('api')
export class TokensController {
  constructor(private readonly tokens: ApiTokensService) {}

  @Get('me')
  @TownScoped()
  @OpenBeforePasswordChange()
  @ApiOperation({ summary: 'Who the presented token or session belongs to, and its role' })
  @ApiOkResponse({ type: PrincipalDto })
  @ApiErrors(401)
  me(@CurrentPrincipal() principal: Principal): PrincipalDto {
    return principal;
  }

  @Get('tokens')
  @RequireRole('admin')
  @ApiOperation({ summary: 'List API tokens (admin); the tokens themselves are never shown' })
  @ApiOkResponse({ type: TokenPageDto })
  @ApiErrors(400, 401, 403)
  list(@Query() query: ListTokensQuery): Promise<Page<TokenDto>> {
    return this.tokens.page(query);
  }

  @Post('tokens')
  @RequireRole('admin')
  @ApiOperation({ summary: 'Create an API token (admin); the token is in this response only' })
  @ApiCreatedResponse({ type: CreatedTokenDto })
  @ApiErrors(400, 401, 403)
  create(
    @Body() body: CreateTokenDto,
    @CurrentPrincipal() principal: Principal,
  ): Promise<CreatedTokenDto> {
    return this.tokens.create({
      name: body.name,
      role: body.role,
      createdBy: principal.name,
      ownerUserId: body.ownerUserId,
    });
  }

  @Delete('tokens/:id')
  @RequireRole('admin')
  @ApiOperation({ summary: 'Revoke an API token (admin); it stops working at once' })
  @ApiOkResponse({ type: TokenDto })
  @ApiErrors(400, 401, 403, 404)
  revoke(
    @Param('id', uuidParam()) id: string,
    @CurrentPrincipal() principal: Principal,
  ): Promise<TokenDto> {
    return this.tokens.revoke(id, principal.name);
  }
}
