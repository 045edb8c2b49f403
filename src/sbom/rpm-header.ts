/**
 * An rpm header blob as the rpmdb stores it (all three containers hold the
 * same thing): big-endian index count and data length, 16-byte index entries
 * (tag, type, offset, count), then the data store. We read the few tags an
 * SBOM needs; every offset is checked against the blob.
 */
import type { InstalledPackage } from './types.js';

const TAG = { name: 1000, version: 1001, release: 1002, epoch: 1003, license: 1014, arch: 1022, sourceRpm: 1044 } as const;
const TYPE_INT32 = 4;
const TYPE_STRING = 6;
const TYPE_I18NSTRING = 9;
/** rpm's own limits (lib/header.c: hdrchkTags, hdrchkData). */
const maxTags = 0xffff;
const maxData = 256 << 20;

/** The package a header describes; a header that is not one throws an Error saying why. */
export function parseRpmHeader(blob: Buffer): InstalledPackage {
  if (blob.length < 8) throw new Error(`a header of ${blob.length} bytes is too short`);
  const count = blob.readUInt32BE(0);
  const dataLength = blob.readUInt32BE(4);
  if (count > maxTags || dataLength > maxData) throw new Error(`a header claims ${count} tags and ${dataLength} bytes of data`);
  const dataStart = 8 + count * 16;
  if (dataStart + dataLength > blob.length) throw new Error(`a header claims ${dataStart + dataLength} bytes and has ${blob.length}`);
  const data = blob.subarray(dataStart, dataStart + dataLength);
  const strings = new Map<number, string>();
  let epoch: number | undefined;
  for (let i = 0; i < count; i++) {
    const at = 8 + i * 16;
    const tag = blob.readUInt32BE(at);
    const type = blob.readUInt32BE(at + 4);
    const offset = blob.readUInt32BE(at + 8);
    if (offset >= data.length) continue;
    if (tag === TAG.epoch && type === TYPE_INT32 && offset + 4 <= data.length) epoch = data.readUInt32BE(offset);
    else if (Object.values(TAG).includes(tag as never) && (type === TYPE_STRING || type === TYPE_I18NSTRING)) {
      const end = data.indexOf(0, offset);
      if (end < 0) throw new Error(`tag ${tag}'s string is not terminated`);
      strings.set(tag, data.toString('utf8', offset, end));
    }
  }
  const name = strings.get(TAG.name);
  const version = strings.get(TAG.version);
  const release = strings.get(TAG.release);
  if (!name || version === undefined || release === undefined) throw new Error('a header without a name, version or release');
  const pkg: InstalledPackage = { kind: 'rpm', name, version: `${epoch === undefined ? '' : `${epoch}:`}${version}-${release}` };
  if (epoch !== undefined) pkg.epoch = epoch;
  const arch = strings.get(TAG.arch);
  if (arch) pkg.arch = arch;
  const license = strings.get(TAG.license);
  if (license) pkg.license = license;
  const sourceRpm = strings.get(TAG.sourceRpm);
  if (sourceRpm) pkg.source = sourceName(sourceRpm);
  return pkg;
}

/** "bash-4.2.46-34.el7.src.rpm" → "bash": the name is what is left after the last two dashes. */
function sourceName(file: string): string {
  const parts = file.replace(/\.(no)?src\.rpm$/, '').split('-');
  return parts.length > 2 ? parts.slice(0, -2).join('-') : file;
}

/** rpm keeps headers up to 256 MB; we take up to this much of one, to keep memory bounded per package. */
export const maxHeaderBytes = 32 << 20;
