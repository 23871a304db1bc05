import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { ALERT_CONTENT_TYPES } from './alerts/alerts.controller.js';
import { AppModule, AppModuleOptions, createAppLogger } from './app.module.js';
import { documentErrorCodes } from './common/api-errors.js';
import { httpLogging } from './common/logging.js';
import { jsonNestsDeeperThan, MAX_JSON_DEPTH } from './common/validation.js';
import type { AppConfig } from './config/app-config.js';
import { ERROR_CODES } from './error-codes.js';

export const API_DESCRIPTION = `Dalaba (大喇叭) coordinates emergency broadcasts to village loudspeakers.

Every route under /api needs \`Authorization: Bearer <token>\`. Roles: **viewer** reads, **operator** also
changes the registry (and later broadcasts), **admin** also manages tokens. A missing or wrong token gets 401,
a token whose role is too low gets 403. Lists answer \`{ items, total, limit, offset }\`. Errors answer
\`{ statusCode, error, message, details?, requestId }\`; validation errors list each field and rule in \`details\`.`;

/** Paths the API, media, health and metrics controllers own: never looked up as dashboard files. */
const NOT_DASHBOARD = /^\/(api|media|health|metrics)(\/|$)/;

/** The Nest application with everything HTTP: body limits, security headers, OpenAPI. */
export async function createHttpApp(
  config: AppConfig,
  options: AppModuleOptions = {},
): Promise<INestApplication> {
  const logger = createAppLogger(config, options);
  const root = AppModule.forRoot(config, logger, options);
  const nestOptions = {
    logger,
    bodyParser: false,
    // Throw start-up errors to the caller (which explains them) instead of exiting here.
    abortOnError: false,
    // Literal path segments before parameters, whatever the module order: `/api/clips/tts` is
    // the text-to-speech route, never the clip `:id` "tts".
    routeResolutionStrategy: 'specificity' as const,
  };
  const app = options.createApp
    ? await options.createApp(root, nestOptions)
    : await NestFactory.create<NestExpressApplication>(root, nestOptions);
  app.set('trust proxy', config.http.trustProxy);
  app.set('x-powered-by', false);
  // First, before body parsing: even a refused body gets a request id and a log line.
  app.use(httpLogging(logger.pino));
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          // Swagger UI needs inline styles; scripts stay same-origin only.
          'style-src': ["'self'", "'unsafe-inline'"],
          'img-src': ["'self'", 'data:'],
          // The dashboard plays a clip it fetched with the token, from a blob: URL.
          'media-src': ["'self'", 'blob:'],
          // Counties often serve over plain HTTP on their LAN: never rewrite requests to https.
          'upgrade-insecure-requests': null,
        },
      },
    }),
  );
  // The dashboard: static files, no token (every figure in it comes from the API, which needs one).
  // Only for paths no controller owns: serve-static stats a file for every request it sees, which
  // adds up when a whole fleet downloads a clip at once.
  const dashboard = express.static(config.http.dashboardDir, { index: 'index.html', maxAge: 0 });
  app.use((req: Request, res: Response, next: NextFunction) =>
    NOT_DASHBOARD.test(req.path) ? next() : dashboard(req, res, next),
  );
  // Not useBodyParser: its types reserve `verify`, which checks the nesting before JSON.parse.
  app.use(
    express.json({
      limit: config.http.bodyLimitBytes,
      verify: (_req, _res, body) => {
        if (jsonNestsDeeperThan(body, MAX_JSON_DEPTH))
          throw Object.assign(new Error('JSON nested too deep'), {
            status: 400,
            type: 'entity.too.deep',
          });
      },
    }),
  );
  // CAP alerts as bytes, on their route only: the intake checks the encoding and parses them
  // itself, safely (no DTD, no entities); a larger body is 413 before it is read.
  app.use('/api/alerts', express.raw({ type: ALERT_CONTENT_TYPES, limit: config.alerts.maxBytes }));
  // CSV as bytes: the import decodes them itself (the charset is often missing or wrong).
  app.useBodyParser('raw', {
    type: ['text/csv', 'text/plain'],
    limit: config.http.importLimitBytes,
  });

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Dalaba API')
      .setDescription(API_DESCRIPTION)
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An API token (dlb_…)' })
      .build(),
  );
  documentErrorCodes(document, ERROR_CODES);
  SwaggerModule.setup('api/docs', app, document, {
    jsonDocumentUrl: 'api/docs-json',
    customSiteTitle: 'Dalaba API',
  });
  return app;
}
