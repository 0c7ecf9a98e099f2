// Response schemas of the ibl.ai face: what each route may send (2xx). Fastify serializes answers
// with them, so a field no schema names never leaves; they also make /openapi/iblai.json.
import { Type } from '@fastify/type-provider-typebox';

const Str = Type.String();

/** LLMCredentialResponse / IntegrationCredential: `value` masked. */
export const Credential = Type.Object({
  name: Str,
  value: Type.Unknown({ description: 'The credential, its secrets masked.' }),
  platform: Str,
  service_info: Type.Object({ id: Type.Integer(), name: Str, display_name: Str, logo: Type.Union([Str, Type.Null()]) }),
});
/** GET: the list, or one credential with `?name=`. */
export const CredentialOrList = Type.Union([Type.Array(Credential), Credential]);

/** IBLAIPlatformMeta: `metadata` is free-form (services, llm options, active providers). */
export const PlatformMeta = Type.Object({ metadata: Type.Object({}, { additionalProperties: true }) });

export const Message = Type.Object({ message: Str });

export const DailyTokens = Type.Array(Type.Object({ date: Str, prompt_tokens: Type.Integer(), completion_tokens: Type.Integer() }));

export const NoContent = Type.Unsafe<undefined>({ type: 'null', description: 'No content.' });
