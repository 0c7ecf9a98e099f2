// The gateway's refusals in OpenAI's words (status, message, type, code as the real API sends them).
import { DomainError, rateLimited } from '../domain/errors.ts';
import type { RateLimitRefusal } from './limiter.ts';

/** 401 `missing_scope`, OpenAI's answer to a restricted key without the scope an endpoint needs. */
export const missingScope = (scope: string) =>
  new DomainError(
    'unauthenticated',
    `You have insufficient permissions for this operation. Missing scopes: ${scope}. Check that you have the correct role in your organization (Reader, Writer, Owner) and project (Member, Owner), and if you're using a restricted API key, that it has the necessary scopes.`,
    null,
    'missing_scope',
  );

export const modelNotFound = (model: string) =>
  new DomainError('not_found', `The model \`${model}\` does not exist or you do not have access to it.`, null, 'model_not_found');

export const noModel = () => new DomainError('invalid', 'You must provide a model parameter.', null, null);

export const badJson = () =>
  new DomainError(
    'invalid',
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
    null,
    null,
  );

const LIMIT_WORDS: Record<string, string> = {
  requests_per_minute: 'requests per min (RPM)',
  tokens_per_minute: 'tokens per min (TPM)',
  requests_per_day: 'requests per day (RPD)',
  images_per_minute: 'images per min (IPM)',
  audio_megabytes_per_minute: 'audio megabytes per min',
};

/** OpenAI's 429 for a project's limit, naming it: "Rate limit reached for gpt-4o in project … on requests per min (RPM): Limit 3, Used 3, Requested 1. …" */
export function limitReached(model: string, projectId: string, info: RateLimitRefusal): DomainError {
  const words = LIMIT_WORDS[info.limitName] ?? info.limitName;
  const wait = info.retryAfterSeconds >= 1 ? `${info.retryAfterSeconds}s` : '1s';
  const requested = info.requested;
  if (info.tooLarge) {
    return rateLimited({
      ...info,
      message: `Request too large for ${model} in project ${projectId} on ${words}: Limit ${info.limit}, Requested ${requested}. The input or output tokens must be reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more.`,
    });
  }
  return rateLimited({
    ...info,
    message: `Rate limit reached for ${model} in project ${projectId} on ${words}: Limit ${info.limit}, Used ${Math.max(0, info.limit - info.remaining)}, Requested ${requested}. Please try again in ${wait}. Visit https://platform.openai.com/account/rate-limits to learn more.`,
  });
}

/** The `type` OpenAI's 429 body carries: `requests` or `tokens` (other limits: `requests`). */
export const limitType = (limitName: string): string => (limitName.startsWith('tokens') ? 'tokens' : 'requests');
