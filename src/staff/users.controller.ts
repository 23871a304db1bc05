import { Body, Controller, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal, Principal, RequireRole } from '../auth/auth.decorators.js';
import { ApiErrors } from '../common/api-errors.js';
import { Page, PageQuery } from '../common/pagination.js';
import { uuidParam } from '../common/validation.js';
import {
  CreatedUserDto,
  CreateUserDto,
  OneTimePasswordDto,
  UpdateUserDto,
  UserDto,
  UserPageDto,
} from './dto/user.dto.js';
import { StaffService } from './staff.service.js';

@ApiTags('staff')
@ApiBearerAuth()
@RequireRole('admin')
@Controller('api/users')
export class UsersController {
  constructor(private readonly staff: StaffService) {}

  @Get()
  @ApiOperation({ summary: 'List staff accounts (admin); never their passwords' })
  @ApiOkResponse({ type: UserPageDto })
  @ApiErrors(400, 401, 403)
  list(@Query() query: PageQuery): Promise<Page<UserDto>> {
    return this.staff.page(query);
  }

  @Post()
  @ApiOperation({
    summary: 'Add a staff account (admin); its one-time password is in this response only',
  })
  @ApiCreatedResponse({ type: CreatedUserDto })
  @ApiErrors(400, 401, 403, 409)
  create(
    @Body() body: CreateUserDto,
    @CurrentPrincipal() principal: Principal,
  ): Promise<CreatedUserDto> {
    return this.staff.create(body, principal);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One staff account (admin)' })
  @ApiOkResponse({ type: UserDto })
  @ApiErrors(400, 401, 403, 404)
  get(@Param('id', uuidParam()) id: string): Promise<UserDto> {
    return this.staff.get(id);
  }

  @Patch(':id')
  @ApiOperation({
    summary: 'Change a staff account (admin); a new role, towns or disabling ends its sessions',
  })
  @ApiOkResponse({ type: UserDto })
  @ApiErrors(400, 401, 403, 404, 409)
  update(@Param('id', uuidParam()) id: string, @Body() body: UpdateUserDto): Promise<UserDto> {
    return this.staff.update(id, body);
  }

  @Post(':id/reset-password')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Give a staff account a new one-time password (admin); its sessions end',
  })
  @ApiOkResponse({ type: OneTimePasswordDto })
  @ApiErrors(400, 401, 403, 404)
  resetPassword(
    @Param('id', uuidParam()) id: string,
    @CurrentPrincipal() principal: Principal,
  ): Promise<OneTimePasswordDto> {
    return this.staff.resetPassword(id, principal);
  }

  @Post(':id/unlock')
  @HttpCode(200)
  @ApiOperation({ summary: 'Lift the wait after wrong passwords on a staff account (admin)' })
  @ApiOkResponse({ type: UserDto })
  @ApiErrors(400, 401, 403, 404)
  unlock(
    @Param('id', uuidParam()) id: string,
    @CurrentPrincipal() principal: Principal,
  ): Promise<UserDto> {
    return this.staff.unlock(id, principal);
  }
}
