import { arch, endianness } from 'node:os';
import { NotFoundError, UsageError } from '../errors.js';
import type { Platform } from './types.js';

/** `os/arch[/variant]` as docker --platform takes it. */
export function parsePlatform(text: string): Platform {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((part) => !/^[a-z0-9][a-z0-9._-]*$/.test(part))) {
    throw new UsageError(`invalid platform '${text}' (expected os/arch[/variant], e.g. linux/amd64 or linux/arm/v7)`);
  }
  const platform: Platform = { os: parts[0]!, architecture: normaliseArch(parts[1]!) };
  if (parts[2]) platform.variant = parts[2];
  else if (platform.architecture === 'arm64') platform.variant = 'v8';
  return platform;
}

/**
 * Which platforms of an index a transfer takes: one (platform), every one
 * (all), or, given neither, the default of the caller (from a registry this
 * machine's). Both at once is refused: which should win would be a guess.
 */
export function platformChoice(platform: Platform | undefined, all: boolean | undefined): { platform?: Platform; allPlatforms?: true } {
  if (platform && all) throw new UsageError(`--platform ${formatPlatform(platform)} and --all-platforms: give one (one platform, or every platform of the index)`);
  return platform ? { platform } : all ? { allPlatforms: true } : {};
}

export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

/** This machine's platform, in OCI (GOARCH) names: what docker pulls and imports by default. */
export function hostPlatform(): Platform {
  const nodeArch = arch();
  const goArch: Record<string, string> = {
    x64: 'amd64',
    ia32: '386',
    arm64: 'arm64',
    arm: 'arm',
    ppc64: endianness() === 'LE' ? 'ppc64le' : 'ppc64',
    s390x: 's390x',
    riscv64: 'riscv64',
    loong64: 'loong64',
    mips: 'mips',
    mipsel: 'mipsle',
  };
  const platform: Platform = { os: 'linux', architecture: goArch[nodeArch] ?? nodeArch };
  if (platform.architecture === 'arm64') platform.variant = 'v8';
  if (platform.architecture === 'arm') {
    const version = (process.config.variables as Record<string, unknown>).arm_version;
    platform.variant = `v${typeof version === 'string' || typeof version === 'number' ? version : '7'}`;
  }
  return platform;
}

/** Whether an image of `candidate` satisfies a request for `wanted` (a missing variant matches any, as docker does). */
export function platformMatches(wanted: Platform, candidate: Platform | undefined): boolean {
  if (!candidate) return false;
  if (wanted.os !== candidate.os || normaliseArch(wanted.architecture) !== normaliseArch(candidate.architecture)) return false;
  if (!wanted.variant || !candidate.variant) return true;
  return wanted.variant === candidate.variant;
}

function normaliseArch(architecture: string): string {
  const aliases: Record<string, string> = { x86_64: 'amd64', 'x86-64': 'amd64', aarch64: 'arm64', i386: '386' };
  return aliases[architecture] ?? architecture;
}

/**
 * The one place a platform is chosen among an index's manifests (store,
 * layouts and archives, registries): the first that matches `wanted`, or the only one when
 * it does not say its platform. None: NotFoundError naming the platforms
 * there are, so the user can pick one with --platform.
 */
export function choosePlatform<T>(
  candidates: T[],
  wanted: Platform,
  platformOf: (candidate: T) => Platform | undefined,
  where: string,
  { hint = 'choose one with --platform', holder = 'the index' }: { hint?: string; holder?: string } = {},
): T {
  const chosen = candidates.find((candidate) => platformMatches(wanted, platformOf(candidate))) ?? (candidates.length === 1 && !platformOf(candidates[0]!) ? candidates[0] : undefined);
  if (chosen !== undefined) return chosen;
  const offered = [...new Set(candidates.map((candidate) => platformOf(candidate)).map((platform) => (platform ? formatPlatform(platform) : 'unknown')))];
  // A hostile index may list thousands: the message names the first few.
  const listed = offered.length > 12 ? `${offered.slice(0, 12).join(', ')} and ${offered.length - 12} more` : offered.join(', ');
  throw new NotFoundError(`${where}: no manifest for platform ${formatPlatform(wanted)} (${holder} has ${listed || 'none'}); ${hint}`);
}
