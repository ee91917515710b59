/**
 * The part of `oidc-provider` (which ships no types) that the test identity provider uses. Loose where the
 * library's own objects pass through untouched.
 */
declare module "oidc-provider" {
  import type { IncomingMessage, ServerResponse } from "node:http";

  export interface ResourceServerInfo {
    readonly scope: string;
    readonly audience?: string;
    readonly accessTokenTTL?: number;
    readonly accessTokenFormat?: "jwt" | "opaque";
    readonly jwt?: { readonly sign?: { readonly alg: string } };
  }

  export interface OidcClient {
    readonly clientId: string;
    readonly scope?: string;
  }

  export interface OidcContext {
    readonly oidc: {
      readonly client?: OidcClient;
      readonly params: Record<string, unknown>;
      readonly session?: { readonly accountId?: string; grantIdFor(clientId: string): string | undefined };
      readonly result?: { readonly consent?: { readonly grantId?: string } };
      readonly provider: Provider;
    };
    body: unknown;
  }

  export interface AccessTokenInstance {
    resourceServer: unknown;
    readonly expiration: number;
    readonly scope?: string;
    save(): Promise<string>;
  }

  export interface GrantInstance {
    addOIDCScope(scope: string): void;
    addResourceScope(resource: string, scope: string): void;
    save(): Promise<string>;
  }

  export class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    readonly issuer: string;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    registerGrantType(name: string, handler: (ctx: OidcContext) => Promise<void>, params?: string[]): void;
    readonly AccessToken: new (
      fields: Record<string, unknown>,
    ) => AccessTokenInstance;
    readonly Grant: (new (fields: {
      accountId?: string;
      clientId: string;
    }) => GrantInstance) & {
      find(id: string): Promise<GrantInstance | undefined>;
    };
    readonly ResourceServer: new (
      identifier: string,
      info: ResourceServerInfo,
    ) => unknown;
  }

  export const errors: {
    readonly InvalidGrant: new (description: string) => Error;
    readonly InvalidRequest: new (description: string) => Error;
    readonly InvalidScope: new (description: string, scope?: string) => Error;
    readonly InvalidTarget: new (description: string) => Error;
  };

  export default Provider;
}
