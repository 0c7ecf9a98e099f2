// Platform metadata: /api/ai-account/orgs/{org}/platform-metadata/ (POST create 201, GET list, PUT
// update). `metadata.services` lists the tenant's LLM providers that have a credential, each with
// its `llm_options`; `active_llm`, `active_stt`, `active_tts` name providers that have one.
import type { FastifyInstance } from 'fastify';
import type { Core } from '../../domain/core.ts';
import type { CreateMetadataInput, PlatformMetadata, UpdateMetadataInput } from '../../domain/platform.ts';
import { Fields } from './body.ts';
import { tenantOf } from './tenant.ts';
import * as R from './responses.ts';
import { Type } from '@fastify/type-provider-typebox';

/** IBLAIPlatformMeta. */
const metaView = (m: PlatformMetadata) => ({ metadata: m });

const ACTIVE = ['active_llm', 'active_stt', 'active_tts'] as const;

export async function platformMetadataRoutes(app: FastifyInstance, opts: { core: Core }): Promise<void> {
  const { core } = opts;
  const path = '/orgs/:org/platform-metadata/';

  // create: body IBLAIPlatformMetaRequest `{data: {llms: {<provider>: {credential?, llm_options?}}, active_llm?, active_stt?, active_tts?}}`
  app.post(path, { schema: { response: { 201: R.PlatformMeta } } }, async (req, reply) => {
    const org = tenantOf(req);
    const f = new Fields(req.body);
    const data = f.object('data', { required: true });
    f.done();
    const d = new Fields(data ?? {});
    const llms = d.object('llms');
    const active: Partial<Record<(typeof ACTIVE)[number], string | null>> = {};
    for (const k of ACTIVE) {
      const v = d.string(k, { nullable: true });
      if (v !== undefined) active[k] = v;
    }
    if (Object.keys(d.errors).length) {
      // nested the way DRF nests a serializer field's errors
      f.errors.data = Object.entries(d.errors).flatMap(([k, msgs]) => msgs.map((m) => `${k}: ${m}`));
      f.done();
    }
    const input: CreateMetadataInput = { platform: org.slug, ...active };
    if (llms) input.llms = llms as CreateMetadataInput['llms'];
    const meta = await core.platform.createMetadata(req.actor, org.id, input);
    return reply.code(201).send(metaView(meta));
  });

  // list: the one metadata object of the tenant, in an array (what the generated client decodes)
  app.get(path, { schema: { response: { 200: Type.Array(R.PlatformMeta) } } }, async (req) => {
    const org = tenantOf(req);
    return [metaView(await core.platform.getMetadata(req.actor, org.id))];
  });

  // update: body IBLAIPlatformMetaUpdateRequest `{active_llm?, llms?}` (also active_stt, active_tts)
  app.put(path, { schema: { response: { 200: Type.Array(R.PlatformMeta) } } }, async (req) => {
    const org = tenantOf(req);
    const f = new Fields(req.body);
    const input: UpdateMetadataInput = {};
    for (const k of ACTIVE) {
      const v = f.string(k, { nullable: true });
      if (v !== undefined) input[k] = v;
    }
    const llms = f.stringList('llms');
    if (llms !== undefined) input.llms = llms;
    f.done();
    return [metaView(await core.platform.updateMetadata(req.actor, org.id, input))];
  });
}
