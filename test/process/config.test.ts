// Settings: an invalid one stops `keyplane serve` before it touches anything, with one stderr line
// that names the setting and never echoes a secret; plus loadConfig's defaults and precedence.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { tmpDir } from '../helpers/db.ts';
import { killAll, runKeyplane, stderrLines } from './spawn.ts';

after(killAll);

interface BadSetting {
  title: string;
  setting: string;
  env?: Record<string, string>;
  args?: string[];
  /** Text that must appear nowhere in the output (a secret). */
  secret?: string;
}

const bad: BadSetting[] = [
  { title: 'PORT=abc', setting: 'PORT', env: { PORT: 'abc' } },
  { title: 'PORT=70000', setting: 'PORT', env: { PORT: '70000' } },
  { title: '--port abc', setting: 'PORT', args: ['--port', 'abc'] },
  { title: 'LOG_LEVEL=loud', setting: 'LOG_LEVEL', env: { LOG_LEVEL: 'loud', PORT: '0' } },
  { title: 'KEYPLANE_ROLE=worker', setting: 'KEYPLANE_ROLE', env: { KEYPLANE_ROLE: 'worker', PORT: '0' } },
  { title: '--role both', setting: 'KEYPLANE_ROLE', args: ['--role', 'both', '--port', '0'] },
  { title: 'DATABASE_URL=mysql://x', setting: 'DATABASE_URL', env: { DATABASE_URL: 'mysql://x', PORT: '0' } },
  { title: 'DATABASE_URL with a password', setting: 'DATABASE_URL', env: { DATABASE_URL: 'mysql://u:hunter2@h/x', PORT: '0' }, secret: 'hunter2' },
  { title: 'REDIS_URL with a password, not a redis URL', setting: 'REDIS_URL', env: { REDIS_URL: 'http://u:hunter2@h:6379', PORT: '0' }, secret: 'hunter2' },
  { title: 'KEYPLANE_ALLOWED_ORIGINS with a path', setting: 'KEYPLANE_ALLOWED_ORIGINS', env: { KEYPLANE_ALLOWED_ORIGINS: 'https://console.example.com/app', PORT: '0' } },
  { title: 'KEYPLANE_MASTER_KEY=short', setting: 'KEYPLANE_MASTER_KEY', env: { KEYPLANE_MASTER_KEY: 'short', PORT: '0' }, secret: 'short' },
  { title: 'KEYPLANE_ROOT_KEY=short', setting: 'KEYPLANE_ROOT_KEY', env: { KEYPLANE_ROOT_KEY: 'short', PORT: '0' }, secret: 'short' },
  { title: 'KEYPLANE_METRICS_TOKEN=short', setting: 'KEYPLANE_METRICS_TOKEN', env: { KEYPLANE_METRICS_TOKEN: 'metrics-short', PORT: '0' }, secret: 'metrics-short' },
  { title: 'KEYPLANE_METRICS_PORT=99999', setting: 'KEYPLANE_METRICS_PORT', env: { KEYPLANE_METRICS_PORT: '99999', PORT: '0' } },
  { title: 'KEYPLANE_ACCESS_LOG=maybe', setting: 'KEYPLANE_ACCESS_LOG', env: { KEYPLANE_ACCESS_LOG: 'maybe', PORT: '0' } },
  { title: '--access-log-sample 1.5', setting: 'KEYPLANE_ACCESS_LOG_SAMPLE', args: ['--access-log-sample', '1.5', '--port', '0'] },
];

describe('an invalid setting stops `keyplane serve` with one line naming it', { concurrency: 2 }, () => {
  for (const b of bad) {
    test(b.title, async () => {
      // run in an empty directory: the default data dir (./data) must not appear
      const cwd = tmpDir('kp-config');
      try {
        const r = await runKeyplane(['serve', ...(b.args ?? [])], { cwd, env: b.env ?? {} });
        assert.notEqual(r.code, 0, `exits non-zero\n${r.stdout}\n${r.stderr}`);
        assert.equal(r.signal, null);
        const lines = stderrLines(r.stderr);
        assert.equal(lines.length, 1, `exactly one stderr line, got ${JSON.stringify(r.stderr)}`);
        assert.ok(lines[0]!.trim().length > 0);
        assert.ok(lines[0]!.includes(b.setting), `names ${b.setting}: ${lines[0]}`);
        assert.ok(!r.stdout.includes('Server listening'), 'never listened');
        if (b.secret) {
          assert.ok(!r.stderr.includes(b.secret) && !r.stdout.includes(b.secret), `does not echo ${JSON.stringify(b.secret)}: ${lines[0]}`);
        }
        assert.deepEqual(fs.readdirSync(cwd), [], 'nothing was created');
      } finally {
        fs.rmSync(cwd, { recursive: true, force: true });
      }
    });
  }
});

