// What every `keyplane` command shares: its settings as flags (config.ts SETTINGS) and a runtime
// opened for the command and closed after it.
import { Command, Option } from 'commander';
import { loadConfig, SETTINGS, type Config, type FlagValues } from '../config.ts';
import { openRuntime, type Runtime } from '../runtime.ts';

/** Adds the settings `keys` (default: every setting) as options of `cmd`. */
export function withSettings(cmd: Command, keys: (keyof Config)[] = Object.keys(SETTINGS) as (keyof Config)[]): Command {
  for (const k of keys) {
    const s = SETTINGS[k];
    cmd.addOption(new Option(`${s.flag} <value>`, `${s.describe} [env ${s.env}]`));
  }
  return cmd;
}

/** The settings of commands that only open the store. */
export const STORE_SETTINGS: (keyof Config)[] = ['dataDir', 'databaseUrl', 'masterKey', 'logLevel'];

export async function withRuntime<T>(flags: FlagValues, fn: (rt: Runtime) => Promise<T>): Promise<T> {
  const rt = await openRuntime(loadConfig(flags));
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}

/** `--help` ends with these examples (one command line each). */
export function examples(cmd: Command, lines: string[]): Command {
  return cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
}

/** Epoch ms as ISO 8601, null stays null. */
export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

export function printJson(v: unknown): void {
  process.stdout.write(JSON.stringify(v, null, 2) + '\n');
}
