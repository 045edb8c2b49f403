/**
 * SPDX 2.3 JSON (spdx.github.io/spdx-spec/v2.3): the subject (the image, or
 * the tree) as the described package, the operating system and each
 * installed package as packages it CONTAINS. A license is carried as the
 * database spells it, as a LicenseRef with the text in
 * hasExtractedLicensingInfos: rpm's "GPLv2+" is no SPDX expression, and we do
 * not guess one.
 */
import { contentUuid, isoTime, shortHash, type SbomOptions, type SbomSubject } from './identity.js';
import { imageUrl, packageUrl } from './purl.js';
import type { Inventory } from './types.js';


export function spdxDocument(inventory: Inventory, subject: SbomSubject, options: SbomOptions): object {
  const licenses = new Map<string, string>();
  const licenseRef = (text: string): string => {
    let id = licenses.get(text);
    if (!id) {
      id = `LicenseRef-${idPart(text)}-${shortHash(text).slice(0, 6)}`;
      licenses.set(text, id);
    }
    return id;
  };
  const subjectId = 'SPDXRef-Subject';
  const packages: object[] = [
    {
      name: subject.name,
      SPDXID: subjectId,
      ...(subject.digest ? { versionInfo: subject.digest } : {}),
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      ...(subject.digest
        ? {
            checksums: [{ algorithm: 'SHA256', checksumValue: subject.digest.replace(/^sha256:/, '') }],
            externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: imageUrl(subject.name, subject.digest) }],
          }
        : {}),
      primaryPackagePurpose: subject.digest ? 'CONTAINER' : 'OTHER',
    },
  ];
  const relationships: object[] = [{ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: subjectId }];
  const { os } = inventory;
  if (os) {
    packages.push({
      name: os.id,
      SPDXID: 'SPDXRef-OperatingSystem',
      ...(os.versionId ? { versionInfo: os.versionId } : {}),
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      ...(os.prettyName ? { description: os.prettyName } : {}),
      primaryPackagePurpose: 'OPERATING_SYSTEM',
    });
    relationships.push({ spdxElementId: subjectId, relationshipType: 'CONTAINS', relatedSpdxElement: 'SPDXRef-OperatingSystem' });
  }
  const seen = new Set<string>();
  for (const pkg of inventory.packages) {
    const id = `SPDXRef-Package-${pkg.kind}-${idPart(pkg.name)}-${shortHash(`${pkg.kind} ${pkg.name} ${pkg.version} ${pkg.arch ?? ''}`)}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const license = pkg.license ? licenseRef(pkg.license) : 'NOASSERTION';
    packages.push({
      name: pkg.name,
      SPDXID: id,
      versionInfo: pkg.version,
      supplier: 'NOASSERTION',
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: license,
      copyrightText: 'NOASSERTION',
      ...(pkg.source ? { sourceInfo: `built from the ${pkg.kind} source package ${pkg.source}` } : {}),
      externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: packageUrl(pkg, os) }],
    });
    relationships.push({ spdxElementId: subjectId, relationshipType: 'CONTAINS', relatedSpdxElement: id });
  }
  const extracted = [...licenses].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([text, id]) => ({ licenseId: id, extractedText: text, name: text }));
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: subject.name,
    documentNamespace: `urn:uuid:${contentUuid(subject, inventory)}`,
    creationInfo: { created: isoTime(options.created), creators: [`Tool: rootfs-${options.toolVersion}`] },
    documentDescribes: [subjectId],
    packages,
    relationships,
    ...(extracted.length > 0 ? { hasExtractedLicensingInfos: extracted } : {}),
  };
}

/** What an SPDX identifier may hold (letters, digits, '.', '-'); anything else becomes '-'. */
function idPart(text: string): string {
  return text.replace(/[^A-Za-z0-9.-]+/g, '-').slice(0, 64) || 'x';
}
