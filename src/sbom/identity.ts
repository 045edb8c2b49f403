/**
 * What makes an SBOM deterministic: its serial number (CycloneDX) and
 * namespace (SPDX) come from a hash of its content, not from a random UUID,
 * and its time is given by the caller (SOURCE_DATE_EPOCH, or the image's own
 * creation time), so the same tree gives the same bytes.
 */
import { createHash } from 'node:crypto';
import type { Inventory } from './types.js';

/** What an SBOM describes: an image (by its manifest digest) or a tree (a directory or a tarball). */
export interface SbomSubject {
  /** The name the user gave: a reference, a path. */
  name: string;
  /** sha256:… of the image's manifest; absent for a tree. */
  digest?: string;
}

export interface SbomOptions {
  created: Date;
  /** rootfs's version, for the document's creator. */
  toolVersion: string;
}

/** A name-based UUID (RFC 4122 version 5, SHA-1) of the subject and the inventory. */
export function contentUuid(subject: SbomSubject, inventory: Inventory): string {
  const content = JSON.stringify({ subject: subject.digest ?? subject.name, os: inventory.os, packages: inventory.packages });
  const bytes = createHash('sha1').update(namespace).update(content).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** RFC 4122's URL namespace: the name hashed is ours, the namespace only keeps it apart from other names. */
const namespace = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex');

/** A short, stable tag of a text, for identifiers that must be unique where names are not (libc6 for two architectures). */
export function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

/** An ISO 8601 time without milliseconds, as both formats' examples write it. */
export function isoTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
