// The gateway's view of provider credentials: resolved by the domain (tenant credential, platform
// default, free trial), cached there and invalidated on every node when anything they depend on changes.
export type { CredentialSource, ProviderSecret, ResolvedCredential } from '../domain/provider-credentials.ts';