describe('loadConfig', () => {
  test('defaults', () => {
    const c = loadConfig({}, {});
    assert.equal(c.port, 8080);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.dataDir, path.resolve('data'));
    assert.equal(c.logLevel, 'info');
    assert.equal(c.role, 'all');
    assert.equal(c.databaseUrl, undefined);
    assert.equal(c.masterKey, undefined);
    assert.equal(c.rootKey, undefined);
    assert.equal(c.bootstrapAdminKey, undefined);
  });

  test('environment variables are read; flags win over them', () => {
    const env = { PORT: '7000', LOG_LEVEL: 'warn', KEYPLANE_DATA_DIR: '/srv/env-data', HOST: '0.0.0.0' };
    const fromEnv = loadConfig({}, env);
    assert.equal(fromEnv.port, 7000);
    assert.equal(fromEnv.logLevel, 'warn');
    assert.equal(fromEnv.dataDir, '/srv/env-data');
    assert.equal(fromEnv.host, '0.0.0.0');

    const c = loadConfig({ port: '9000', logLevel: 'debug', dataDir: '/srv/flag-data' }, env);
    assert.equal(c.port, 9000);
    assert.equal(c.logLevel, 'debug');
    assert.equal(c.dataDir, '/srv/flag-data');
    assert.equal(c.host, '0.0.0.0', 'an env setting without a flag still applies');

    // a valid flag overrides an invalid environment value instead of failing on it
    assert.equal(loadConfig({ port: '9001' }, { PORT: 'abc' }).port, 9001);
    // and an invalid flag fails even when the environment is valid
    assert.throws(() => loadConfig({ port: 'abc' }, { PORT: '7000' }), (e: unknown) => e instanceof ConfigError && /PORT/.test(e.message));
  });

  test('free-trial days: 0 (no time limit) by default, from the environment or the flag, a whole number of days', () => {
    assert.equal(loadConfig({}, {}).freeTrialDays, 0);
    assert.equal(loadConfig({}, { KEYPLANE_FREE_TRIAL_DAYS: '14' }).freeTrialDays, 14);
    assert.equal(loadConfig({ freeTrialDays: '30' }, { KEYPLANE_FREE_TRIAL_DAYS: '14' }).freeTrialDays, 30);
    for (const bad of ['-1', '1.5', 'two', '100001']) {
      assert.throws(() => loadConfig({}, { KEYPLANE_FREE_TRIAL_DAYS: bad }), (e: unknown) => e instanceof ConfigError && e.message.includes('KEYPLANE_FREE_TRIAL_DAYS') && e.message.includes('--free-trial-days'), bad);
    }
  });

  test('REDIS_URL: unset by default (limits in memory), redis:// or rediss:// from the environment or the flag, never echoed', () => {
    assert.equal(loadConfig({}, {}).redisUrl, undefined);
    assert.equal(loadConfig({}, { REDIS_URL: 'redis://127.0.0.1:6379' }).redisUrl, 'redis://127.0.0.1:6379');
    assert.equal(loadConfig({ redisUrl: 'rediss://:pw@cache:6380/2' }, { REDIS_URL: 'redis://x' }).redisUrl, 'rediss://:pw@cache:6380/2');
    for (const bad of ['127.0.0.1:6379', 'postgres://u:hunter2@h/x', 'redis://']) {
      assert.throws(
        () => loadConfig({}, { REDIS_URL: bad }),
        (e: unknown) => e instanceof ConfigError && e.message.includes('REDIS_URL') && e.message.includes('--redis-url') && !e.message.includes('hunter2'),
        bad,
      );
    }
  });

  test('KEYPLANE_ALLOWED_ORIGINS: none by default, comma-separated http(s) origins, normalized; the flag wins', () => {
    assert.deepEqual(loadConfig({}, {}).allowedOrigins, []);
    assert.deepEqual(
      loadConfig({}, { KEYPLANE_ALLOWED_ORIGINS: 'https://Console.Example.com, http://localhost:3000 ,https://a.example:443/,' }).allowedOrigins,
      ['https://console.example.com', 'http://localhost:3000', 'https://a.example'],
    );
    assert.deepEqual(loadConfig({ allowedOrigins: 'https://b.example' }, { KEYPLANE_ALLOWED_ORIGINS: 'https://a.example' }).allowedOrigins, ['https://b.example']);
    for (const bad of ['console.example.com', 'ftp://x.example', 'https://x.example/app', 'https://x.example?q=1', 'https://u:p@x.example', 'null', '*']) {
      assert.throws(
        () => loadConfig({}, { KEYPLANE_ALLOWED_ORIGINS: `https://ok.example,${bad}` }),
        (e: unknown) => e instanceof ConfigError && e.message.includes('KEYPLANE_ALLOWED_ORIGINS') && e.message.includes('--allowed-origins'),
        bad,
      );
    }
  });

  test('metrics: off by default; token, port and host from the environment or the flags', () => {
    const d = loadConfig({}, {});
    assert.deepEqual([d.metricsToken, d.metricsPort, d.metricsHost], [undefined, undefined, undefined]);
    const token = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718';
    const c = loadConfig({ metricsPort: '9464' }, { KEYPLANE_METRICS_TOKEN: token, KEYPLANE_METRICS_PORT: '9100', KEYPLANE_METRICS_HOST: '10.0.0.5' });
    assert.deepEqual([c.metricsToken, c.metricsPort, c.metricsHost], [token, 9464, '10.0.0.5']);
    assert.equal(loadConfig({}, { KEYPLANE_METRICS_PORT: '0' }).metricsPort, 0);
    for (const bad of ['x'.repeat(40), 'short', `${token} x`]) {
      assert.throws(() => loadConfig({}, { KEYPLANE_METRICS_TOKEN: bad }), (e: unknown) => e instanceof ConfigError && e.message.includes('KEYPLANE_METRICS_TOKEN') && !e.message.includes(bad));
    }
    assert.throws(() => loadConfig({}, { KEYPLANE_METRICS_HOST: 'a b' }), (e: unknown) => e instanceof ConfigError && e.message.includes('KEYPLANE_METRICS_HOST'));
  });

  test('access log: on, every request, by default; on/off and a sample from 0 to 1', () => {
    const d = loadConfig({}, {});
    assert.deepEqual([d.accessLog, d.accessLogSample], [true, 1]);
    assert.equal(loadConfig({}, { KEYPLANE_ACCESS_LOG: 'off' }).accessLog, false);
    assert.equal(loadConfig({ accessLog: 'ON' }, { KEYPLANE_ACCESS_LOG: 'off' }).accessLog, true);
    for (const [text, v] of [['0', 0], ['0.25', 0.25], ['.5', 0.5], ['1', 1], ['1.0', 1]] as const) assert.equal(loadConfig({}, { KEYPLANE_ACCESS_LOG_SAMPLE: text }).accessLogSample, v);
    for (const bad of ['-0.1', '1.01', '2', 'half', '1e-3', 'NaN']) {
      assert.throws(() => loadConfig({}, { KEYPLANE_ACCESS_LOG_SAMPLE: bad }), (e: unknown) => e instanceof ConfigError && e.message.includes('KEYPLANE_ACCESS_LOG_SAMPLE'), bad);
    }
    assert.throws(() => loadConfig({}, { KEYPLANE_ACCESS_LOG: 'sometimes' }), (e: unknown) => e instanceof ConfigError && e.message.includes('KEYPLANE_ACCESS_LOG'));
  });

  test('a relative data dir resolves against the working directory', () => {
    assert.equal(loadConfig({ dataDir: 'x/y' }, {}, '/opt/kp').dataDir, '/opt/kp/x/y');
  });

  test('a 64-hex master key parses to its 32 bytes', () => {
    const hex = crypto.randomBytes(32).toString('hex');
    const c = loadConfig({}, { KEYPLANE_MASTER_KEY: hex });
    assert.ok(Buffer.isBuffer(c.masterKey));
    assert.equal(c.masterKey!.length, 32);
    assert.deepEqual(c.masterKey, Buffer.from(hex, 'hex'));
    const b64 = Buffer.from(hex, 'hex').toString('base64');
    assert.deepEqual(loadConfig({ masterKey: b64 }, {}).masterKey, Buffer.from(hex, 'hex'), 'base64 is accepted too');
  });

  test('errors are ConfigErrors naming the env variable and flag', () => {
    assert.throws(
      () => loadConfig({}, { DATABASE_URL: 'mysql://u:hunter2@h/x' }),
      (e: unknown) => e instanceof ConfigError && e.message.includes('DATABASE_URL') && e.message.includes('--database-url') && !e.message.includes('hunter2'),
    );
    assert.throws(() => loadConfig({}, { LOG_LEVEL: 'loud' }), (e: unknown) => e instanceof ConfigError && e.message.includes('LOG_LEVEL'));
  });

  test('KEYPLANE_ROLE: all, admin or gateway (any case); the flag wins over the environment', () => {
    assert.equal(loadConfig({}, { KEYPLANE_ROLE: 'gateway' }).role, 'gateway');
    assert.equal(loadConfig({}, { KEYPLANE_ROLE: 'Admin' }).role, 'admin');
    assert.equal(loadConfig({ role: 'all' }, { KEYPLANE_ROLE: 'gateway' }).role, 'all');
    assert.equal(loadConfig({}, { KEYPLANE_ROLE: '' }).role, 'all', 'empty is unset');
    assert.throws(
      () => loadConfig({}, { KEYPLANE_ROLE: 'worker' }),
      (e: unknown) => e instanceof ConfigError && e.message === 'invalid setting KEYPLANE_ROLE (--role): must be one of all, admin, gateway, got "worker"',
    );
  });
});
