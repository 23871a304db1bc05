import 'reflect-metadata';
import { ConfigError, loadConfigFromProcess } from './config/app-config.js';
import { StartupError } from './common/startup-error.js';
import { RunningServer, startServer } from './server.js';

function banner(server: RunningServer, publicUrl: string): string {
  const lines = [
    `Dalaba is running on ${server.url} (devices use ${publicUrl})`,
    `  API documentation: ${server.url}/api/docs    health: ${server.url}/health/ready`,
    `  MQTT: ${server.mqtt}`,
    `  ffmpeg: ${server.ffmpeg}`,
  ];
  if (server.seeded) {
    lines.push(
      `  Seeded the SAMPLE county: ${server.seeded.villages} villages, ${server.seeded.devices} devices.`,
    );
  }
  if (server.generatedAdminToken) {
    lines.push(
      '',
      '  Admin API token (shown this once; store it now, it cannot be shown again):',
      `    ${server.generatedAdminToken}`,
      '  Send it as:  Authorization: Bearer <token>',
      '  More tokens: npm run cli -- tokens create --role viewer --name "…"',
    );
  }
  if (server.generatedAdminPassword) {
    lines.push(
      '',
      '  Dashboard sign-in (shown this once; you must choose a new password at first sign-in):',
      `    username: admin    one-time password: ${server.generatedAdminPassword}`,
      '  Lost it? On this machine: npm run cli -- users reset-password admin',
    );
  }
  const rule = '─'.repeat(78);
  return `${rule}\n${lines.join('\n')}\n${rule}\n`;
}

async function main(): Promise<void> {
  const config = loadConfigFromProcess();
  const server = await startServer(config);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${signal}: finishing requests and writes, then stopping\n`);
    const timer = setTimeout(() => {
      process.stderr.write(
        `shutdown took longer than ${config.shutdownTimeoutMs} ms; exiting anyway\n`,
      );
      process.exit(1);
    }, config.shutdownTimeoutMs);
    timer.unref();
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`shutdown failed: ${(err as Error).stack ?? String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Only now: whoever waits for the banner may signal us at once.
  process.stdout.write(banner(server, config.publicUrl));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof StartupError) {
    process.stderr.write(`Dalaba cannot start. ${err.message}\n`);
  } else {
    process.stderr.write(`Dalaba cannot start: ${(err as Error).stack ?? String(err)}\n`);
  }
  process.exit(1);
});
