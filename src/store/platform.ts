/** Platforms as the OCI image-spec names them, and which one this machine is. */
import type { Platform } from '../oci/types.js';

/** GOARCH names for Node's process.arch values (the OCI spec uses GOARCH). */
const goArch: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips: 'mips',
  mipsel: 'mipsle',
};

/** This machine's platform, the default docker picks from a multi-platform index. */
export function hostPlatform(): Platform {
  const architecture = goArch[process.arch] ?? process.arch;
  const platform: Platform = { os: 'linux', architecture };
  if (architecture === 'arm64') platform.variant = 'v8';
  if (architecture === 'arm') {
    const version = (process.config.variables as Record<string, unknown>).arm_version;
    platform.variant = `v${typeof version === 'string' || typeof version === 'number' ? version : 7}`;
  }
  return platform;
}

/** "linux/arm64/v8". */
export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

/**
 * Whether an index entry's platform serves the wanted one. A missing variant
 * on either side matches, as containerd's matcher does for arm64 where v8 is
 * the only variant in practice.
 */
export function platformMatches(candidate: Platform | undefined, wanted: Platform): boolean {
  if (!candidate) return false;
  if (candidate.os !== wanted.os || candidate.architecture !== wanted.architecture) return false;
  return !candidate.variant || !wanted.variant || candidate.variant === wanted.variant;
}
