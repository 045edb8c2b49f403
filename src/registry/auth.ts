/**
 * Registry authentication as docker does it: requests go out anonymous until
 * a 401 names the scheme in WWW-Authenticate. Basic sends the stored
 * credentials with every request; Bearer trades them (or nothing, for
 * anonymous pulls) at the challenge's realm for a token per scope, cached
 * until it expires (distribution's token spec).
 */
import type { Credentials } from './credentials.js';

export interface Challenge {
  scheme: string; // lower case: "basic", "bearer"
  params: Record<string, string>;
}

/** Parses a WWW-Authenticate header: `Bearer realm="…",service="…",scope="…"` (one or more challenges). */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  const pattern = /\s*(?:([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))|([A-Za-z][\w-]*))\s*,?/gy;
  let current: Challenge | undefined;
  for (let match = pattern.exec(header); match && match[0] !== ''; match = pattern.exec(header)) {
    const [, key, quoted, bare, scheme] = match;
    if (scheme !== undefined) {
      current = { scheme: scheme.toLowerCase(), params: {} };
      challenges.push(current);
    } else if (key !== undefined && current) {
      current.params[key.toLowerCase()] = quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : bare ?? '';
    }
  }
  return challenges;
}

function basicAuthorization(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

/** A bearer token and how long it lasts, in seconds. */
export interface Token {
  value: string;
  lifetime: number;
}

/**
 * A token endpoint's JSON answer (docker's `token`, OAuth's `access_token`;
 * `expires_in` seconds, default 60 as the spec says) as a Token; undefined
 * when it holds none that could go into an Authorization header.
 */
export function tokenFrom(answer: unknown): Token | undefined {
  if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) return undefined;
  const { token, access_token: accessToken, expires_in: expiresIn } = answer as Record<string, unknown>;
  const value = typeof token === 'string' && token !== '' ? token : accessToken;
  if (typeof value !== 'string' || !/^[\x21-\x7e]{1,16384}$/.test(value)) return undefined;
  // Past a day, a lifetime is a registry's mistake; the token is asked for again by then.
  return { value, lifetime: typeof expiresIn === 'number' && Number.isFinite(expiresIn) ? Math.min(expiresIn, 86_400) : 60 };
}

/** Fetches a bearer token from realm (with the query parameters) and resolves to it, or throws the client's error. */
export type TokenFetcher = (realm: string, query: Array<[string, string]>, authorization: string | undefined) => Promise<Token>;

/** Renew tokens this long before they expire, so that one does not lapse mid-request. */
const expiryMarginMs = 10_000;

export class Authenticator {
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, { value: string; expires: number }>();

  constructor(readonly credentials: Credentials | undefined, private readonly fetchToken: TokenFetcher) {}

  /** The Authorization header for a request needing scopes, once the scheme is known. */
  async authorization(scopes: string[]): Promise<string | undefined> {
    const challenge = this.challenge;
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') return this.credentials ? basicAuthorization(this.credentials) : undefined;
    if (challenge.scheme !== 'bearer' || !challenge.params.realm) return undefined;
    const key = [...scopes].sort().join(' ');
    const cached = this.tokens.get(key);
    if (cached && cached.expires > Date.now()) return `Bearer ${cached.value}`;
    const query: Array<[string, string]> = [...(challenge.params.service ? [['service', challenge.params.service] as [string, string]] : []), ...scopes.map((scope): [string, string] => ['scope', scope])];
    const { value, lifetime } = await this.fetchToken(challenge.params.realm, query, this.credentials ? basicAuthorization(this.credentials) : undefined);
    this.tokens.set(key, { value, expires: Date.now() + Math.max(lifetime, 60) * 1000 - expiryMarginMs });
    return `Bearer ${value}`;
  }

  /**
   * Takes in a 401's WWW-Authenticate. True when a retry can succeed: the
   * scheme was new to us, or a bearer token for these scopes was stale.
   */
  learn(header: string | undefined, scopes: string[]): boolean {
    const challenge = parseChallenges(header ?? '').find((candidate) => candidate.scheme === 'bearer' || candidate.scheme === 'basic');
    if (!challenge) return false;
    const previous = this.challenge;
    this.challenge = challenge;
    if (!previous || previous.scheme !== challenge.scheme || previous.params.realm !== challenge.params.realm) return challenge.scheme === 'bearer' || this.credentials !== undefined;
    if (challenge.scheme === 'bearer') return this.tokens.delete([...scopes].sort().join(' '));
    return false;
  }
}
