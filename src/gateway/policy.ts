// What the gateway enforces for a project (archived or not, each model's limits, its model, hosted
// tool and service tier settings), read through a
// one-second cache: one database read per project per second at most. A change of a project's limits
// or its archiving drops its entry at once, on every node (Core.changed: PostgreSQL NOTIFY); the TTL
// bounds what a lost notice could cost to a second.
import type { Core } from '../domain/core.ts';
import type { ModelLimits } from '../domain/model-catalog.ts';
import type { EnforcedSettings } from '../domain/project-settings.ts';
import type { LimitSet } from './limiter.ts';

export interface ProjectPolicy {
  archived: boolean;
  limits: Map<string, LimitSet>;
  /** Model, hosted tool and service tier permissions (src/gateway/project-settings.ts). */
  settings: EnforcedSettings;
}

const TTL_MS = 1000;

function limitSet(l: ModelLimits): LimitSet {
  return {
    requestsPerMinute: l.max_requests_per_1_minute,
    tokensPerMinute: l.max_tokens_per_1_minute,
    ...(l.max_requests_per_1_day !== undefined ? { requestsPerDay: l.max_requests_per_1_day } : {}),
    ...(l.max_images_per_1_minute !== undefined ? { imagesPerMinute: l.max_images_per_1_minute } : {}),
    ...(l.max_audio_megabytes_per_1_minute !== undefined ? { audioMegabytesPerMinute: l.max_audio_megabytes_per_1_minute } : {}),
  };
}

export class PolicyCache {
  private readonly entries = new Map<string, { at: number; value: Promise<ProjectPolicy | null> }>();
  /** Stops being dropped with the domain's caches (the server closes). */
  readonly dispose: () => void;

  constructor(
    private readonly core: Core,
    private readonly now: () => number,
  ) {
    // dropped with the domain's caches (a lost PostgreSQL listener, a CLI write to the SQLite file)
    this.dispose = core.onDropCaches((scope) => {
      if (!scope) this.entries.clear();
      else if ('projectId' in scope) this.entries.delete(scope.projectId);
      // an organization's settings are no part of a project's policy
    });
  }

  get(orgId: string, projectId: string): Promise<ProjectPolicy | null> {
    const now = this.now();
    const hit = this.entries.get(projectId);
    if (hit && now - hit.at < TTL_MS) return hit.value;
    const value = Promise.all([this.core.rateLimits.enforcedFor(orgId, projectId), this.core.projectSettings.enforcedFor(projectId)]).then(([p, settings]) =>
      p ? { archived: p.archived, limits: new Map([...p.limits].map(([m, l]) => [m, limitSet(l)])), settings } : null,
    );
    // a failed read is not cached
    value.catch(() => this.entries.delete(projectId));
    if (this.entries.size > 100_000) this.entries.clear();
    this.entries.set(projectId, { at: now, value });
    return value;
  }
}
