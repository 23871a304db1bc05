import { Controller, Get, Header } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Public } from '../auth/auth.decorators.js';

const PAGE = `<!doctype html>
<html lang="zh-CN">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>大喇叭 Dalaba</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem">
<h1>大喇叭 Dalaba</h1>
<p>应急广播调度服务正在运行。The emergency-broadcast coordination server is running.</p>
<ul>
<li><a href="/api/docs">API 文档 / API documentation</a></li>
<li><a href="/health/ready">健康检查 / Readiness</a></li>
</ul>
</body></html>`;

/** The landing page; the staff dashboard replaces it. */
@ApiExcludeController()
@Public()
@Controller()
export class DashboardController {
  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  index(): string {
    return PAGE;
  }
}
